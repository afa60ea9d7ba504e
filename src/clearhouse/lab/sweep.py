"""Parameter sweeps: many scenario variants × many seeds, aggregated per point, with a risk frontier.

A sweep file (TOML) says explicitly what it is:

- ``kind = "grid"``: the Cartesian product of parameter lists addressed by dotted paths into the
  scenario, ``"markets.ETH-PERP.maintenance_margin" = [0.03, 0.05]`` under ``[grid]``;
- ``kind = "list"``: named points under ``[[points]]``, each a set of overrides and/or its own
  scenario (built-in name or file, relative to the sweep file).

Every point runs the same seeds (common random numbers: differences between points are the
parameters', not the noise's). All ``points × paths`` tasks go through one executor
(:mod:`clearhouse.lab.executors`), batched; only per-path summaries come back. Each point is then
aggregated (:func:`clearhouse.lab.metrics.aggregate`: bad-debt mean / VaR, LaR, …, plus the mean
capital efficiency over its paths) and the Pareto frontier of risk (default: mean bad debt, lower is
better) against capital efficiency (default: allowed leverage, higher is better) is marked.

Everything is validated before anything runs: the sweep's own fields and every point's scenario;
errors are :class:`SweepError` naming the sweep file and the field, e.g.
``sweep.toml: grid."markets.ETH-PERP.maintenance_margin"[1] (= 0.2): black_thursday.toml:
markets.ETH-PERP.maintenance_margin must be < initial_margin (0.1), got 0.2``.
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from clearhouse.lab.metrics import DEFAULT_QUANTILES, aggregate
from clearhouse.lab.runner import Executor, PathOutcome, PathTask, run_task
from clearhouse.lab.scenario import ScenarioError, builtin_names, load_scenario, read_table

#: Capital-efficiency keys of a path summary usable as the frontier's x axis.
EFFICIENCY_KEYS = ("allowed_leverage", "used_leverage", "mean_account_leverage", "option_notional_per_posted")
#: Per-path ``options`` numbers a point averages (scenarios with ``[options]``, docs/scenarios.md).
OPTION_KEYS = (
    "posted",
    "capital_efficiency",
    "liquidations.accounts",
    "liquidations.legs",
    "liquidations.refused",
    "insurance_draws",
    "bad_debt.recorded",
    "bad_debt.open",
    "bad_debt.total",
    "expiry.positions_settled",
    "expiry.paid_by_books",
)
#: Points a grid may expand to (a typo like a 1000-value list should not silently run for days).
MAX_POINTS = 10_000


class SweepError(ScenarioError):
    """A sweep file that cannot run; the message names the sweep file and the field."""

    code = "sweep"


# ----------------------------------------------------------------------------- file format


class _S(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class PointSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One point of a ``list`` sweep."""

    name: str
    #: Built-in name or TOML file (relative to the sweep file); default: the sweep's ``scenario``.
    scenario: str | None = None
    #: Dotted scenario paths -> values, applied after the sweep's common ``overrides``.
    overrides: dict[str, Any] = {}


class FrontierSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    #: Risk axis (lower is better): ``mean_bad_debt``, ``max_bad_debt`` or ``var_bad_debt.q<q>``.
    risk: str = "mean_bad_debt"
    #: Efficiency axis (higher is better): a ``capital_efficiency`` key.
    efficiency: str = "allowed_leverage"


class SweepSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: Literal["grid", "list"]
    name: str = ""
    description: str = ""
    #: Base scenario: built-in name or TOML file relative to the sweep file (required for a grid).
    scenario: str | None = None
    #: Paths per point, seeds ``seed, seed + 1, …`` (``seed`` default: the point's scenario's).
    paths: int | None = None
    seed: int | None = None
    #: Or the seeds themselves (then ``paths`` is their count).
    seeds: list[int] | None = None
    quantiles: list[float] = msgspec.field(default_factory=lambda: list(DEFAULT_QUANTILES))
    #: Applied to every point (e.g. a smaller population or a shorter horizon).
    overrides: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}
    points: list[PointSpec] = []
    frontier: FrontierSpec = FrontierSpec()


