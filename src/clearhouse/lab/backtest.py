"""Backtest a risk controller against static parameters on the same paths (``backtest-controller``).

For every scenario and seed the lab runs: the static scenario; a static sweep that scales every market's
initial and maintenance margin by each factor of ``static_scales`` (the static bad-debt vs capital-efficiency
frontier; a scale whose scenario does not validate, e.g. base margins crossing a tiered model's tiers,
is skipped and reported); and the scenario with the controller running through the steward. Paths are
identical across variants (same seed: price path, gas and each trader's intended leverage; a position opens
at most at the variant's initial-margin leverage).

Per variant, across seeds: bad debt (mean, VaR 95/99, expected shortfall 95/99), peak negative equity not
covered by the insurance fund, insurance-fund draw, liquidations, Liquidations at Risk (LaR 95/99: the
quantile across paths of the value liquidated on a path: the perp notional closed out, from the engine's
``PositionLiquidated`` events, plus the value of vault collateral sold or seized), capital efficiency
(allowed leverage: the notional-weighted ``1 / initial margin`` at the opening for static variants and its
time average for the controller; used leverage at the opening) and, for the controller, the number and the
mean and largest relative size of parameter changes and refused transactions.

Besides the named scenarios, :func:`backtest` runs the Monte Carlo set of :mod:`clearhouse.lab.montecarlo`
(GBM, Merton, GARCH price paths over one default book, ``monte_carlo`` seeds each), reported as rows of their
own (``mc_gbm``, ...), with the same seeds for every variant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from clearhouse.lab.metrics import expected_shortfall, var
from clearhouse.lab.montecarlo import PRICE_MODELS, mc_scenario
from clearhouse.lab.runner import run_path
from clearhouse.lab.scenario import ScenarioError, load_scenario
from clearhouse.lab.scenario.model import Scenario

DEFAULT_SCALES = (0.75, 1.0, 1.5, 2.0)
#: Prefix naming a Monte Carlo source (``mc:gbm``) among the scenario sources of :func:`backtest`.
MC_PREFIX = "mc:"


def mc_sources() -> list[str]:
    """The Monte Carlo set as sources of :func:`backtest`: ``mc:gbm``, ``mc:merton``, ``mc:garch``."""
    return [MC_PREFIX + m for m in PRICE_MODELS]


def load_source(source: str, overrides: dict[str, Any] | None = None) -> Scenario:
    """A built-in name, a TOML path or a Monte Carlo model (``mc:gbm``), validated with ``overrides``."""
    if source.startswith(MC_PREFIX):
        return mc_scenario(source.removeprefix(MC_PREFIX), overrides)
    return load_scenario(source, overrides)


def liquidated_value(summary: dict[str, Any]) -> float:
    """Value liquidated on one path (settlement units): the perp notional closed out by liquidations plus
    the vault collateral sold in auctions or seized (its value at the external price)."""
    out = float(summary["liquidations"]["notional"])
    vaults = summary.get("vaults")
    if vaults is not None:
        out += float(vaults.get("collateral_sold_value", 0.0))
    return out


@dataclass
class Variant:
    """One variant of one scenario, its per-seed summaries reduced to the compared metrics."""

    scenario: str
    label: str
    #: Margin scale of a static variant (1.0 = the scenario as written); None for the controller.
    scale: float | None
    bad_debt: list[float] = field(default_factory=list)
    peak_uncovered: list[float] = field(default_factory=list)
    insurance_draw: list[float] = field(default_factory=list)
    liquidations: list[int] = field(default_factory=list)
    liquidated: list[float] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    allowed_leverage: list[float] = field(default_factory=list)
    used_leverage: list[float] = field(default_factory=list)
    changes: list[int] = field(default_factory=list)
    mean_step: list[float] = field(default_factory=list)
    max_step: list[float] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)

    def add(self, summary: dict[str, Any]) -> None:
        self.seeds.append(int(summary["seed"]))
        self.liquidated.append(liquidated_value(summary))
        self.bad_debt.append(float(summary["bad_debt"]["total"]))
        self.peak_uncovered.append(float(summary["insolvency"]["peak_uncovered_by_insurance"]))
        self.insurance_draw.append(float(summary["losses"]["insurance_draws"]["total"]))
        self.liquidations.append(int(summary["liquidations"]["positions"]))
        cap = summary["capital_efficiency"]
        self.used_leverage.append(float(cap["used_leverage"]))
        ctl = summary.get("controller")
        if ctl is None:
            self.allowed_leverage.append(float(cap["allowed_leverage"]))
            return
        lev = ctl["mean_allowed_leverage"]
        self.allowed_leverage.append(sum(lev.values()) / len(lev) if lev else float(cap["allowed_leverage"]))
        self.changes.append(int(ctl["changes"]))
        self.mean_step.append(float(ctl["mean_relative_step"]))
        self.max_step.append(float(ctl["max_relative_step"]))
        self.refused.append(int(ctl["refused"]))

    def row(self) -> dict[str, Any]:
        def mean(xs: Sequence[float]) -> float:
            return sum(xs) / len(xs) if xs else 0.0

        out: dict[str, Any] = {
            "scenario": self.scenario,
            "variant": self.label,
            "scale": self.scale,
            "paths": len(self.bad_debt),
            "seeds": list(self.seeds),
            "bad_debt_mean": mean(self.bad_debt),
            "bad_debt_var95": var(self.bad_debt, 0.95),
            "bad_debt_var99": var(self.bad_debt, 0.99),
            "bad_debt_es95": expected_shortfall(self.bad_debt, 0.95),
            "bad_debt_es99": expected_shortfall(self.bad_debt, 0.99),
            "peak_uncovered": mean(self.peak_uncovered),
            "insurance_draw": mean(self.insurance_draw),
            "liquidations": mean([float(x) for x in self.liquidations]),
            "liquidated_mean": mean(self.liquidated),
            "lar95": var(self.liquidated, 0.95),
            "lar99": var(self.liquidated, 0.99),
            "allowed_leverage": mean(self.allowed_leverage),
            "used_leverage": mean(self.used_leverage),
        }
        if self.scale is None:
            out["changes"] = mean([float(x) for x in self.changes])
            out["mean_step"] = mean(self.mean_step)
            out["max_step"] = max(self.max_step, default=0.0)
            out["refused"] = sum(self.refused)
        return out


def _scaled(source: str, scale: float) -> dict[str, Any]:
    """Overrides scaling every market's initial and maintenance margin (capped below 1)."""
    if scale == 1.0:
        return {}
    sc = load_source(source)
    out: dict[str, Any] = {}
    for m in sc.markets:
        im = min(m.initial_margin / 1e18 * scale, 0.95)
        mm = min(m.maintenance_margin / 1e18 * scale, im * 0.9)
        out[f"markets.{m.id}.initial_margin"] = im
        out[f"markets.{m.id}.maintenance_margin"] = mm
    return out


