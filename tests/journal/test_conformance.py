"""One conformance suite for every journal store (memory, SQLite, PostgreSQL), plus the chain check itself.

``TestJournalStoreConformance`` runs once per store through the parametrised ``harness`` fixture: a new
store passes when it passes this class, unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from clearhouse.journal import open_store
from clearhouse.journal.rows import (
    GENESIS_HASH,
    ChainFault,
    CorruptRow,
    JournalRow,
    check_chain,
    make_row,
    row_hash,
)
from clearhouse.journal.store import JournalStore
from clearhouse.ledger.errors import JournalError

if TYPE_CHECKING:
    from conftest import Harness, PostgresHarness

Chain = Callable[..., list[JournalRow]]


def assert_untouched(store: JournalStore, rows: list[JournalRow]) -> None:
    """The journal holds exactly ``rows`` and still verifies: a refusal wrote nothing."""
    assert len(store) == len(rows)
    assert store.head() == (rows[-1] if rows else None)
    assert list(store.rows()) == rows
    report = store.verify_chain()
    assert report.ok, report
    assert report.count == len(rows)


class TestJournalStoreConformance:
    # -- reading back -----------------------------------------------------------------------------------

    def test_empty_journal(self, harness: Harness) -> None:
        store = harness.open(verify=True)
        assert len(store) == 0
        assert store.head() is None
        assert store.get(1) is None
        assert list(store.rows()) == []
        report = store.verify_chain()
        assert report.ok
        assert (report.count, report.head_height, report.head_hash) == (0, 0, GENESIS_HASH)
        assert bool(store), "an empty but open store must not test false"

    def test_append_reads_back_byte_identical(self, harness: Harness, chain: Chain) -> None:
        store = harness.open()
        rows = chain(12)
        big = make_row(13, os.urandom(300_000), b"\x00" * 1000 + b"\xff", "f" * 64, rows[-1].row_hash)
        for row in [*rows, big]:
            store.append(row)
        stored = list(store.rows())
        assert stored == [*rows, big]
        for got, want in zip(stored, [*rows, big], strict=True):
            assert type(got.block) is bytes and type(got.events) is bytes
            assert (got.block, got.events) == (want.block, want.events)
        assert store.get(13) == big

    def test_head_and_len_follow_appends(self, harness: Harness, chain: Chain) -> None:
        store = harness.open()
        for row in chain(5):
            store.append(row)
            assert store.head() == row
            assert len(store) == row.height
        report = store.verify_chain()
        assert report.ok and report.count == 5 and report.head_hash == store.head().row_hash  # type: ignore[union-attr]

    def test_rows_from_start(self, harness: Harness, chain: Chain) -> None:
        store = harness.open()
        rows = chain(8)
        store.append_many(rows)
        assert list(store.rows(1)) == rows
        assert list(store.rows(4)) == rows[3:]
        assert list(store.rows(8)) == rows[7:]
        assert list(store.rows(9)) == []
        assert list(store.rows(1000)) == []
        for bad in (0, -1):
            with pytest.raises(JournalError):
                store.rows(bad)

    def test_rows_streams_across_pages_and_sees_later_appends(self, harness: Harness, chain: Chain) -> None:
        store = harness.open()
        rows = chain(1203)  # more than one page in every store
        store.append_many(rows[:1200])
        it: Iterator[JournalRow] = store.rows()
        first = [next(it) for _ in range(3)]
        store.append_many(rows[1200:])
        assert first + list(it) == rows
        assert [r.height for r in store.rows(1199)] == [1199, 1200, 1201, 1202, 1203]

    def test_get(self, harness: Harness, chain: Chain) -> None:
        store = harness.open()
        rows = chain(4)
        store.append_many(rows)
        assert [store.get(h) for h in (1, 2, 3, 4)] == rows
        assert store.get(5) is None
        assert store.get(0) is None
        assert store.get(True) is None  # a bool is not a height
        assert store.get(2**63) is None

    # -- refusals ---------------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "kind", ["height_skips", "height_repeats", "wrong_prev_hash", "stale_row_hash", "forged_row_hash"]
    )
    def test_refuses_bad_row_and_writes_nothing(self, harness: Harness, chain: Chain, kind: str) -> None:
        store = harness.open()
        rows = chain(5)
        store.append_many(rows[:4])
        good = rows[4]
        bad = {
            "height_skips": make_row(6, good.block, good.events, good.state_root, good.prev_hash),
            "height_repeats": rows[3],
            "wrong_prev_hash": make_row(5, good.block, good.events, good.state_root, rows[2].row_hash),
            "stale_row_hash": replace(good, block=good.block + b"!"),
            "forged_row_hash": replace(good, row_hash="ab" * 32),
        }[kind]
        with pytest.raises(JournalError, match="journal refuses row at height"):
            store.append(bad)
        assert_untouched(store, rows[:4])
        if harness.persistent:
            store = harness.reopen(store, verify=True)
            assert_untouched(store, rows[:4])
        store.append(good)
        assert_untouched(store, rows)

    def test_refuses_bad_first_row(self, harness: Harness, chain: Chain) -> None:
        store = harness.open()
        first = chain(1)[0]
        with pytest.raises(JournalError, match="next row must have height 1"):
            store.append(chain(1, start=2, prev_hash=first.row_hash)[0])
        with pytest.raises(JournalError, match="prev_hash"):
            store.append(make_row(1, first.block, first.events, first.state_root, "11" * 32))
        with pytest.raises(JournalError):
            store.append("not a row")  # type: ignore[arg-type]
        assert_untouched(store, [])

    def test_append_many_is_all_or_nothing(self, harness: Harness, chain: Chain) -> None:
        store = harness.open()
        rows = chain(10)
        store.append_many(rows[:3])
        broken = [*rows[3:6], replace(rows[6], events=b"tampered"), *rows[7:]]
        with pytest.raises(JournalError, match="height 7"):
            store.append_many(broken)
        assert_untouched(store, rows[:3])
        store.append_many([])
        store.append_many(iter(rows[3:]))
        assert_untouched(store, rows)

    # -- lifecycle --------------------------------------------------------------------------------------

    def test_persists_across_reopen(self, db_harness: Harness, chain: Chain) -> None:
        harness = db_harness
        rows = chain(20)
        store = harness.open()
        store.append_many(rows[:10])
        store = harness.reopen(store, verify=True)
        assert_untouched(store, rows[:10])
        for row in rows[10:]:
            store.append(row)
        store = harness.reopen(store, verify=True)
        assert_untouched(store, rows)

    def test_closed_store_refuses_use(self, harness: Harness, chain: Chain) -> None:
        rows = chain(2)
        with harness.open() as store:
            store.append(rows[0])
        assert store.closed
        store.close()  # idempotent
        for call in (lambda: store.append(rows[1]), store.head, lambda: len(store), store.verify_chain):
            with pytest.raises(JournalError, match="closed"):
                call()
        with pytest.raises(JournalError, match="closed"):
            list(store.rows())

    def test_concurrent_writers_cannot_both_append_a_height(self, db_harness: Harness, chain: Chain) -> None:
        harness = db_harness
        a, b = harness.open(), harness.open()
        winners: list[str] = []
        errors: list[BaseException] = []
        prev = GENESIS_HASH
        for height in range(1, 6):
            row_a = chain(1, start=height, prev_hash=prev, salt=b"a")[0]
            row_b = chain(1, start=height, prev_hash=prev, salt=b"b")[0]
            barrier = threading.Barrier(2)

            def write(store: JournalStore, row: JournalRow, name: str, barrier: threading.Barrier) -> None:
                barrier.wait()
                try:
                    store.append(row)
                    winners.append(name)
                except JournalError as exc:
                    errors.append(exc)

            threads = [
                threading.Thread(target=write, args=(a, row_a, "a", barrier)),
                threading.Thread(target=write, args=(b, row_b, "b", barrier)),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert len(winners) == height, (winners, errors)
            assert len(errors) == height
            prev = (row_a if winners[-1] == "a" else row_b).row_hash
        report = a.verify_chain()
        assert report.ok and report.count == 5 and report.head_hash == prev

    def test_verify_sees_one_snapshot_while_a_writer_appends(self, db_harness: Harness, chain: Chain) -> None:
        # Reading the head record and the rows at different moments would report a healthy journal,
        # caught mid-append, as truncated or over-long.
        writer, reader = db_harness.open(), db_harness.open()
        rows = chain(150)
        done = threading.Event()

        def write() -> None:
            try:
                for row in rows:
                    writer.append(row)
            finally:
                done.set()

        thread = threading.Thread(target=write)
        thread.start()
        reports = []
        while not done.is_set():
            reports.append(reader.verify_chain())
        thread.join(timeout=60)
        reports.append(reader.verify_chain())
        assert all(r.ok for r in reports), [r for r in reports if not r.ok][:1]
        assert reports[-1].count == 150

    # -- tampering with storage, detected by verify_chain (and by opening with verify) ------------------

    def _tampered(self, harness: Harness, rows: list[JournalRow], tamper: Callable[[], None]) -> JournalStore:
        store = harness.open()
        store.append_many(rows)
        tamper()
        if harness.persistent:
            with pytest.raises(JournalError, match="journal chain is broken at height"):
                harness.reopen(store, verify=True)
        return harness.open()

    @pytest.mark.parametrize("field", ["block", "events", "state_root", "prev_hash", "row_hash"])
    def test_detects_edited_row(self, harness: Harness, chain: Chain, field: str) -> None:
        rows = chain(10)
        edits: dict[str, object] = {
            "block": rows[4].block[:-1] + bytes([rows[4].block[-1] ^ 1]),  # one flipped bit
            "events": rows[4].events + b"\x00",
            "state_root": "0" * 64,
            "prev_hash": rows[2].row_hash,
            "row_hash": rows[5].row_hash,
        }
        store = self._tampered(
            harness, rows, lambda: harness.overwrite_row(replace(rows[4], **{field: edits[field]}))
        )
        report = store.verify_chain()
        assert not report.ok
        assert (report.bad_height, report.fault) == (5, ChainFault.EDITED)
        assert (report.count, report.head_height, report.head_hash) == (4, 4, rows[3].row_hash)
        assert "row 5" in report.detail

    def test_detects_relinked_row(self, harness: Harness, chain: Chain) -> None:
        rows = chain(10)
        # Self-consistent row 5 (hash recomputed) that points at the wrong predecessor.
        forged = make_row(5, rows[4].block, rows[4].events, rows[4].state_root, rows[2].row_hash)
        store = self._tampered(harness, rows, lambda: harness.overwrite_row(forged))
        report = store.verify_chain()
        assert (report.ok, report.bad_height, report.fault) == (False, 5, ChainFault.BROKEN_LINK)

    def test_detects_deleted_middle_row(self, harness: Harness, chain: Chain) -> None:
        rows = chain(10)
        store = self._tampered(harness, rows, lambda: harness.delete_rows([5]))
        report = store.verify_chain()
        assert (report.ok, report.bad_height, report.fault) == (False, 5, ChainFault.GAP)
        assert report.count == 4

    def test_detects_deleted_tail_and_refuses_to_append_onto_it(self, harness: Harness, chain: Chain) -> None:
        rows = chain(10)
        store = self._tampered(harness, rows, lambda: harness.delete_rows([8, 9, 10]))
        report = store.verify_chain()
        assert (report.ok, report.bad_height, report.fault) == (False, 8, ChainFault.TRUNCATED)
        assert (report.count, report.head_hash) == (7, rows[6].row_hash)
        # The rows left form a valid chain; only the head record knows better. Appending must not hide it.
        with pytest.raises(JournalError, match="damaged"):
            store.append(rows[7])
        assert store.verify_chain().fault is ChainFault.TRUNCATED

    def test_detects_all_rows_deleted(self, harness: Harness, chain: Chain) -> None:
        rows = chain(4)
        store = self._tampered(harness, rows, lambda: harness.delete_rows([1, 2, 3, 4]))
        report = store.verify_chain()
        assert (report.ok, report.bad_height, report.fault) == (False, 1, ChainFault.TRUNCATED)

    def test_detects_swapped_rows(self, harness: Harness, chain: Chain) -> None:
        rows = chain(10)
        store = self._tampered(harness, rows, lambda: harness.swap_rows(rows[2], rows[5]))
        report = store.verify_chain()
        assert not report.ok
        assert report.bad_height == 3
        assert report.fault in (ChainFault.EDITED, ChainFault.REORDERED)

    def test_detects_rewritten_head_row(self, harness: Harness, chain: Chain) -> None:
        rows = chain(10)
        # A consistent replacement of the last row: only the head record can tell.
        forged = make_row(10, b"other block", rows[9].events, rows[9].state_root, rows[9].prev_hash)
        store = self._tampered(harness, rows, lambda: harness.overwrite_row(forged))
        report = store.verify_chain()
        assert (report.ok, report.bad_height, report.fault) == (False, 10, ChainFault.HEAD_MISMATCH)
        assert (report.count, report.head_hash) == (9, rows[8].row_hash)
        with pytest.raises(JournalError, match="damaged"):
            store.append(chain(11)[10])

    def test_detects_missing_head_record(self, harness: Harness, chain: Chain) -> None:
        rows = chain(3)
        store = self._tampered(harness, rows, harness.delete_head_record)
        report = store.verify_chain()
        assert (report.ok, report.bad_height, report.fault) == (False, 1, ChainFault.HEAD_MISSING)
        with pytest.raises(JournalError, match="head record is missing"):
            store.append(chain(4)[3])

    def test_detects_unreadable_row(self, db_harness: Harness, chain: Chain) -> None:
        harness = db_harness
        rows = chain(6)
        store = self._tampered(harness, rows, lambda: harness.corrupt_state_root(4, "not hex"))
        report = store.verify_chain()
        assert (report.ok, report.bad_height, report.fault) == (False, 4, ChainFault.MALFORMED)
        with pytest.raises(CorruptRow) as info:
            list(store.rows())
        assert info.value.height == 4


# -- the chain check and row hashing, independent of any store ------------------------------------------


class TestRowsAndChainCheck:
    def test_row_hash_is_pinned(self) -> None:
        # Changing the encoding changes every journal's hashes: this vector makes that a deliberate act.
        assert (
            row_hash(1, b"block", b"events", "ab" * 32, GENESIS_HASH)
            == "22e12f41c9485199209a650b9a460b42cdf84dca5e0752c9202755b74c53b7bb"
        )

    def test_row_hash_separates_fields(self) -> None:
        base = row_hash(1, b"ab", b"c", "ab" * 32, GENESIS_HASH)
        assert row_hash(1, b"a", b"bc", "ab" * 32, GENESIS_HASH) != base
        assert row_hash(2, b"ab", b"c", "ab" * 32, GENESIS_HASH) != base
        assert row_hash(1, b"ab", b"c", "ab" * 32, "01" * 32) != base

    @pytest.mark.parametrize(
        "fields",
        [
            {"height": 0},
            {"height": True},
            {"height": 2**63},
            {"block": "text"},
            {"events": bytearray(b"x")},
            {"state_root": "AB" * 32},
            {"state_root": "ab" * 31},
            {"prev_hash": " " + "0" * 63},
            {"row_hash": "g" * 64},
        ],
    )
    def test_row_rejects_bad_fields(self, fields: dict[str, object]) -> None:
        good = make_row(1, b"b", b"e", "ab" * 32, GENESIS_HASH)
        values: dict[str, object] = {
            "height": good.height,
            "block": good.block,
            "events": good.events,
            "state_root": good.state_root,
            "prev_hash": good.prev_hash,
            "row_hash": good.row_hash,
            **fields,
        }
        with pytest.raises(JournalError):
            JournalRow(**values)  # type: ignore[arg-type]

    def test_ok_report(self, chain: Chain) -> None:
        rows = chain(5)
        report = check_chain(rows)
        assert report.ok and report.count == 5 and report.head_hash == rows[-1].row_hash
        report.raise_if_bad()
        assert check_chain(rows, recorded_head=(5, rows[-1].row_hash)).ok
        assert check_chain([]).ok

    def test_reordered(self, chain: Chain) -> None:
        r = chain(6)
        report = check_chain([r[0], r[1], r[3], r[2], r[4], r[5]])
        assert (report.bad_height, report.fault, report.count) == (3, ChainFault.REORDERED, 2)
        assert check_chain([r[0], r[1], r[5], r[4], r[3]]).fault is ChainFault.REORDERED
        assert check_chain([r[0], r[1], r[2], r[1]]).bad_height == 4

    def test_gap(self, chain: Chain) -> None:
        r = chain(6)
        report = check_chain([r[0], r[1], r[3], r[4]])
        assert (report.bad_height, report.fault) == (3, ChainFault.GAP)
        assert check_chain(r[1:]).bad_height == 1

    def test_recorded_head(self, chain: Chain) -> None:
        r = chain(6)
        assert check_chain(r[:4], recorded_head=(6, r[5].row_hash)).fault is ChainFault.TRUNCATED
        report = check_chain(r, recorded_head=(4, r[3].row_hash))
        assert (report.bad_height, report.fault) == (5, ChainFault.UNRECORDED)
        assert (report.count, report.head_hash) == (4, r[3].row_hash)
        report = check_chain(r, recorded_head=(0, GENESIS_HASH))
        assert (report.bad_height, report.fault, report.count) == (1, ChainFault.UNRECORDED, 0)
        report = check_chain([], recorded_head=(0, "11" * 32))
        assert (report.bad_height, report.fault) == (1, ChainFault.HEAD_MISMATCH)
        report = check_chain(r, recorded_head=(6, "00" * 32))
        assert (report.bad_height, report.fault, report.head_hash) == (
            6,
            ChainFault.HEAD_MISMATCH,
            r[4].row_hash,
        )

    def test_streams_with_one_row_of_lookahead(self, chain: Chain) -> None:
        r = chain(10)
        pulled: list[int] = []

        def source() -> Iterator[JournalRow]:
            for row in r:
                pulled.append(row.height)
                yield replace(row, events=b"edited") if row.height == 3 else row

        report = check_chain(source())
        assert (report.bad_height, report.fault) == (3, ChainFault.EDITED)
        assert pulled == [1, 2, 3, 4]

    def test_corrupt_row_from_source(self, chain: Chain) -> None:
        r = chain(3)

        def source() -> Iterator[JournalRow]:
            yield r[0]
            raise CorruptRow(2, "unreadable")

        report = check_chain(source())
        assert (report.bad_height, report.fault, report.count) == (2, ChainFault.MALFORMED, 1)

    def test_raise_if_bad(self, chain: Chain) -> None:
        r = chain(3)
        with pytest.raises(JournalError, match=r"height 2 \(gap\)"):
            check_chain([r[0], r[2]]).raise_if_bad()


# -- choosing a store by location ----------------------------------------------------------------------


class TestOpenStore:
    def test_memory(self) -> None:
        with open_store("memory:") as a, open_store("memory:") as b:
            a.append(make_row(1, b"x", b"", "ab" * 32, GENESIS_HASH))
            assert len(a) == 1 and len(b) == 0  # every memory: location is a fresh journal

    def test_sqlite_forms(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chain: Chain) -> None:
        from clearhouse.journal.sqlite import SqliteJournalStore

        rows = chain(2)
        monkeypatch.chdir(tmp_path)
        with open_store("rel.sqlite") as s:
            assert isinstance(s, SqliteJournalStore)
            s.append_many(rows)
        with open_store("sqlite:///rel.sqlite") as s:  # relative, as in SQLAlchemy
            assert list(s.rows()) == rows
        with open_store(f"sqlite:///{tmp_path / 'abs.sqlite'}") as s:  # four slashes: absolute
            s.append(rows[0])
        with open_store(str(tmp_path / "abs.sqlite")) as s:
            assert len(s) == 1

    @pytest.mark.parametrize(
        "location", ["", "   ", "mysql://host/db", "memry:", "sqlite://host/x", "sqlite:///"]
    )
    def test_rejects_unknown_locations(
        self, location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        with pytest.raises(JournalError):
            open_store(location)
        assert list(tmp_path.iterdir()) == []

    def test_sqlite_missing_directory(self, tmp_path: Path) -> None:
        with pytest.raises(JournalError, match="cannot open SQLite journal"):
            open_store(str(tmp_path / "no" / "such" / "dir" / "j.sqlite"))

    def test_verify_on_open_closes_and_raises(self, tmp_path: Path, chain: Chain) -> None:
        import sqlite3

        path = tmp_path / "j.sqlite"
        with open_store(str(path)) as s:
            s.append_many(chain(3))
        conn = sqlite3.connect(path)
        conn.execute("UPDATE journal_rows SET events = x'00' WHERE height = 2")
        conn.commit()
        conn.close()
        with pytest.raises(JournalError, match=r"broken at height 2 \(edited\)"):
            open_store(str(path))
        with open_store(str(path), verify=False) as s:
            assert s.verify_chain().bad_height == 2

    def test_sqlite_uses_wal_and_full_sync(self, tmp_path: Path) -> None:
        from clearhouse.journal.sqlite import SqliteJournalStore

        with open_store(str(tmp_path / "j.sqlite")) as s:
            assert isinstance(s, SqliteJournalStore)
            conn = s._conn
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL

    @pytest.mark.postgres
    def test_postgres_url_with_table(self, postgres_harness: PostgresHarness, chain: Chain) -> None:
        from clearhouse.journal.postgres import PostgresJournalStore

        h = postgres_harness
        if not h.dsn.startswith(("postgresql://", "postgres://")):
            pytest.skip("CLEARHOUSE_TEST_POSTGRES_DSN is not a URL; open_store only takes URLs")
        with open_store(h.location) as s:
            assert isinstance(s, PostgresJournalStore)
            assert s.qualified_name == f"{h.schema}.journal"
            s.append_many(chain(3))
        with h.open(verify=True) as s:
            assert len(s) == 3

    def test_postgres_rejects_unsafe_names(self) -> None:
        pytest.importorskip("psycopg")
        from clearhouse.journal.postgres import PostgresJournalStore

        # Checked before connecting, so no server is needed.
        for schema, table in [
            (None, "Journal"),
            (None, 'j"; drop table x; --'),
            ("a.b", "j"),
            (None, "x" * 59),
        ]:
            with pytest.raises(JournalError, match="must match"):
                PostgresJournalStore("postgresql://unused.invalid/db", schema=schema, table=table)


def test_package_imports_without_psycopg() -> None:
    """The PostgreSQL store must not pull psycopg in at import time (it is an optional dependency)."""
    code = (
        "import sys\n"
        "sys.modules['psycopg'] = None  # any 'import psycopg' now fails\n"
        "import clearhouse.journal.store, clearhouse.journal.postgres, clearhouse.journal.sqlite\n"
        "from clearhouse.journal import open_store\n"
        "s = open_store('memory:'); s.close()\n"
        "try:\n"
        "    clearhouse.journal.postgres.PostgresJournalStore('postgresql://x')\n"
        "except ImportError:\n"
        "    print('lazy')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "lazy"


class TestReadOnlyOpen:
    """``open_store(..., read_only=True)``: what ``verify`` and ``risk`` use; creates nothing."""

    def test_reads_a_journal_a_writer_holds_open_and_refuses_to_append(self, tmp_path: Path) -> None:
        from clearhouse.journal.rows import make_row

        path = tmp_path / "j.sqlite"
        writer = open_store(str(path))
        try:
            row = make_row(1, b"{}", b"[]", "11" * 32, "00" * 32)
            writer.append(row)  # the writer keeps its connection: the -wal file exists
            with open_store(str(path), read_only=True) as reader:
                assert reader.read_only and len(reader) == 1 and reader.verify_chain().ok
                with pytest.raises(JournalError, match="read-only"):
                    reader.append(make_row(2, b"{}", b"[]", "11" * 32, row.row_hash))
            writer.append(make_row(2, b"{}", b"[]", "11" * 32, row.row_hash))
        finally:
            writer.close()

    def test_a_cleanly_closed_journal_is_read_without_creating_files(self, tmp_path: Path) -> None:
        from clearhouse.journal.rows import make_row

        path = tmp_path / "j.sqlite"
        with open_store(str(path)) as s:
            s.append(make_row(1, b"{}", b"[]", "11" * 32, "00" * 32))
        before = sorted(p.name for p in tmp_path.iterdir())
        with open_store(str(path), read_only=True) as reader:
            assert len(reader) == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == before == ["j.sqlite"]

    def test_a_missing_file_is_not_created(self, tmp_path: Path) -> None:
        with pytest.raises(JournalError, match="no journal"):
            open_store(str(tmp_path / "nope.sqlite"), read_only=True)
        assert list(tmp_path.iterdir()) == []
