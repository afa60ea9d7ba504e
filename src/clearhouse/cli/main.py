"""The ``clearhouse`` command line: run the scripted session, verify journals."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from clearhouse.cli.errors import fail
from clearhouse.cli.journal_access import open_read_only
from clearhouse.cli.render import accounts_table, events_table, protocol_table
from clearhouse.core.errors import ClearhouseError
from clearhouse.ledger.events import Event

if TYPE_CHECKING:
    from clearhouse.engine.engine import Engine

app = typer.Typer(
    help="clearhouse: deterministic margin, liquidation and settlement for derivative markets.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(soft_wrap=True)

from clearhouse.cli.backtest_controller import backtest_controller  # noqa: E402
from clearhouse.cli.simulate import simulate  # noqa: E402
from clearhouse.cli.sweep import sweep  # noqa: E402

app.command()(simulate)
app.command()(sweep)
from clearhouse.cli import dispute, node, proofs, replication  # noqa: E402
from clearhouse.cli.keys import keys_app  # noqa: E402

app.add_typer(keys_app, name="keys")
proofs.register(app)
dispute.register(app)
node.register(app)
replication.register(app)
app.command("backtest-controller")(backtest_controller)

_LOCATION_HELP = (
    "Journal location: a path, sqlite:///relative/path, sqlite:////absolute/path, postgresql://... "
    "(see docs/journal.md)"
)
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _clear_for_demo(journal: str, overwrite: bool) -> None:
    """Refuse to touch anything at ``journal`` that is not a clearhouse journal; replace a SQLite
    journal only with ``--overwrite``."""
    from clearhouse.journal import sqlite_path

    path = sqlite_path(journal)
    if path is None or not Path(path).exists():
        return
    if Path(path).is_dir():
        fail(f"{journal} is a folder, not a journal")
    with open_read_only(journal) as store:
        blocks = len(store)
    if not overwrite:
        fail(
            f"{journal} already holds a clearhouse journal ({blocks} blocks); pass --overwrite to replace it"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@app.command()
def demo(
    journal: str = typer.Option("clearhouse-demo.sqlite", "--journal", "-j", help=_LOCATION_HELP),
    overwrite: bool = typer.Option(
        False,
        "--overwrite/--no-overwrite",
        help="Replace an existing clearhouse SQLite journal; anything else is never replaced.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final state root."),
    signed: bool = typer.Option(
        False,
        "--signed",
        help="The session with keys: signed envelopes, signed oracle reports, matched fills (docs/auth.md).",
    ),
) -> None:
    """Run the scripted market session through the engine and journal every block."""
    from clearhouse.demo.session import session_blocks
    from clearhouse.demo.signed_session import signed_session_blocks
    from clearhouse.journal import open_store
    from clearhouse.ledger.engine import Engine

    _clear_for_demo(journal, overwrite)
    try:
        store = open_store(journal)
    except ClearhouseError as err:
        fail(f"cannot open journal {journal}: {err}")
    try:
        if len(store):
            fail(
                f"journal {journal} already holds {len(store)} blocks and the session starts at block 1: "
                "use a new location (--overwrite replaces SQLite files only)"
            )
        engine = Engine(journal=store)
        all_events: list[tuple[int, Event]] = []
        for block in signed_session_blocks() if signed else session_blocks():
            result = engine.apply_block(block)
            all_events.extend((block.height, e) for e in result.events)
        if not quiet:
            console.print(events_table(all_events))
            console.print(accounts_table(engine))
            console.print(protocol_table(engine))
            console.print(f"journal: [bold]{journal}[/] ({len(store)} blocks)", markup=False)
        console.print(f"final state root: {engine.state_root()}")
    finally:
        store.close()


def _failed(height: int, reason: str, verified: int) -> NoReturn:
    fail(f"FAILED at block {height}: {reason}; {verified} blocks verified before it", 1)


@app.command()
def verify(
    journal: str = typer.Argument(..., help=_LOCATION_HELP),
    expect_root: str | None = typer.Option(
        None, "--expect-root", help="State root (64 hex) the journal must end in, from an independent record."
    ),
    expect_height: int | None = typer.Option(
        None, "--expect-height", min=1, help="Height the journal must end at, from an independent record."
    ),
    expect_sth: Path | None = typer.Option(
        None, "--expect-sth", help="Signed tree head (clearhouse tlog sth) the journal's history must match."
    ),
    book: bool = typer.Option(
        False, "--book", help="Also replay the blocks' order-book inputs and check that each block's "
        "fills are exactly the fills the book produces (docs/book.md)."
    ),
) -> None:
    """Replay a journal from genesis; check every state root and the hash chain.

    Opens the journal read-only. Exits 0 and prints the final root if the journal is intact (and matches
    --expect-root/--expect-height); exits 1 naming the first bad block; 2 if it is not a journal.
    """
    from clearhouse.journal.replay import verify_journal

    if expect_root is not None:
        expect_root = expect_root.lower()
        if not _HEX64.fullmatch(expect_root):
            fail(f"--expect-root must be 64 hex characters, got {expect_root!r}")
    roots: dict[int, str] = {}

    def on_root(height: int, root: str) -> None:
        if height == expect_height or root == expect_root:
            roots.setdefault(height, root)

    with open_read_only(journal) as store:
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
            report, engine = verify_journal(
                store, progress=lambda h: progress.update(task, completed=h), on_root=on_root
            )
    if not report.ok:
        _failed(report.bad_height or report.blocks + 1, report.reason, report.blocks)
    n = report.blocks
    if n == 0:
        fail(f"FAILED: {journal} is a clearhouse journal with no blocks; there is nothing to verify", 1)
    if expect_height is not None and n != expect_height:
        if n < expect_height:
            _failed(n + 1, f"missing: the journal ends at block {n}, --expect-height is {expect_height}", n)
        _failed(
            expect_height + 1,
            f"unexpected: the journal goes on to block {n}, --expect-height is {expect_height}",
            expect_height,
        )
    if expect_root is not None and report.final_root != expect_root:
        seen = [h for h, r in sorted(roots.items()) if r == expect_root]
        if seen:
            h = seen[-1]
            _failed(
                h + 1, f"unexpected: the expected root is the root after block {h}, the journal goes on", h
            )
        _failed(n, f"state root {report.final_root} is not the expected root {expect_root}", n - 1)
    if expect_sth is not None:
        console.print(proofs.check_journal_against_sth(journal, expect_sth, n), markup=False)
    if book:
        _verify_book(journal, engine)
    console.print(f"OK {n} blocks verified" + (" (root and height as expected)" if expect_root else ""))
    console.print(f"final state root: {report.final_root}")


def _verify_book(journal: str, engine: Engine) -> None:
    """``verify --book``: replay the journal's book inputs (the book of the first order's market, with the
    engine's tick/step/band and chain id at the journal's end) and check every block's fills."""
    from clearhouse.book.book import BookConfig
    from clearhouse.book.journal import BookJournalError, verify_book
    from clearhouse.ledger.block import decode_block
    from clearhouse.mechanisms.signing.admission import ledger_auth

    state = engine.state
    auth = ledger_auth(state)

    def config(market: str) -> BookConfig:
        m = state.markets.get(market)
        if m is None or auth is None:
            _failed(1, f"the book's market {market!r} (or the chain id) is not in the journal's state", 0)
        return BookConfig(auth.chain_id, market, tick_size=1, step_size=m.spec.step_size,
                          band=m.spec.price_band)

    with open_read_only(journal) as store:
        try:
            rep = verify_book(lambda: (decode_block(r.block) for r in store.rows()), config)
        except BookJournalError as err:
            _failed(err.height, f"book: {err}", err.height - 1)
    console.print(
        f"book OK: {rep.blocks} blocks with book inputs, {rep.inputs} inputs, {rep.fills} fills as the book "
        f"produces them; {rep.resting} orders resting, book root {rep.root or '-'}",
        markup=False,
    )