@dataclass(frozen=True)
class SweepPoint:
    """A validated point: what to run and which parameters it stands for."""

    index: int
    name: str
    #: Built-in name or absolute path of the scenario file.
    source: str
    scenario: str
    overrides: dict[str, Any]
    #: What varies across points (grid: the grid keys; list: the scenario and the point's overrides).
    parameters: dict[str, Any]
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class Sweep:
    spec: SweepSpec
    file: str
    points: tuple[SweepPoint, ...]
    quantiles: tuple[float, ...]

    @property
    def n_tasks(self) -> int:
        return sum(len(p.seeds) for p in self.points)


def _field_of(exc: msgspec.ValidationError) -> tuple[str, str]:
    text = str(exc)
    marker = " - at `$"
    if marker not in text:
        return "", text
    msg, _, path = text.rpartition(marker)
    path = path.rstrip("`").lstrip(".")
    path = path.replace("['", ".").replace("']", "").lstrip(".")
    return path, msg


def _resolve_source(value: str, base: Path | None) -> str:
    """A built-in name stays a name; anything else is a file relative to the sweep file."""
    if value in builtin_names() and not value.endswith(".toml"):
        return value
    path = Path(value)
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path.resolve())


def _check_path(table: Mapping[str, Any], dotted: str) -> str | None:
    """Why ``dotted`` cannot address the scenario (a market or asset it does not have), or None."""
    keys = dotted.split(".")
    if any(not k for k in keys):
        return f"{dotted!r} is not a dotted path (empty key)"
    if keys[0] in ("markets", "assets") and len(keys) > 2:
        known = sorted(table.get(keys[0], {}))
        if keys[1] not in known:
            return f"{keys[0]} has no {keys[1]!r} (known: {known})"
    return None


def _fmt_key(key: str) -> str:
    return f'"{key}"' if "." in key or "-" in key else key


def load_sweep(path: str | Path, *, paths: int | None = None, seed: int | None = None) -> Sweep:
    """Read and validate a sweep file and every point's scenario; nothing runs.

    ``paths`` / ``seed`` override the file's (the CLI's ``--paths`` / ``--seed``).
    """
    p = Path(path)
    file = p.name
    if not p.is_file():
        raise SweepError(str(p), "", "no such sweep file")
    try:
        with open(p, "rb") as fh:
            table = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(file, "", f"is not valid TOML: {exc}") from None
    if "kind" not in table:
        raise SweepError(file, "kind", 'is required: "grid" (Cartesian product) or "list" (named points)')
    if table["kind"] not in ("grid", "list"):
        raise SweepError(file, "kind", f'must be "grid" or "list", got {table["kind"]!r}')
    try:
        spec = msgspec.convert(table, SweepSpec)
    except msgspec.ValidationError as exc:
        field, msg = _field_of(exc)
        raise SweepError(file, f"{field}:" if field else "", msg) from None
    return validate_sweep(spec, file, p.resolve().parent, paths=paths, seed=seed)


