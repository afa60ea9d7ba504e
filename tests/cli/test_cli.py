"""End-to-end through the command line: the scripted session, verify, tamper detection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from clearhouse.cli.main import app

runner = CliRunner()


def test_demo_writes_a_journal_that_verify_accepts(tmp_path: Path) -> None:
    journal = tmp_path / "demo.sqlite"
    result = runner.invoke(app, ["demo", "--journal", str(journal)])
    assert result.exit_code == 0, result.output
    assert "PositionClosedOut" in result.output and "TransactionRejected" in result.output
    root = result.output.split("final state root:")[1].split()[0]
    assert len(root) == 64

    verified = runner.invoke(app, ["verify", str(journal)])
    assert verified.exit_code == 0, verified.output
    assert "9 blocks verified" in verified.output and root in verified.output


def test_verify_rejects_a_tampered_journal_naming_the_block(tmp_path: Path) -> None:
    journal = tmp_path / "demo.sqlite"
    assert runner.invoke(app, ["demo", "--journal", str(journal), "--quiet"]).exit_code == 0
    con = sqlite3.connect(journal)
    with con:
        con.execute(
            "UPDATE journal_rows SET events=CAST(replace(events, 'alice', 'mallory') AS BLOB) WHERE height=3"
        )
    con.close()
    result = runner.invoke(app, ["verify", str(journal)])
    assert result.exit_code == 1
    assert "FAILED at block 3" in result.output


def test_verify_rejects_a_truncated_journal(tmp_path: Path) -> None:
    journal = tmp_path / "demo.sqlite"
    assert runner.invoke(app, ["demo", "--journal", str(journal), "--quiet"]).exit_code == 0
    con = sqlite3.connect(journal)
    with con:
        con.execute("DELETE FROM journal_rows WHERE height >= 8")
    con.close()
    result = runner.invoke(app, ["verify", str(journal)])
    assert result.exit_code == 1
    assert "block 8" in result.output


def test_verify_of_a_missing_file_exits_non_zero(tmp_path: Path) -> None:
    assert runner.invoke(app, ["verify", str(tmp_path / "nope.sqlite")]).exit_code == 2


def test_risk_views_of_a_journal(tmp_path: Path) -> None:
    journal = tmp_path / "demo.sqlite"
    assert runner.invoke(app, ["demo", "--journal", str(journal), "--quiet"]).exit_code == 0
    out = tmp_path / "risk.json"
    result = runner.invoke(app, ["risk", str(journal), "--json", str(out)])
    assert result.exit_code == 0, result.output
    import json

    views = json.loads(out.read_text())
    assert views["height"] == 9
    by_account = {row["account"]: row for row in views["accounts"]}
    # alice is long 5 ETH-PERP and healthy: a liquidation price below the 1815 index, none above.
    alice = by_account["alice"]
    assert not alice["liquidatable"]
    liq = alice["liquidation_prices"]["ETH-PERP"]
    assert liq["above"] is None and 0 < float(liq["below"]) < 1815
    # bob is short 5: liquidated above the index.
    assert float(by_account["bob"]["liquidation_prices"]["ETH-PERP"]["above"]) > 1815
    assert views["markets"]["ETH-PERP"]["open_interest"] == "5.000"
