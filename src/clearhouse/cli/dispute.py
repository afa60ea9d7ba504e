"""``clearhouse dispute JOURNAL_A JOURNAL_B`` and ``clearhouse check-step STEP.json``.

``dispute`` opens both journals read-only, bisects to the first differing block, finds the step and
writes (or prints) the one-step proof; it exits 0 when the journals agree, 1 when they diverge, 2 on bad
input. ``check-step`` needs only the proof: exit 0 when it is authentic and re-executes (it prints which
claim matches), 1 with a one-line reason otherwise. `register(app)` adds both commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from clearhouse.cli.errors import fail
from clearhouse.cli.proofs import console, invalid, read_input, write_output
from clearhouse.ledger.errors import ClearhouseError

_JOURNAL_HELP = "Journal location (path, sqlite:///..., postgresql://...); opened read-only."


def dispute(
    journal_a: str = typer.Argument(..., help=_JOURNAL_HELP),
    journal_b: str = typer.Argument(..., help=_JOURNAL_HELP),
    out: Path | None = typer.Option(None, "--out", help="Write the one-step proof here (never overwrites)."),
) -> None:
    """Find the first block and transaction where two journals disagree; emit a one-step proof."""
    from clearhouse.cli.journal_access import open_read_only
    from clearhouse.proofs.dispute import check_step, encode_step, first_divergence, make_step

    with open_read_only(journal_a) as a, open_read_only(journal_b) as b:
        div = first_divergence(a, b)
        if div.kind == "none":
            console.print(f"no dispute: {div.detail}", markup=False)
            return
        if div.kind != "execution":
            console.print(f"divergence at block {div.height}: {div.detail}", markup=False)
            raise typer.Exit(1)
        try:
            div, proof = make_step(a, b, ("A", "B"))
        except ClearhouseError as err:
            console.print(f"divergence at block {div.height}: {div.detail}", markup=False)
            fail(f"no one-step proof: {err}", 1)
    verdict = check_step(proof)
    step = "the block start" if proof.tx_index < 0 else f"transaction {proof.tx_index} of {proof.tx_count}"
    console.print(f"divergence at block {div.height}, {step}: {div.detail}", markup=False)
    for name, ok in verdict.matches.items():
        journal = journal_a if name == "A" else journal_b
        console.print(
            f"  {name} ({journal}): {'matches re-execution' if ok else 'DIFFERS from re-execution'}",
            markup=False,
        )
    write_output(encode_step(proof), out)
    raise typer.Exit(1)


def check_step_cmd(
    step_file: Path = typer.Argument(..., help="One-step proof JSON (clearhouse dispute)."),
) -> None:
    """Re-execute a one-step proof alone: authenticate its witness, run the step, compare the claims."""
    from clearhouse.proofs.dispute import check_step, decode_step

    try:
        verdict = check_step(decode_step(read_input(step_file)))
    except ClearhouseError as err:
        invalid(str(err))
    step = "block start" if verdict.tx_index < 0 else f"transaction {verdict.tx_index}"
    root = f", block root {verdict.block_root}" if verdict.block_root else ""
    console.print(f"valid: block {verdict.height}, {step} re-executed{root}", markup=False)
    for name, ok in verdict.matches.items():
        row = verdict.row_hashes[name]
        console.print(f"  claim {name}: {'matches' if ok else 'differs'} (its row hash {row})", markup=False)
    for note in verdict.assumptions:
        console.print(f"  assumption: {note}", markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``clearhouse`` app."""
    app.command("dispute")(dispute)
    app.command("check-step")(check_step_cmd)