def dominated(point: dict[str, Any], frontier: Sequence[dict[str, Any]]) -> bool:
    """Whether a static variant has no more mean bad debt *and* no less allowed leverage, one of them
    strictly (the controller is then inside the static frontier)."""
    for f in frontier:
        debt = f["bad_debt_mean"] - point["bad_debt_mean"]
        lev = f["allowed_leverage"] - point["allowed_leverage"]
        no_worse = debt <= 0 and lev >= 0
        better = debt < 0 or lev > 0
        if no_worse and better:
            return True
    return False


def backtest(
    scenarios: Sequence[str],
    controller: str,
    seeds: int = 1,
    static_scales: Sequence[float] = DEFAULT_SCALES,
    on_run: Callable[[str, str, int], None] | None = None,
    monte_carlo: int = 0,
) -> list[dict[str, Any]]:
    """Rows (static variants first, then the controller) for every scenario, plus ``undominated``
    on the controller's row; then, with ``monte_carlo`` > 0, the same for each model of the Monte Carlo
    set on ``monte_carlo`` seeds (a source may also name one directly: ``mc:gbm``)."""
    rows: list[dict[str, Any]] = []
    sources = [(s, seeds) for s in scenarios]
    if monte_carlo > 0:
        sources += [(s, monte_carlo) for s in mc_sources() if s not in scenarios]
    for source, n_paths in sources:
        sc = load_source(source)
        seed_list = [sc.spec.seed + i for i in range(n_paths)]
        statics: list[Variant] = []
        for scale in static_scales:
            overrides = _scaled(source, scale)
            try:
                scen = load_source(source, overrides) if overrides else sc
            except ScenarioError as err:  # e.g. scaled base margins crossing a tiered model's tiers
                if on_run is not None:
                    on_run(sc.name, f"static x{scale:g} skipped ({err})", 0)
                continue
            v = Variant(sc.name, f"static x{scale:g}", scale)
            for s in seed_list:
                if on_run is not None:
                    on_run(sc.name, v.label, s)
                v.add(run_path(scen, s).summary)
            statics.append(v)
        ctl = Variant(sc.name, controller, None)
        for s in seed_list:
            if on_run is not None:
                on_run(sc.name, controller, s)
            ctl.add(run_path(sc, s, controller=controller).summary)
        static_rows = [v.row() for v in statics]
        ctl_row = ctl.row()
        ctl_row["undominated"] = not dominated(ctl_row, static_rows)
        if source.startswith(MC_PREFIX):
            for r in (*static_rows, ctl_row):
                r["monte_carlo"] = True
        rows += [*static_rows, ctl_row]
    return rows


__all__ = [
    "DEFAULT_SCALES",
    "MC_PREFIX",
    "Variant",
    "backtest",
    "dominated",
    "liquidated_value",
    "load_source",
    "mc_sources",
]