def validate_sweep(
    spec: SweepSpec,
    file: str = "sweep.toml",
    base: Path | None = None,
    *,
    paths: int | None = None,
    seed: int | None = None,
) -> Sweep:
    """Check a parsed sweep as a whole and expand it into points (every scenario validated)."""
    if paths is not None and paths <= 0:
        raise SweepError(file, "paths", f"(--paths) must be > 0, got {paths}")
    seeds_list = spec.seeds
    n_paths = paths if paths is not None else spec.paths
    if seeds_list is not None and paths is None:
        if not seeds_list:
            raise SweepError(file, "seeds", "must not be empty")
        if spec.seed is not None:
            raise SweepError(file, "seed", "and seeds are exclusive: give the first seed or the list")
        if spec.paths is not None and spec.paths != len(seeds_list):
            raise SweepError(file, "paths", f"({spec.paths}) must equal len(seeds) ({len(seeds_list)})")
        if len(set(seeds_list)) != len(seeds_list):
            raise SweepError(file, "seeds", "must not repeat a seed")
        if min(seeds_list) < 0:
            raise SweepError(file, "seeds", f"must be >= 0, got {min(seeds_list)}")
    elif n_paths is None:
        raise SweepError(file, "paths", "is required (paths per point), or give seeds = [...]")
    elif n_paths <= 0:
        raise SweepError(file, "paths", f"must be > 0, got {n_paths}")
    first_seed = seed if seed is not None else spec.seed
    if first_seed is not None and first_seed < 0:
        raise SweepError(file, "seed", f"must be >= 0, got {first_seed}")
    if not spec.quantiles:
        raise SweepError(file, "quantiles", "must not be empty")
    for i, q in enumerate(spec.quantiles):
        if not 0 < q < 1:
            raise SweepError(file, f"quantiles[{i}]", f"must be in (0, 1), got {q}")
    quantiles = tuple(spec.quantiles)
    risks = ["mean_bad_debt", "max_bad_debt", *(f"var_bad_debt.q{q:g}" for q in quantiles)]
    if spec.frontier.risk not in risks:
        raise SweepError(file, "frontier.risk", f"must be one of {risks}, got {spec.frontier.risk!r}")
    if spec.frontier.efficiency not in EFFICIENCY_KEYS:
        raise SweepError(
            file,
            "frontier.efficiency",
            f"must be one of {list(EFFICIENCY_KEYS)}, got {spec.frontier.efficiency!r}",
        )

    # per point: name, source, overrides, parameters, {param key: sweep field}, label of the point
    raw: list[tuple[str, str, dict[str, Any], dict[str, Any], dict[str, str], str]] = []
    if spec.kind == "grid":
        if spec.points:
            raise SweepError(file, "points", 'belongs to kind = "list"; a grid sweep uses [grid]')
        if spec.scenario is None:
            raise SweepError(file, "scenario", 'is required for kind = "grid"')
        if not spec.grid:
            raise SweepError(file, "grid", "needs at least one parameter: dotted path = [values]")
        keys = list(spec.grid)
        for key in keys:
            if not spec.grid[key]:
                raise SweepError(file, f"grid.{_fmt_key(key)}", "must list at least one value")
            if key in spec.overrides:
                raise SweepError(file, f"grid.{_fmt_key(key)}", "is also in [overrides]; set it in one place")
        total = math.prod(len(spec.grid[k]) for k in keys)
        if total > MAX_POINTS:
            raise SweepError(file, "grid", f"expands to {total} points (more than {MAX_POINTS})")
        source = _resolve_source(spec.scenario, base)
        for combo in itertools.product(*(range(len(spec.grid[k])) for k in keys)):
            pairs = list(zip(keys, combo, strict=True))
            params = {k: spec.grid[k][j] for k, j in pairs}
            name = ",".join(f"{k.rsplit('.', 1)[-1]}={spec.grid[k][j]}" for k, j in pairs)
            fields = {k: f"grid.{_fmt_key(k)}[{j}] (= {spec.grid[k][j]!r})" for k, j in pairs}
            label = fields[keys[0]] if len(keys) == 1 else f"grid point {name}"
            raw.append((name, source, {**spec.overrides, **params}, params, fields, label))
    else:
        if spec.grid:
            raise SweepError(file, "grid", 'belongs to kind = "grid"; a list sweep uses [[points]]')
        if not spec.points:
            raise SweepError(file, "points", "needs at least one [[points]] entry")
        seen: set[str] = set()
        several = len({q.scenario or spec.scenario for q in spec.points}) > 1
        for i, pt in enumerate(spec.points):
            if not pt.name or pt.name in seen:
                raise SweepError(file, f"points[{i}].name", f"must be unique and non-empty, got {pt.name!r}")
            seen.add(pt.name)
            scen = pt.scenario or spec.scenario
            if scen is None:
                raise SweepError(file, f"points[{i}].scenario", "is required (no top-level scenario)")
            params = {"scenario": scen} if several else {}
            params.update(pt.overrides)
            fields = {k: f"points[{i}].overrides.{_fmt_key(k)}" for k in pt.overrides}
            fields["scenario"] = f"points[{i}].scenario"
            raw.append(
                (
                    pt.name,
                    _resolve_source(scen, base),
                    {**spec.overrides, **pt.overrides},
                    params,
                    fields,
                    f"points[{i}] ({pt.name})",
                )
            )
    common = {k: f"overrides.{_fmt_key(k)}" for k in spec.overrides}

    def blame(scenario_field: str, fields: Mapping[str, str], label: str) -> str:
        f = scenario_field.rstrip(":").strip()
        for mapping in (fields, common):
            for key, where in mapping.items():
                if f and (f == key or f.startswith(key + ".") or key.startswith(f + ".")):
                    return where
        return label

    points: list[SweepPoint] = []
    tables: dict[str, dict[str, Any]] = {}
    for idx, (name, source, overrides, params, fields, label) in enumerate(raw):
        if source not in tables:
            try:
                tables[source] = read_table(source)[0]
            except ScenarioError as err:
                where = "scenario" if spec.kind == "grid" else fields["scenario"]
                raise SweepError(file, where, f"cannot be read: {err}") from None
        for key in overrides:
            why = _check_path(tables[source], key)
            if why is not None:
                raise SweepError(file, blame(key, fields, label), why)
        try:
            sc = load_scenario(source, overrides)
        except ScenarioError as err:
            raise SweepError(
                file, blame(err.field, fields, label), f"gives an invalid scenario: {err}"
            ) from None
        if spec.frontier.efficiency == "option_notional_per_posted" and sc.spec.options is None:
            raise SweepError(
                file, "frontier.efficiency", f"option_notional_per_posted needs [options]; {name!r} has none"
            )
        if seeds_list is not None and paths is None:
            seeds = tuple(seeds_list)
        else:
            assert n_paths is not None
            start = first_seed if first_seed is not None else sc.spec.seed
            seeds = tuple(start + i for i in range(n_paths))
        points.append(SweepPoint(idx, name, source, sc.name, overrides, params, seeds))
    return Sweep(spec, file, tuple(points), quantiles)


