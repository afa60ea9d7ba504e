"""The signed demo session: golden roots, same roots under another hash seed, journalled through the CLI
and verified; an altered signature byte in the journal fails ``clearhouse verify`` at that block.

Regenerate the golden file only on an intentional change of the rules or encodings::

    CLEARHOUSE_REGENERATE_GOLDEN=1 pytest tests/auth/test_signed_demo.py -k golden
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearhouse.cli.main import app
from clearhouse.demo.signed_session import signed_session_blocks
from clearhouse.journal import open_store
from clearhouse.journal.rows import make_row
from clearhouse.ledger import events as ev
from clearhouse.ledger.admission import tx_outcomes
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.state_root import full_state_root

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "signed_demo_roots.txt"
runner = CliRunner()


def signed_demo_roots() -> list[tuple[int, str]]:
    engine = Engine()
    roots = []
    for block in signed_session_blocks():
        result = engine.apply_block(block)
        assert result.state_root == full_state_root(engine.state)
        roots.append((block.height, result.state_root))
    return roots


def write_golden() -> None:
    lines = [
        "# <height> <state root> after each block of clearhouse.demo.signed_session; the last is the final.",
        "# Regenerate only on an intentional change: see tests/auth/test_signed_demo.py",
        *(f"{h} {r}" for h, r in signed_demo_roots()),
    ]
    GOLDEN.write_text("\n".join(lines) + "\n")


def test_signed_demo_roots_match_the_golden_file() -> None:
    if os.environ.get("CLEARHOUSE_REGENERATE_GOLDEN") == "1":
        write_golden()
        pytest.skip(f"regenerated {GOLDEN}")
    golden = [
        (int(h), r)
        for h, r in (line.split() for line in GOLDEN.read_text().splitlines() if line and line[0] != "#")
    ]
    assert [h for h, _ in golden] == list(range(1, 10))
    assert signed_demo_roots() == golden


def test_signed_demo_roots_are_the_same_under_another_hash_seed() -> None:
    code = (
        "from clearhouse.demo.signed_session import signed_session_blocks\n"
        "from clearhouse.ledger.engine import Engine\n"
        "e = Engine()\n"
        "for b in signed_session_blocks():\n"
        "    print(b.height, e.apply_block(b).state_root)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [tuple(line.split()) for line in done.stdout.splitlines()] == [
        (str(h), r) for h, r in signed_demo_roots()
    ]


def test_the_session_exercises_every_outcome() -> None:
    engine = Engine()
    statuses: dict[str, set[str]] = {}
    events: list[ev.Event] = []
    for block in signed_session_blocks():
        result = engine.apply_block(block)
        events.extend(result.events)
        for o in tx_outcomes(block, result.events):
            statuses.setdefault(o.status, set()).add(o.code or "")
    assert statuses == {
        "applied": {""},
        "failed": {"insufficient_margin", "not_liquidatable"},
        "refused": {"unauthorized", "nonce_reused", "expired"},
    }
    kinds = {type(e).__name__ for e in events}
    wanted = {"FillCleared", "KeyAuthorized", "ReporterAuthorized", "PositionClosedOut", "AuthConfigured"}
    assert wanted <= kinds
    assert engine.state.auth is not None and engine.state.auth.require_signatures


def test_signed_demo_journals_and_verifies_and_a_flipped_signature_fails_at_its_block(tmp_path: Path) -> None:
    path = tmp_path / "signed.sqlite"
    made = runner.invoke(app, ["demo", "--signed", "--journal", str(path), "--quiet"])
    assert made.exit_code == 0, made.output
    root = made.output.split("final state root:")[1].split()[0]
    assert root == signed_demo_roots()[-1][1]
    ok = runner.invoke(app, ["verify", str(path), "--expect-root", root])
    assert ok.exit_code == 0 and "OK 9 blocks verified" in ok.output
    # flip one hex digit of the first envelope signature in block 3 and re-chain every row after it
    with open_store(str(path), verify=False) as store:
        rows = list(store.rows())
    block = rows[2].block
    i = block.index(b'"signature":"') + len(b'"signature":"') + 7
    block = block[:i] + (b"0" if block[i : i + 1] != b"0" else b"1") + block[i + 1 :]
    rows[2] = make_row(3, block, rows[2].events, rows[2].state_root, rows[2].prev_hash)
    for j in range(3, len(rows)):
        r = rows[j]
        rows[j] = make_row(r.height, r.block, r.events, r.state_root, rows[j - 1].row_hash)
    con = sqlite3.connect(path)
    with con:
        for r in rows[2:]:
            con.execute(
                "UPDATE journal_rows SET block=?, prev_hash=?, row_hash=? WHERE height=?",
                (r.block, r.prev_hash, r.row_hash, r.height),
            )
        con.execute("UPDATE journal_head SET row_hash=?", (rows[-1].row_hash,))
    con.close()
    bad = runner.invoke(app, ["verify", str(path)])
    assert bad.exit_code == 1
    assert "FAILED at block 3" in bad.stderr and "2 blocks verified before it" in bad.stderr
