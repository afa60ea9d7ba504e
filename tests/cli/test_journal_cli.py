"""verify / risk / demo against things that are not journals (issue 9 items 2-5): read-only opens,
"not a clearhouse journal", no overwrite without --overwrite, URL semantics, anchors, one-line errors."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from clearhouse.cli.main import app

runner = CliRunner()


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the sha256 of its bytes (to prove nothing was written)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _one_line_error(result: Result, code: int, needle: str) -> None:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr


def _foreign_db(path: Path) -> None:
    con = sqlite3.connect(path)
    with con:
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        con.execute("INSERT INTO notes (body) VALUES ('important')")
    con.close()


def _demo(path: Path | str) -> str:
    result = runner.invoke(app, ["demo", "--journal", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    return result.output.split("final state root:")[1].split()[0]


@pytest.mark.parametrize("command", ["verify", "risk"])
@pytest.mark.parametrize("kind", ["empty file", "foreign sqlite", "text file"])
def test_not_a_journal_is_refused_and_not_written(tmp_path: Path, command: str, kind: str) -> None:
    target = tmp_path / "thing.db"
    if kind == "empty file":
        target.write_bytes(b"")
    elif kind == "foreign sqlite":
        _foreign_db(target)
    else:
        target.write_text("just some text\n" * 20)
    before = _tree(tmp_path)
    result = runner.invoke(app, [command, str(target)])
    _one_line_error(result, 2, "not a clearhouse journal")
    assert _tree(tmp_path) == before  # no tables, no head row, no -wal/-shm files


def test_verify_leaves_a_real_journal_untouched(tmp_path: Path) -> None:
    journal = tmp_path / "demo.sqlite"
    root = _demo(journal)
    before = _tree(tmp_path)
    result = runner.invoke(app, ["verify", str(journal)])
    assert result.exit_code == 0, result.output
    assert root in result.output
    assert _tree(tmp_path) == before


def test_an_empty_journal_does_not_verify(tmp_path: Path) -> None:
    from clearhouse.journal import open_store

    journal = tmp_path / "empty.sqlite"
    open_store(str(journal)).close()  # a genuine journal with its head record and no rows
    _one_line_error(runner.invoke(app, ["verify", str(journal)]), 1, "no blocks")
    _one_line_error(runner.invoke(app, ["risk", str(journal)]), 1, "no blocks")


@pytest.mark.parametrize("kind", ["foreign sqlite", "text file", "empty file"])
@pytest.mark.parametrize("flag", [[], ["--overwrite"]])
def test_demo_never_overwrites_something_that_is_not_a_journal(
    tmp_path: Path, kind: str, flag: list[str]
) -> None:
    target = tmp_path / "x.db"
    if kind == "foreign sqlite":
        _foreign_db(target)
    elif kind == "text file":
        target.write_text("notes\n")
    else:
        target.write_bytes(b"")
    before = _tree(tmp_path)
    result = runner.invoke(app, ["demo", "--journal", str(target), *flag])
    _one_line_error(result, 2, "not a clearhouse journal")
    assert _tree(tmp_path) == before


def test_demo_replaces_a_journal_only_with_overwrite(tmp_path: Path) -> None:
    journal = tmp_path / "demo.sqlite"
    root = _demo(journal)
    before = _tree(tmp_path)
    for flag in ([], ["--no-overwrite"]):
        result = runner.invoke(app, ["demo", "--journal", str(journal), "--quiet", *flag])
        _one_line_error(result, 2, "--overwrite")
    assert _tree(tmp_path) == before
    result = runner.invoke(app, ["demo", "--journal", str(journal), "--quiet", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert root in result.output


def test_sqlite_url_semantics_follow_sqlalchemy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    absolute = tmp_path / "abs" / "j.sqlite"
    absolute.parent.mkdir()
    root = _demo(f"sqlite:///{absolute}")  # sqlite:/// + /abs/... = four slashes: absolute
    assert absolute.exists() and not (tmp_path / str(absolute).lstrip("/")).exists()
    (tmp_path / "rel").mkdir()
    assert _demo("sqlite:///rel/j.sqlite") == root  # three slashes: relative to the current directory
    assert (tmp_path / "rel" / "j.sqlite").exists()
    for location in (f"sqlite:///{absolute}", str(absolute), "sqlite:///rel/j.sqlite", "rel/j.sqlite"):
        verified = runner.invoke(app, ["verify", location])
        assert verified.exit_code == 0 and root in verified.output, (location, verified.output)


def test_verify_postgresql_without_psycopg_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    result = runner.invoke(app, ["verify", "postgresql://nobody@127.0.0.1:1/none"])
    _one_line_error(result, 2, "psycopg")


def test_risk_json_into_a_folder_is_one_line(tmp_path: Path) -> None:
    journal = tmp_path / "demo.sqlite"
    _demo(journal)
    result = runner.invoke(app, ["risk", str(journal), "--json", str(tmp_path)])
    _one_line_error(result, 2, "is a folder")


def _truncate_with_head(journal: Path, keep: int) -> None:
    """Drop the tail and fix the head record consistently: undetectable without an anchor."""
    con = sqlite3.connect(journal)
    with con:
        (hash_,) = con.execute("SELECT row_hash FROM journal_rows WHERE height = ?", (keep,)).fetchone()
        con.execute("DELETE FROM journal_rows WHERE height > ?", (keep,))
        con.execute("UPDATE journal_head SET height = ?, row_hash = ?", (keep, hash_))
    con.close()


def test_expect_height_and_root_catch_a_consistent_truncation(tmp_path: Path) -> None:
    journal = tmp_path / "demo.sqlite"
    root = _demo(journal)
    ok = runner.invoke(app, ["verify", str(journal), "--expect-root", root, "--expect-height", "9"])
    assert ok.exit_code == 0, ok.output
    _truncate_with_head(journal, 8)
    assert runner.invoke(app, ["verify", str(journal)]).exit_code == 0  # by design: the chain is intact
    by_height = runner.invoke(app, ["verify", str(journal), "--expect-height", "9"])
    _one_line_error(by_height, 1, "FAILED at block 9")
    assert "8 blocks verified before it" in by_height.stderr
    by_root = runner.invoke(app, ["verify", str(journal), "--expect-root", root.upper()])
    _one_line_error(by_root, 1, "is not the expected root")


def test_expect_root_names_where_a_longer_journal_passed_the_anchor(tmp_path: Path) -> None:
    from clearhouse.journal import open_store
    from clearhouse.journal.replay import verify_journal

    journal = tmp_path / "demo.sqlite"
    _demo(journal)
    roots: dict[int, str] = {}
    with open_store(str(journal), read_only=True) as store:
        verify_journal(store, on_root=roots.__setitem__)
    result = runner.invoke(app, ["verify", str(journal), "--expect-root", roots[6]])
    _one_line_error(result, 1, "FAILED at block 7")
    assert "6 blocks verified before it" in result.stderr
    bad = runner.invoke(app, ["verify", str(journal), "--expect-root", "xyz"])
    _one_line_error(bad, 2, "--expect-root")


def test_a_missing_head_record_reads_like_every_other_failure(tmp_path: Path) -> None:
    journal = tmp_path / "demo.sqlite"
    _demo(journal)
    con = sqlite3.connect(journal)
    with con:
        con.execute("DELETE FROM journal_head")
    con.close()
    result = runner.invoke(app, ["verify", str(journal)])
    _one_line_error(result, 1, "FAILED at block 1")
    assert "0 blocks verified before it" in result.stderr


@pytest.mark.skipif(
    not os.environ.get("CLEARHOUSE_TEST_POSTGRES_DSN", "").startswith("postgres"),
    reason="set CLEARHOUSE_TEST_POSTGRES_DSN to run the PostgreSQL journal tests",
)
def test_postgres_verify_is_read_only_and_refuses_a_missing_journal() -> None:
    import uuid

    import psycopg

    dsn = os.environ["CLEARHOUSE_TEST_POSTGRES_DSN"]
    table = f"cli_ro_{uuid.uuid4().hex[:12]}"
    location = f"{dsn}?journal_table={table}" if "?" not in dsn else f"{dsn}&journal_table={table}"
    try:
        result = runner.invoke(app, ["verify", location])
        _one_line_error(result, 2, "not a clearhouse journal")
        with psycopg.connect(dsn) as con:
            assert con.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,)  # nothing created
        root = _demo(location)
        ok = runner.invoke(app, ["verify", location, "--expect-height", "9", "--expect-root", root])
        assert ok.exit_code == 0, ok.output
        from clearhouse.journal import open_store
        from clearhouse.journal.rows import make_row
        from clearhouse.ledger.errors import JournalError

        with open_store(location, read_only=True) as store:
            head = store.head()
            assert head is not None
            with pytest.raises(JournalError, match="read-only"):
                store.append(make_row(10, b"{}", b"[]", "00" * 32, head.row_hash))
    finally:
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(f"DROP TABLE IF EXISTS {table}, {table}_head")


def test_verify_of_an_unreachable_postgresql_server_is_one_line() -> None:
    pytest.importorskip("psycopg")
    result = runner.invoke(app, ["verify", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"])
    _one_line_error(result, 2, "cannot connect")