# ----------------------------------------------------------------------------- running


def sweep_tasks(sweep: Sweep) -> list[PathTask]:
    """One task per (point, seed), points in order; summaries only (no per-block tables)."""
    return [
        PathTask(p.source, tuple(sorted(p.overrides.items())), s, False)
        for p in sweep.points
        for s in p.seeds
    ]


def _mean(values: Iterable[float]) -> float:
    a = np.asarray(list(values), dtype=np.float64)
    return float(round(float(a.mean()), 6)) if a.size else 0.0


def point_metrics(summaries: Sequence[dict[str, Any]], quantiles: Sequence[float]) -> dict[str, Any]:
    """The cross-path aggregate of one point, plus its mean capital efficiency."""
    agg = aggregate(summaries, quantiles)
    agg.pop("seeds", None)
    agg.pop("quantiles", None)
    agg["capital_efficiency"] = {
        k: _mean(s["capital_efficiency"][k] for s in summaries)
        for k in EFFICIENCY_KEYS
        if summaries and all(k in s["capital_efficiency"] for s in summaries)
    }
    if summaries and all("options" in s for s in summaries):
        agg["options"] = {"grid": summaries[0]["options"]["grid"]}
        agg["options"].update({k: _mean(metric(s["options"], k) for s in summaries) for k in OPTION_KEYS})
    return agg


def metric(metrics: Mapping[str, Any], dotted: str) -> float:
    node: Any = metrics
    for key in dotted.split(".", 1):  # quantile keys hold dots: q0.95
        node = node[key]
    return float(node)


def grid_table(doc: Mapping[str, Any]) -> str:
    """The per-point option numbers of a sweep document as a Markdown table (one row per point;
    scenarios with ``[options]``: the grid specs side by side)."""
    head = (
        "| point | grid | posted | short notional / posted | books liquidated | legs taken over "
        "| insurance draws | bad debt | positions settled at expiry |"
    )
    rows = [head, "|---|---|" + "---:|" * 7]
    for p in doc["points"]:
        o = p["metrics"].get("options")
        if o is None:
            continue
        rows.append(
            f"| {p['name']} | {o['grid']} | {o['posted']:,.0f} | {o['capital_efficiency']:.2f}x "
            f"| {o['liquidations.accounts']:,.1f} | {o['liquidations.legs']:,.1f} "
            f"| {o['insurance_draws']:,.0f} | {o['bad_debt.total']:,.0f} "
            f"| {o['expiry.positions_settled']:,.1f} |"
        )
    return "\n".join(rows)


def pareto_front(xs: Sequence[float], ys: Sequence[float]) -> list[bool]:
    """Non-dominated points, maximising ``x`` (efficiency) and minimising ``y`` (risk)."""
    out: list[bool] = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        dominated = any(
            (xj >= x and yj <= y) and (xj > x or yj < y)
            for j, (xj, yj) in enumerate(zip(xs, ys, strict=True))
            if j != i
        )
        out.append(not dominated)
    return out