@app.command()
def risk(
    journal: str = typer.Argument(..., help=_LOCATION_HELP),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the views as JSON to this file."),
) -> None:
    """Risk views of the state a journal ends in: per account, per position, per market."""
    from clearhouse.cli.risk_report import risk_tables, risk_views
    from clearhouse.journal.replay import verify_journal

    if json_out is not None and json_out.is_dir():
        fail(f"--json {json_out} is a folder; give a file name")
    if json_out is not None and not json_out.parent.is_dir():
        fail(f"--json {json_out}: folder {json_out.parent} does not exist")
    with open_read_only(journal) as store:
        report, engine = verify_journal(store)
    if not report.ok:
        _failed(report.bad_height or report.blocks + 1, report.reason, report.blocks)
    if report.blocks == 0:
        fail(f"{journal} is a clearhouse journal with no blocks; there is no state to show", 1)
    views = risk_views(engine.state)
    for table in risk_tables(views):
        console.print(table)
    if json_out is not None:
        import json

        try:
            json_out.write_text(json.dumps(views, indent=2))
        except OSError as err:
            fail(f"cannot write {json_out}: {err}", 1)
        console.print(f"wrote {json_out}", markup=False)


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
        fail(f"no benchmarks/{name}.py here: run from the repository root")
    sys.path.insert(0, str(Path.cwd()))
    sys.argv = [f"benchmarks.{name}", *ctx.args]
    runpy.run_module(f"benchmarks.{name}", run_name="__main__")


if __name__ == "__main__":  # pragma: no cover
    app()
