"""``clearhouse sweep``: run a grid or list of scenario variants × seeds; sweep.json/parquet + frontier."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clearhouse.cli.options import executor_kind

console = Console()


def points_table(doc: dict[str, Any]) -> Table:
    fr = doc["frontier"]
    q = f"q{max(doc['quantiles']):g}"
    t = Table(title=f"{doc['name']} — {len(doc['points'])} point(s), frontier marked *")
    t.add_column("point")
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
    from clearhouse.lab.sweep import SweepError, load_sweep, run_sweep, write_sweep_outputs

    executor_kind(console, executor, workers, scheduler, 1)  # refuse bad options before loading
    try:
        sw = load_sweep(file, paths=paths, seed=seed)  # every point validated before anything runs
    except SweepError as err:
        console.print(f"[red]invalid sweep:[/] {err}")
        raise typer.Exit(2) from None
    n = sw.n_tasks
    console.print(
        f"[bold]{sw.spec.name or file.stem}[/]: {sw.spec.kind} sweep, {len(sw.points)} point(s) × "
        f"{len(sw.points[0].seeds)} path(s) = {n} paths"
    )
    if dry_run:
        for p in sw.points:
            console.print(f"  {p.index:>4}  {p.name}  [dim]{p.scenario} seeds {p.seeds[0]}..{p.seeds[-1]}[/]")
        return
    started = time.perf_counter()
    kind = executor_kind(console, executor, workers, scheduler, n)
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
            except (OSError, TimeoutError, ValueError) as err:
                progress.stop()
                console.print(f"[red]cannot start the {kind} executor:[/] {err}")
                raise typer.Exit(2) from None
            with ex:
                progress.console.print(f"executor: {ex.describe()}")
                doc = run_sweep(sw, ex)
        write_sweep_outputs(out, doc)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: no outputs written[/]")
        raise typer.Exit(130) from None
    console.print(points_table(doc))
    console.print(
        f"wrote {out}/sweep.json, sweep.parquet, report.html ({time.perf_counter() - started:.1f} s)"
    )
    if not all(p["metrics"]["conservation_ok"] for p in doc["points"]):
        console.print("[red]conservation failed on some point[/]")
        raise typer.Exit(1)
