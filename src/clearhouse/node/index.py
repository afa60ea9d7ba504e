"""The node's index of transaction outcomes by hash (SQLite ``node.sqlite`` in the data directory).

Everything in it is derived from the journal (:func:`clearhouse.node.txs.outcomes` of each block), so
it is written *after* a block is journalled, and on restart the blocks the index misses (a crash between
the two writes) are re-derived from the journal; rows above the journal head cannot exist. A transaction
is therefore never reported included unless its block is in the journal.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import msgspec

from clearhouse.node.txs import Outcome

_SCHEMA = """
CREATE TABLE IF NOT EXISTS txs (
    hash TEXT NOT NULL, height INTEGER NOT NULL, idx INTEGER, status TEXT NOT NULL,
    code TEXT, message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS txs_hash ON txs(hash);
CREATE INDEX IF NOT EXISTS txs_height ON txs(height);
CREATE TABLE IF NOT EXISTS indexed (height INTEGER NOT NULL);
"""


class TxRecord(msgspec.Struct, frozen=True):
    hash: str
    height: int
    index: int | None
    status: str
    code: str | None
    message: str


_COLS = "hash, height, idx, status, code, message"


class NodeIndex:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        if self.db.execute("SELECT COUNT(*) FROM indexed").fetchone()[0] == 0:
            self.db.execute("INSERT INTO indexed VALUES (0)")

    def close(self) -> None:
        self.db.close()

    @property
    def height(self) -> int:
        """The last block whose outcomes are indexed."""
        return int(self.db.execute("SELECT height FROM indexed").fetchone()[0])

    def truncate_above(self, height: int) -> None:
        self.db.execute("BEGIN")
        self.db.execute("DELETE FROM txs WHERE height > ?", (height,))
        self.db.execute("UPDATE indexed SET height = MIN(height, ?)", (height,))
        self.db.execute("COMMIT")

    def record(self, height: int, outcomes: Sequence[Outcome]) -> None:
        """The outcomes of a journalled block, in one transaction."""
        self.db.execute("BEGIN")
        try:
            self.db.executemany(
                f"INSERT INTO txs ({_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
                [(o.tx_hash, o.height, o.index, o.status, o.code, o.message) for o in outcomes],
            )
            self.db.execute("UPDATE indexed SET height = ?", (height,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def get(self, tx_hash: str) -> TxRecord | None:
        """The latest outcome of ``tx_hash`` that used it up (an included or failed one wins over an
        earlier refusal of the same bytes)."""
        rows = self.db.execute(
            f"SELECT {_COLS} FROM txs WHERE hash = ? ORDER BY idx IS NOT NULL, height", (tx_hash,)
        ).fetchall()
        return None if not rows else TxRecord(*rows[-1])

    def outcomes_at(self, height: int) -> list[TxRecord]:
        rows = self.db.execute(
            f"SELECT {_COLS} FROM txs WHERE height = ? ORDER BY idx IS NULL, idx, rowid", (height,)
        ).fetchall()
        return [TxRecord(*r) for r in rows]


def outcome_dict(o: TxRecord) -> dict[str, object]:
    return {"hash": o.hash, "status": o.status, "index": o.index, "code": o.code}