def run_sweep(sweep: Sweep, executor: Executor | None = None) -> dict[str, Any]:
    """Run every point's paths through ``executor`` (default: in-process); the sweep.json document."""
    from clearhouse.lab.executors import InProcessExecutor

    tasks = sweep_tasks(sweep)
    outcomes: list[PathOutcome] = list((executor or InProcessExecutor()).map(run_task, tasks))
    per_point: list[dict[str, Any]] = []
    pos = 0
    for p in sweep.points:
        mine = outcomes[pos : pos + len(p.seeds)]
        pos += len(p.seeds)
        assert [o.seed for o in mine] == list(p.seeds)
        summaries = [o.summary for o in mine]
        per_point.append(
            {
                "index": p.index,
                "name": p.name,
                "scenario": p.scenario,
                "source": p.source if p.source in builtin_names() else Path(p.source).name,
                "parameters": p.parameters,
                "overrides": p.overrides,
                "seeds": list(p.seeds),
                "metrics": point_metrics(summaries, sweep.quantiles),
                "paths": [
                    {
                        "seed": s["seed"],
                        "bad_debt_total": s["bad_debt"]["total"],
                        "liquidated_notional": s["liquidations"]["notional"],
                        "state_root": s["state_root"],
                    }
                    for s in summaries
                ],
            }
        )
    fr = sweep.spec.frontier
    xs = [metric(pt["metrics"]["capital_efficiency"], fr.efficiency) for pt in per_point]
    ys = [metric(pt["metrics"], fr.risk) for pt in per_point]
    for pt, on in zip(per_point, pareto_front(xs, ys), strict=True):
        pt["pareto"] = on
    return {
        "name": sweep.spec.name or Path(sweep.file).stem,
        "description": sweep.spec.description,
        "file": sweep.file,
        "kind": sweep.spec.kind,
        "quantiles": list(sweep.quantiles),
        "frontier": {"risk": fr.risk, "efficiency": f"capital_efficiency.{fr.efficiency}"},
        "points": per_point,
    }


# ----------------------------------------------------------------------------- outputs


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def sweep_table(doc: Mapping[str, Any]) -> pa.Table:
    """One row per point: index, name, scenario, pareto, ``param.<key>`` and flattened metrics."""
    points = doc["points"]
    cols: dict[str, list[Any]] = {
        "point": [p["index"] for p in points],
        "name": [p["name"] for p in points],
        "scenario": [p["scenario"] for p in points],
        "pareto": [p["pareto"] for p in points],
        "parameters": [json.dumps(p["parameters"], sort_keys=True) for p in points],
    }
    keys: list[str] = []
    for p in points:
        keys.extend(k for k in p["parameters"] if k not in keys)
    arrays: dict[str, pa.Array] = {}
    for k in keys:
        values = [p["parameters"].get(k) for p in points]
        try:
            arrays[f"param.{k}"] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[f"param.{k}"] = pa.array([None if v is None else json.dumps(v) for v in values])
    flat = [_flatten(p["metrics"]) for p in points]
    mkeys: list[str] = []
    for f in flat:
        mkeys.extend(k for k in f if k not in mkeys)
    table = pa.table({**{k: pa.array(v) for k, v in cols.items()}, **arrays})
    for k in mkeys:
        table = table.append_column(k, pa.array([f.get(k) for f in flat]))
    return table


def base_parameters(sweep: Sweep) -> dict[str, dict[str, Any]]:
    """Each distinct base scenario of the points with the sweep's common overrides, as plain data
    (every field, defaults included) for the report's parameter tables; keyed as ``points[].source``."""
    out: dict[str, dict[str, Any]] = {}
    for p in sweep.points:
        key = p.source if p.source in builtin_names() else Path(p.source).name
        if key not in out:
            out[key] = msgspec.to_builtins(load_scenario(p.source, sweep.spec.overrides).spec)
    return out


def write_sweep_outputs(
    out: Path, doc: dict[str, Any], scenarios: Mapping[str, Mapping[str, Any]] | None = None
) -> None:
    """``sweep.json``, ``sweep.parquet`` and ``report.html`` into ``out``, atomically (``scenarios``:
    :func:`base_parameters`, shown in the report)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    from clearhouse.lab.report import render_sweep_html, write_atomically

    def fill(tmp: Path) -> None:
        (tmp / "sweep.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        pq.write_table(sweep_table(doc), tmp / "sweep.parquet")
        (tmp / "report.html").write_text(render_sweep_html(doc, scenarios), encoding="utf-8")

    write_atomically(out, fill)
