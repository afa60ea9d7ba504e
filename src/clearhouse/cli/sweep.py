"""``clearhouse sweep``: run a grid or list of scenario variants × seeds; sweep.json/parquet + frontier."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clearhouse.cli.errors import fail
from clearhouse.cli.options import MAX_SEED, check_output, check_seeds, executor_kind

console = Console()


def points_table(doc: dict[str, Any]) -> Table:
    fr = doc["frontier"]
    q = f"q{max(doc['quantiles']):g}"
    t = Table(title=f"{doc['name']} — {len(doc['points'])} point(s), frontier marked *")
    t.add_column("point", overflow="fold", min_width=12)  # names are the parameters: never truncate
    t.add_column("mean bad debt", justify="right")
    t.add_column(f"VaR {q}", justify="right")
    t.add_column(f"LaR {q}", justify="right")
    t.add_column(fr["efficiency"].removeprefix("capital_efficiency."), justify="right")
    t.add_column("", justify="center")
    eff = fr["efficiency"].removeprefix("capital_efficiency.")
    for p in doc["points"]:
        m = p["metrics"]
        t.add_row(
            p["name"],
            f"{m['mean_bad_debt']:,.2f}",
            f"{m['var_bad_debt'][q]:,.2f}",
            f"{m['lar_liquidated_notional'][q]:,.2f}",
            f"{m['capital_efficiency'][eff]:.3f}",
            "*" if p["pareto"] else "",
        )
    return t


def options_table(doc: dict[str, Any]) -> Table:
    """The option books per point (scenarios with ``[options]``): the grid specs side by side."""
    t = Table(title="option books (mean over paths)")
    cols = (
        ("point", None), ("grid", None), ("posted", "posted"), ("notional/posted", "capital_efficiency"),
        ("books liq.", "liquidations.accounts"), ("legs", "liquidations.legs"),
        ("insurance", "insurance_draws"), ("bad debt", "bad_debt.total"),
        ("expiry settled", "expiry.positions_settled"),
    )  # fmt: skip
    for name, _ in cols:
        t.add_column(name, justify="left" if name == "point" else "right")
    for p in doc["points"]:
        o = p["metrics"].get("options")
        if o is None:
            continue
        cells = [p["name"], str(o["grid"])]
        for _, key in cols[2:]:
            v = float(o[key])
            cells.append(f"{v:.2f}x" if key == "capital_efficiency" else f"{v:,.0f}")
        t.add_row(*cells)
    return t


def sweep(
    file: Path = typer.Argument(..., help='Sweep TOML file (kind = "grid" or "list").'),
    out: Path = typer.Option(Path("clearhouse-sweep"), "--out", "-o", help="Output directory."),
    paths: int | None = typer.Option(None, "--paths", "-n", help="Override the paths per point."),
    seed: int | None = typer.Option(None, "--seed", help="Override the first seed."),
    executor: str | None = typer.Option(
        None,
        "--executor",
        "-e",
        help="inprocess | processes | dask (default: processes, dask with --scheduler).",
    ),
    workers: int | None = typer.Option(
        None, "--workers", "-w", help="Worker processes (processes) or LocalCluster workers (dask)."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Address of a running Dask scheduler, e.g. tcp://host:8786."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and list the points; run nothing."),
) -> None:
    """Run a parameter sweep: sweep.json, sweep.parquet and report.html with the risk frontier."""
    from clearhouse.lab.executors import make_executor
    from clearhouse.lab.output_dir import OutputDirError
    from clearhouse.lab.sweep import SweepError, base_parameters, load_sweep, run_sweep, write_sweep_outputs

    executor_kind(executor, workers, scheduler, 2)  # refuse bad options before loading
    if seed is not None:
        check_seeds(seed, paths or 1)
    if not dry_run:
        check_output(out)
    try:
        sw = load_sweep(file, paths=paths, seed=seed)  # every point validated before anything runs
    except SweepError as err:
        fail(f"invalid sweep: {err}")
    for p in sw.points:
        if min(p.seeds) < 0 or max(p.seeds) > MAX_SEED:
            fail(f"point {p.name}: seeds {p.seeds[0]}..{p.seeds[-1]} leave [0, 2^63 - 1]")
    n = sw.n_tasks
    console.print(
        f"{sw.spec.name or file.stem}: {sw.spec.kind} sweep, {len(sw.points)} point(s) × "
        f"{len(sw.points[0].seeds)} path(s) = {n} paths",
        markup=False,
    )
    if dry_run:
        for p in sw.points:
            console.print(
                f"  {p.index:>4}  {p.name}  {p.scenario} seeds {p.seeds[0]}..{p.seeds[-1]}", markup=False
            )
        return
    started = time.perf_counter()
    kind = executor_kind(executor, workers, scheduler, n)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("paths", total=n)

            def on_batch(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            try:
                ex = make_executor(kind, paths=n, workers=workers, scheduler=scheduler, on_batch=on_batch)
            except (OSError, TimeoutError, ValueError, ImportError) as err:
                progress.stop()
                fail(f"cannot start the {kind} executor: {err}")
            with ex:
                progress.console.print(f"executor: {ex.describe()}")
                doc = run_sweep(sw, ex)
        try:
            write_sweep_outputs(out, doc, base_parameters(sw))
        except OutputDirError as err:  # something appeared at the output path during the run
            fail(str(err))
        except OSError as err:  # disk full, permissions: nothing was put in place
            fail(f"cannot write the outputs to {out}: {err}", 1)
    except KeyboardInterrupt:
        fail("interrupted: no outputs written", 130)
    console.print(points_table(doc))
    if any("options" in p["metrics"] for p in doc["points"]):
        console.print(options_table(doc))
    console.print(
        f"wrote {out}/sweep.json, sweep.parquet, report.html ({time.perf_counter() - started:.1f} s)",
        markup=False,
    )
    if not all(p["metrics"]["conservation_ok"] for p in doc["points"]):
        fail("conservation failed on some point", 1)
