"""The ``clearhouse`` command line: run the scripted session, verify journals."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from clearhouse.cli.render import accounts_table, events_table, protocol_table
from clearhouse.ledger.errors import ClearhouseError
from clearhouse.ledger.events import Event

app = typer.Typer(
    help="clearhouse: deterministic margin, liquidation and settlement for derivative markets.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

from clearhouse.cli.simulate import simulate  # noqa: E402
from clearhouse.cli.sweep import sweep  # noqa: E402

app.command()(simulate)
app.command()(sweep)


@app.command()
def demo(
    journal: str = typer.Option(
        "clearhouse-demo.sqlite",
        "--journal",
        "-j",
        help="Journal location: a SQLite path, sqlite:///path, postgresql://... or memory:",
    ),
    overwrite: bool = typer.Option(True, help="Replace an existing SQLite journal file."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final state root."),
) -> None:
    """Run the scripted market session through the engine and journal every block."""
    from clearhouse.demo.session import session_blocks
    from clearhouse.journal.store import open_store
    from clearhouse.ledger.engine import Engine

    path = Path(journal.removeprefix("sqlite:///"))
    if overwrite and "://" not in journal.replace("sqlite:///", "") and journal != "memory:":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = open_store(journal)
    try:
        engine = Engine(journal=store)
        all_events: list[tuple[int, Event]] = []
        for block in session_blocks():
            result = engine.apply_block(block)
            all_events.extend((block.height, e) for e in result.events)
        if not quiet:
            console.print(events_table(all_events))
            console.print(accounts_table(engine))
            console.print(protocol_table(engine))
            console.print(f"journal: [bold]{journal}[/] ({len(store)} blocks)")
        console.print(f"final state root: [bold green]{engine.state_root()}[/]", soft_wrap=True)
    finally:
        store.close()


@app.command()
def verify(
    journal: str = typer.Argument(..., help="Journal location (SQLite path, sqlite:///, postgresql://)."),
) -> None:
    """Replay a journal from genesis; check every state root and the hash chain.

    Exits 0 and prints the final root if the journal is intact; exits 1 naming the first bad block.
    """
    from clearhouse.journal.replay import verify_journal
    from clearhouse.journal.store import open_store

    if "://" not in journal and journal != "memory:" and not Path(journal).exists():
        console.print(f"[red]no journal at {journal}[/]")
        raise typer.Exit(2)
    try:
        store = open_store(journal, verify=False)
    except ClearhouseError as err:
        console.print(f"[red]cannot open journal: {err}[/]")
        raise typer.Exit(1) from None
    with store:
        total = len(store)
        with Progress(
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("replay", total=total)
            report, _ = verify_journal(store, progress=lambda h: progress.update(task, completed=h))
    if report.ok:
        console.print(f"[green]OK[/] {report.blocks} blocks verified")
        console.print(f"final state root: [bold]{report.final_root}[/]", soft_wrap=True)
        return
    console.print(f"[red]FAILED[/] at block {report.bad_height}: {report.reason}")
    console.print(f"{report.blocks} blocks verified before it")
    raise typer.Exit(1)


@app.command()
def risk(
    journal: str = typer.Argument(
        ..., help="Journal location to replay (SQLite path, sqlite:///, postgresql://)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the views as JSON here."),
) -> None:
    """Risk views of the state a journal ends in: per account, per position, per market."""
    from clearhouse.cli.risk_report import risk_tables, risk_views
    from clearhouse.journal.replay import verify_journal
    from clearhouse.journal.store import open_store

    if "://" not in journal and not Path(journal).exists():
        console.print(f"[red]no journal at {journal}[/]")
        raise typer.Exit(2)
    with open_store(journal, verify=False) as store:
        report, engine = verify_journal(store)
    if not report.ok:
        console.print(f"[red]journal fails verification at block {report.bad_height}: {report.reason}[/]")
        raise typer.Exit(1)
    views = risk_views(engine.state)
    for table in risk_tables(views):
        console.print(table)
    if json_out is not None:
        import json

        json_out.write_text(json.dumps(views, indent=2))
        console.print(f"wrote {json_out}")


@app.command(
    # --help is the benchmark's own: ``clearhouse bench scan --help`` lists the benchmark's flags.
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
)
def bench(
    ctx: typer.Context,
    name: str = typer.Argument("", help="ledger | scan | liquidation | oracle | lab | lab_runner"),
) -> None:
    """Run a benchmark from the repository's benchmarks/ (from the repository root); extra options
    go to it, e.g. ``clearhouse bench scan --accounts 100000 --markets 10``;
    ``clearhouse bench NAME --help`` shows the benchmark's flags."""
    import runpy
    import sys

    if not name or name in ("--help", "-h"):
        console.print(ctx.get_help())
        raise typer.Exit(0 if name else 2)
    if not (Path.cwd() / "benchmarks" / f"{name}.py").exists():
        console.print(f"[red]no benchmarks/{name}.py here: run from the repository root[/]")
        raise typer.Exit(2)
    sys.path.insert(0, str(Path.cwd()))
    sys.argv = [f"benchmarks.{name}", *ctx.args]
    runpy.run_module(f"benchmarks.{name}", run_name="__main__")


if __name__ == "__main__":  # pragma: no cover
    app()
