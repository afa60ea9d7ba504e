"""The node's own index beside the journal (SQLite ``node.sqlite`` in the data directory).

The journal holds blocks of bare commands; the index holds what only the node knows: each envelope's hash
and outcome, and the edge authentication effects of every block (nonces used, order fills, sub-key
changes). A block's index rows are committed *before* the engine journals the block; a restart deletes
rows above the journal's head (their block never committed, and none of their transactions was ever
reported included), then rebuilds the statuses of failed commands from the journalled events. So the
index never claims more than the journal holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from clearhouse.auth.orders import Order
from clearhouse.node.txs import BlockPlan, Outcome

_SCHEMA = """
CREATE TABLE IF NOT EXISTS txs (
    hash TEXT PRIMARY KEY, height INTEGER NOT NULL, idx INTEGER, status TEXT NOT NULL,
    code TEXT, message TEXT NOT NULL DEFAULT '', raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS txs_height ON txs(height);
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY, time INTEGER NOT NULL, effects BLOB NOT NULL
);
"""


class Effects(msgspec.Struct, frozen=True):
    nonces: list[tuple[str, int]]
    fills: list[tuple[int, str, Order, int]]
    keys: list[tuple[str, str, str]]


_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(Effects)


class TxRecord(msgspec.Struct, frozen=True):
    hash: str
    height: int
    index: int | None
    status: str
    code: str | None
    message: str


class NodeIndex:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def truncate_above(self, height: int) -> int:
        """Forget blocks above the journal head (never committed); returns how many txs were dropped."""
        cur = self.db.execute("SELECT COUNT(*) FROM txs WHERE height > ?", (height,))
        n = int(cur.fetchone()[0])
        self.db.execute("BEGIN")
        self.db.execute("DELETE FROM txs WHERE height > ?", (height,))
        self.db.execute("DELETE FROM blocks WHERE height > ?", (height,))
        self.db.execute("COMMIT")
        return n

    def record_block(self, height: int, time: int, plan: BlockPlan, raws: dict[str, bytes]) -> None:
        """One transaction: the block's effects and every envelope's outcome (before journalling)."""
        fills = [(i, oid, order, filled) for i, fs in sorted(plan.fills.items()) for oid, order, filled in fs]
        effects = _enc.encode(Effects(plan.nonces, fills, plan.keys))
        rows = [(o.tx_hash, height, o.index, o.status, o.code, o.message, raws[o.tx_hash]) for o in plan.outcomes]
        self.db.execute("BEGIN")
        try:
            self.db.execute("INSERT INTO blocks VALUES (?, ?, ?)", (height, time, effects))
            self.db.executemany("INSERT OR REPLACE INTO txs VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def mark_failed(self, height: int, failed: Sequence[tuple[int, str, str]]) -> None:
        """Commands of ``height`` the engine refused: (block index, code, message)."""
        if failed:
            self.db.executemany(
                "UPDATE txs SET status = 'failed', code = ?, message = ? WHERE height = ? AND idx = ?",
                [(code, msg, height, i) for i, code, msg in failed],
            )

    def get(self, tx_hash: str) -> TxRecord | None:
        row = self.db.execute(
            "SELECT hash, height, idx, status, code, message FROM txs WHERE hash = ?", (tx_hash,)
        ).fetchone()
        return None if row is None else TxRecord(*row)

    def raw(self, tx_hash: str) -> bytes | None:
        row = self.db.execute("SELECT raw FROM txs WHERE hash = ?", (tx_hash,)).fetchone()
        return None if row is None else bytes(row[0])

    def outcomes_at(self, height: int) -> list[TxRecord]:
        rows = self.db.execute(
            "SELECT hash, height, idx, status, code, message FROM txs WHERE height = ? "
            "ORDER BY idx IS NULL, idx, rowid", (height,),
        ).fetchall()
        return [TxRecord(*r) for r in rows]

    def blocks(self) -> Iterator[tuple[int, int, Effects]]:
        for height, time, effects in self.db.execute("SELECT height, time, effects FROM blocks ORDER BY height"):
            yield height, time, _dec.decode(effects)

    def heights(self) -> set[int]:
        return {int(r[0]) for r in self.db.execute("SELECT height FROM blocks")}


def outcome_dict(o: Outcome | TxRecord) -> dict[str, object]:
    if isinstance(o, Outcome):
        return {"hash": o.tx_hash, "status": o.status, "index": o.index, "code": o.code}
    return {"hash": o.hash, "status": o.status, "index": o.index, "code": o.code}
