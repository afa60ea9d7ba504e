"""``clearhouse simulate``: run a stress scenario through the engine and write its report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa  # type: ignore[import-untyped]
import typer
from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from clearhouse.cli.errors import fail
from clearhouse.cli.options import check_output, check_seeds, executor_kind

console = Console()

#: Paths whose timeseries and events go into the parquet files (the others: summaries only).
MAX_TABLE_PATHS = 20


def _tag(table: pa.Table, path: int, seed: int) -> pa.Table:
    table = table.add_column(0, "seed", pa.array([seed] * table.num_rows, pa.int64()))
    return table.add_column(0, "path", pa.array([path] * table.num_rows, pa.int64()))


def _fmt(value: Any, unit: str, compact: bool = False) -> str:
    """One cell: amounts with thousands separators (``compact``: 3.72M, 52.2k), durations in s with
    hours, ``None`` as not reached (a Kaplan–Meier quantile beyond the data) or a dash."""
    if value is None:
        return "not reached" if unit == "s" else "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if unit == "s" and compact:
            return f"{value / 3600:,.1f} h" if abs(value) >= 3600 else f"{value:,.0f} s"
        if unit == "s":
            return f"{value:,.0f} s" + (f" ({value / 3600:,.1f} h)" if abs(value) >= 3600 else "")
        if unit == "x":
            return f"{value:,.2f}x"
        if unit == "ratio":
            return f"{value:,.3f}"
        if compact and abs(value) >= 1e6:
            return f"{value / 1e6:,.2f}M"
        if compact and abs(value) >= 1e4:
            return f"{value / 1e3:,.1f}k"
        return f"{value:,.2f}"
    return str(value)


def _label(row: dict[str, Any]) -> str:
    unit = row["unit"]
    return row["label"] if unit in ("count", "s", "x", "ratio", "bool", "") else f"{row['label']} ({unit})"


def summary_table(agg: dict[str, Any], first: dict[str, Any]) -> Group:
    """The console summary: one labelled table per section of ``agg["sections"]`` (across paths, first
    path, then per venue): the same sections the report shows (``docs/metrics.md``)."""
    tables: list[Table] = []
    for section in agg["sections"]:
        compact = section["id"] == "across_paths"
        t = Table(
            title=f"[bold]{escape(section['title'])}[/]",
            title_justify="left",
            caption=escape(section["note"]) if section.get("note") else None,
            caption_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        t.add_column("metric", min_width=20)
        for col in section["columns"]:
            t.add_column(col, justify="right")
        for row in section["rows"]:
            cells = []
            for col in section["columns"]:
                cell = _fmt(row["values"].get(col), row["unit"], compact)
                ci = (row.get("ci") or {}).get(col)
                if ci is not None:
                    cell += f"\n{_fmt(ci[0], row['unit'], compact)}–{_fmt(ci[1], row['unit'], compact)}"
                cells.append(escape(cell))
            t.add_row(escape(_label(row)), *cells)
        tables.append(t)
    return Group(Text(f"{first['scenario']}: {agg['paths']} path(s)", style="bold"), *tables)


def simulate(
    scenario: str = typer.Argument(
        "black_thursday", help="Built-in scenario name or path to a scenario TOML file."
    ),
    paths: int = typer.Option(1, "--paths", "-n", min=1, help="Number of paths (seeds seed, seed+1, ...)."),
    out: Path = typer.Option(Path("clearhouse-out"), "--out", "-o", help="Output directory."),
    seed: int | None = typer.Option(None, "--seed", help="First seed (default: the scenario's)."),
    accounts: int | None = typer.Option(None, "--accounts", help="Override population.accounts."),
    horizon: str | None = typer.Option(None, "--horizon", help="Override the horizon, e.g. '6h'."),
    quantile: list[float] = typer.Option([0.95, 0.99], "--quantile", "-q", help="VaR / LaR quantiles."),
    list_builtin: bool = typer.Option(False, "--list", help="List the built-in scenarios and exit."),
    executor: str | None = typer.Option(
        None,
        "--executor",
        "-e",
        help="inprocess | processes | dask (default: processes for --paths > 1, dask with --scheduler).",
    ),
    workers: int | None = typer.Option(
        None, "--workers", "-w", help="Worker processes (processes) or LocalCluster workers (dask)."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Address of a running Dask scheduler, e.g. tcp://host:8786."
    ),
    controller: str | None = typer.Option(
        None,
        "--controller",
        help="Run a risk controller through the steward: NAME or NAME:PROFILE (docs/controller.md).",
    ),
) -> None:
    """Run a stress scenario through the engine: summary.json, timeseries/events parquet, report.html."""
    from clearhouse.lab.executors import make_executor
    from clearhouse.lab.metrics import aggregate
    from clearhouse.lab.output_dir import OutputDirError
    from clearhouse.lab.report import write_outputs
    from clearhouse.lab.runner import run_paths
    from clearhouse.lab.scenario import ScenarioError, builtin_names, load_scenario

    if list_builtin:
        for name in builtin_names():
            console.print(name)
        return
    for q in quantile:
        if not 0 < q < 1:
            fail(f"--quantile {q} must be in (0, 1)")
    executor_kind(executor, workers, scheduler, paths)  # refuse bad options before loading
    if controller is not None:
        from clearhouse.lab.controller_run import parse

        try:
            parse(controller)
        except ValueError as err:
            fail(str(err))
    if seed is not None:
        check_seeds(seed, paths)
    check_output(out)
    overrides: dict[str, Any] = {}
    if accounts is not None:
        overrides["population.accounts"] = accounts
    if horizon is not None:
        overrides["horizon"] = horizon
    try:
        sc = load_scenario(scenario, overrides, paths=paths)  # validate everything before anything runs
    except ScenarioError as err:
        fail(f"invalid scenario: {err}")
    first_seed = sc.spec.seed if seed is None else seed
    check_seeds(first_seed, paths, "--seed" if seed is not None else "the scenario's seed")
    seeds = [first_seed + i for i in range(paths)]
    console.print(
        f"{sc.name}: {sc.spec.population.accounts} accounts, {sc.n_blocks} blocks of "
        f"{sc.block_time} s, {paths} path(s), seeds {seeds[0]}..{seeds[-1]}",
        markup=False,
    )
    for line in sc.data_sources:
        console.print(line, markup=False)
    summaries: list[dict[str, Any]] = []
    ts_tables: list[pa.Table] = []
    ev_tables: list[pa.Table] = []
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            all_paths = progress.add_task("paths", total=paths)
            kind = executor_kind(executor, workers, scheduler, paths)
            blocks = progress.add_task("blocks", total=sc.n_blocks) if kind == "inprocess" else None

            def on_block(done: int, total: int) -> None:
                if blocks is not None and (done % 50 == 0 or done == total):
                    progress.update(blocks, completed=done, total=total)

            def on_batch(done: int, total: int) -> None:
                progress.update(all_paths, completed=done, total=total)
                if blocks is not None and done < total:
                    progress.reset(blocks, total=sc.n_blocks)

            try:
                ex = make_executor(
                    kind,
                    paths=paths,
                    workers=workers,
                    scheduler=scheduler,
                    on_batch=on_batch,
                    on_block=on_block,
                )
            except (OSError, TimeoutError, ValueError, ImportError) as err:
                progress.stop()
                fail(f"cannot start the {kind} executor: {err}")
            with ex:
                progress.console.print(f"executor: {ex.describe()}")
                outcomes = run_paths(
                    scenario,
                    seeds,
                    overrides=overrides,
                    executor=ex,
                    keep_tables=MAX_TABLE_PATHS,
                    controller=controller,
                )
                for i, outcome in enumerate(outcomes):
                    summaries.append(outcome.summary)
                    if outcome.timeseries is not None:
                        ts_tables.append(_tag(outcome.timeseries, i, outcome.seed))
                    if outcome.events is not None:
                        ev_tables.append(_tag(outcome.events, i, outcome.seed))
        agg = aggregate(summaries, tuple(quantile))
        doc = {
            "scenario": sc.name,
            "description": sc.spec.description,
            "source": scenario,
            "overrides": overrides,
            "controller": controller,
            "aggregate": agg,
            "paths": summaries,
        }
        try:
            write_outputs(out, doc, ts_tables, ev_tables, parameters=msgspec.to_builtins(sc.spec))
        except OutputDirError as err:  # something appeared at the output path during the run
            fail(str(err))
        except OSError as err:  # disk full, permissions: nothing was put in place
            fail(f"cannot write the outputs to {out}: {err}", 1)
    except KeyboardInterrupt:
        fail("interrupted: no outputs written", 130)
    elapsed = time.perf_counter() - started
    console.print(summary_table(agg, summaries[0]))
    if controller is not None:
        ctl = summaries[0]["controller"]
        console.print(
            f"controller {controller} (first path): {ctl['changes']} parameter change(s), mean step "
            f"{100 * ctl['mean_relative_step']:.1f} %, {ctl['refused']} refused; final {ctl['final']}",
            markup=False,
        )
    console.print(
        f"wrote {out}/summary.json, timeseries.parquet, events.parquet, report.html ({elapsed:.1f} s)",
        markup=False,
    )
    if not agg["conservation_ok"]:
        fail("conservation failed: " + json.dumps([s["conservation"] for s in summaries]), 1)
