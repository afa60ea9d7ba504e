"""The mirror's sparse position pools: in-place rewrites, moves, compaction, and the dense views."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from risk_helpers import RAY, E, add_account, empty_state

from clearhouse.ledger.model import Position
from clearhouse.risk.columnar import ColumnarBook, PositionPool

M = 5

# one sync: a few distinct rows, each with a sorted set of columns
rewrites = st.lists(
    st.dictionaries(st.integers(0, 11), st.sets(st.integers(0, M - 1), max_size=M), min_size=1, max_size=6),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(rewrites)
def test_pool_rewrites_keep_every_row_and_stay_in_bounds(syncs: list[dict[int, set[int]]]) -> None:
    """Random rewrites of random rows (moves, in-place rewrites, compactions): each row reads back
    exactly its last positions (ascending column, its own values), regions stay inside the arrays
    and never overlap."""
    n = 12
    pool = PositionPool(2, n, 16)
    expect: dict[int, list[tuple[int, float, float]]] = {}
    for k, sync in enumerate(syncs):
        rows = sorted(sync, key=lambda r: (r * 7 + k) % 12)  # any order of distinct rows
        counts, cols, vals = [], [], []
        for r in rows:
            cs = sorted(sync[r])
            counts.append(len(cs))
            cols += cs
            entries = [(c, float(r * 100 + c), float(k)) for c in cs]
            for _, a, b in entries:
                vals += [a, b]
            expect[r] = entries
        pool.rewrite(n, rows, counts, cols, vals, M)
        assert pool.end <= pool.col.shape[0]
        live = []
        for r in range(n):
            lo, ln = int(pool.start[r]), int(pool.length[r])
            assert ln <= pool.room[r]
            got = [(int(pool.col[p]), *pool.vals[p].tolist()) for p in range(lo, lo + ln)]
            assert got == expect.get(r, [])
            if ln:
                live.append((lo, lo + int(pool.room[r])))
        live.sort()
        assert all(a[1] <= b[0] for a, b in pairwise(live))  # no overlap
    rows_, idx, cols_ = pool.live(n)
    assert rows_.tolist() == [r for r in range(n) for _ in expect.get(r, [])]
    assert cols_.tolist() == [c for r in range(n) for c, _, _ in expect.get(r, [])]
    assert pool.vals[idx, 0].tolist() == [a for r in range(n) for _, a, _ in expect.get(r, [])]


def test_worked_pool_move_and_compaction() -> None:
    """A row that outgrows its region moves to the end with up to two spare slots (at most M in all);
    a full pool is repacked into row order, tight, with a quarter as much again spare."""
    vals = np.array([[1.0], [2.0], [3.0], [4.0]])
    pool = PositionPool.packed(1, 4, np.array([1, 0, 2, 1]), np.array([3, 0, 2, 1]), vals)
    assert pool.start[:4].tolist() == [0, 1, 1, 3] and pool.end == 4 and pool.col.shape[0] == 16
    pool.rewrite(4, [1], [1], [2], [5.0], M)  # row 1 had room 0: moves to 4, room 1 + 2
    assert (pool.start[1], pool.room[1], pool.end) == (4, 3, 7)
    pool.rewrite(4, [1], [3], [0, 1, 4], [6.0, 7.0, 8.0], M)  # fits its room: in place
    assert (pool.start[1], pool.end) == (4, 7)
    pool.rewrite(4, [3], [2], [0, 1], [9.0, 9.5], M)  # row 3 (room 1) moves to 7, room 4
    assert (pool.start[3], pool.room[3], pool.end) == (7, 4, 11)
    pool.rewrite(4, [3], [5], [0, 1, 2, 3, 4], [1.5] * 5, M)  # room capped at M = 5: ends at 16
    assert (pool.start[3], pool.room[3], pool.end, pool.col.shape[0]) == (11, 5, 16, 16)
    pool.rewrite(4, [2], [3], [1, 2, 3], [2.5, 3.5, 4.5], M)  # needs 5 more slots: repack
    # every row tight in row order, row 2 with its new positions: 12 slots, capacity 12 + 12 // 4
    # (at least 16)
    assert pool.col.shape[0] == 16
    assert pool.start[:4].tolist() == [0, 1, 4, 7] and pool.room[:4].tolist() == [1, 3, 3, 5]
    assert pool.end == 12
    rows, idx, cols = pool.live(4)
    assert rows.tolist() == [0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]
    assert cols.tolist() == [3, 0, 1, 4, 1, 2, 3, 0, 1, 2, 3, 4]
    assert pool.vals[idx, 0].tolist() == [1.0, 6.0, 7.0, 8.0, 2.5, 3.5, 4.5, 1.5, 1.5, 1.5, 1.5, 1.5]


def test_dense_views_and_bytes_per_account() -> None:
    """The dense views put each position in its cell; the mirror holds positions, not cells."""
    state = empty_state()
    add_account(state, "a", {"USDC": 5 * E}, [Position("ETH-PERP", 2 * E, 4000 * E, 3 * RAY)])
    add_account(state, "b", {"USDC": E}, [Position("BTC-PERP", -E, -40_000 * E, 0, True, 100 * E),
                                          Position("ETH-PERP", 0, 0, 0, True, 7 * E)])  # fmt: skip
    book = ColumnarBook.from_state(state)
    eth, btc = book.markets.index("ETH-PERP"), book.markets.index("BTC-PERP")
    assert book.size.tolist()[0][eth] == 2.0 and book.entry[0, eth] == 4000.0 and book.snapshot[0, eth] == 3.0
    assert book.cross.tolist() == [[j == eth for j in range(2)], [False, False]]
    assert book.isolated.tolist() == [[False, False], [True, True]]
    assert book.margin[1, btc] == 100.0 and book.margin[1, eth] == 7.0 and book.size[1, eth] == 0.0
    assert book.cross_count.tolist() == [1, 0] and book.iso_count.tolist() == [0, 2]
    assert book.iso_row.tolist() == [0, 1]
    iso_rows = np.array([1, 1])  # a scan's slots: row-major, ascending column (BTC < ETH)
    assert book.isolated_sizes(iso_rows, np.array([1, 0])).tolist() == [0.0, -1.0]
    assert book.nbytes() < 16 * 200  # 16 rows of capacity, a few positions
