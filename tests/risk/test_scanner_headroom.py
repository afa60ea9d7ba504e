"""The skip's headroom ratios read the mirror's sparse pools: the same floats as the dense loops they
replaced (kept here as the reference, compiled the same way), on random books whose pools have been
rewritten by syncs (rows moved out of their regions, isolated slots)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from risk_helpers import E
from test_properties import books

from clearhouse.ledger.model import LedgerState, Position
from clearhouse.risk.columnar import F64, I64, U8, ColumnarBook
from clearhouse.risk.scan import HAVE_NUMBA, U, scan
from clearhouse.risk.scanner import SKIP_SAFETY, _Headroom, _offer, nearest_headroom

if HAVE_NUMBA:
    from numba import njit


# -- the dense reference (clearhouse.risk.scanner before it read the pools) ------------------------
# ruff: noqa: E501

def _ratio_loop(
    size: F64, cross: U8, bal: F64, mm: F64, equity: F64, maint: F64, tol: F64, is_cand: U8,
    iso_rows: I64, iso_cols: I64, iso_eq: F64, iso_mm: F64, iso_tol: F64, iso_is_cand: U8,
    moves: F64, heap_v: F64, heap_i: I64, acc: F64, out: F64,
) -> None:  # fmt: skip
    """``clearhouse.risk.scan._headroom_loop`` (the same ``D``, ``w`` and ``w / D``) by direction:
    ``out[k]`` is the largest ``w_k / D`` over the buckets a *rise* of key ``k`` can hurt, ``out[K + k]``
    over those a *fall* can hurt (``K`` keys): a long position and a positive balance lose only when
    their price falls, a short and a debt only when it rises (a long's maintenance grows with the
    price, but by ``mm < 1`` per unit of its gain; with ``mm >= 1`` both). Also keeps the buckets of
    largest ``W / D``, ``W`` the sum of their ``w`` over the keys whose price can move (``moves[k] == 1``;
    not the settlement asset), see :func:`_offer_loop` (bucket ``i`` is row ``i``, slot ``k`` is
    ``n + k``): each of a bucket's ratios on those keys is at most its ``W / D`` (rounding is monotone).

    A ratio is divided out only when the product test ``w > out * D * (1 - 1e-12)`` says it may beat
    the running maximum (it never rejects one that does), so most rows cost no division."""
    n, m = size.shape
    na = bal.shape[1]
    nk = m + na
    cap = heap_v.shape[0]
    shy = 1.0 - 1e-12
    for i in range(n):
        if is_cand[i]:
            continue
        d = equity[i] - maint[i] - tol[i]
        d -= 4.0 * U * (abs(equity[i]) + abs(maint[i]) + abs(tol[i]))
        pos = d > 0.0
        big = 0.0
        for j in range(m):
            if cross[i, j]:
                s = size[i, j]
                w = abs(s) * (1.0 + mm[j])
                if w > 0.0:
                    big += w * moves[j]
                    # the side that hurts, picked without a branch (longs and shorts interleave)
                    c = nk + j if s > 0.0 else j
                    if not pos or w > out[c] * d * shy:
                        r = w / d if pos else np.inf
                        if r > out[c]:
                            out[c] = r
                    if mm[j] >= 1.0:  # both sides
                        c = j if s > 0.0 else nk + j
                        if not pos or w > out[c] * d * shy:
                            r = w / d if pos else np.inf
                            if r > out[c]:
                                out[c] = r
        for a in range(na):
            b = bal[i, a]
            if b != 0.0:
                w = abs(b)
                big += w * moves[m + a]
                c = nk + m + a if b > 0.0 else m + a
                if not pos or w > out[c] * d * shy:
                    r = w / d if pos else np.inf
                    if r > out[c]:
                        out[c] = r
        # with the heap full a sum only matters above the largest one left out (<= the heap's min)
        if big > 0.0 and (not pos or acc[0] < cap or big > acc[1] * d * shy):
            t = big / d if pos else np.inf
            if acc[0] < cap or t > heap_v[0]:
                _offer(heap_v, heap_i, acc, t, i)
            elif t > acc[1]:
                acc[1] = t
    for k in range(iso_rows.shape[0]):
        if iso_is_cand[k]:
            continue
        j = iso_cols[k]
        s = size[iso_rows[k], j]
        w = abs(s) * (1.0 + mm[j])
        if w > 0.0:
            d = iso_eq[k] - iso_mm[k] - iso_tol[k]
            d -= 4.0 * U * (abs(iso_eq[k]) + abs(iso_mm[k]) + abs(iso_tol[k]))
            r = w / d if d > 0.0 else np.inf
            if (s < 0.0 or mm[j] >= 1.0) and r > out[j]:
                out[j] = r
            if (s > 0.0 or mm[j] >= 1.0) and r > out[nk + j]:
                out[nk + j] = r
            if moves[j] > 0.0:
                if acc[0] < cap or r > heap_v[0]:
                    _offer(heap_v, heap_i, acc, r, n + k)
                elif r > acc[1]:
                    acc[1] = r


def _near_loop(
    size: F64, cross: U8, bal: F64, mm: F64, equity: F64, maint: F64, tol: F64,
    iso_rows: I64, iso_cols: I64, iso_eq: F64, iso_mm: F64, iso_tol: F64, chosen: I64, out: F64,
) -> None:  # fmt: skip
    """``out[t]``: the ratio columns of :func:`_ratio_loop` of bucket ``chosen[t]`` alone (the same
    floats, computed the same way)."""
    n, m = size.shape
    na = bal.shape[1]
    nk = m + na
    for t in range(chosen.shape[0]):
        b = chosen[t]
        if b < n:
            i = b
            d = equity[i] - maint[i] - tol[i]
            d -= 4.0 * U * (abs(equity[i]) + abs(maint[i]) + abs(tol[i]))
            for j in range(m):
                if cross[i, j]:
                    s = size[i, j]
                    w = abs(s) * (1.0 + mm[j])
                    if w > 0.0:
                        r = w / d if d > 0.0 else np.inf
                        if s < 0.0 or mm[j] >= 1.0:
                            out[t, j] = r
                        if s > 0.0 or mm[j] >= 1.0:
                            out[t, nk + j] = r
            for a in range(na):
                v = bal[i, a]
                if v != 0.0:
                    out[t, nk + m + a if v > 0.0 else m + a] = abs(v) / d if d > 0.0 else np.inf
        else:
            k = b - n
            j = iso_cols[k]
            s = size[iso_rows[k], j]
            w = abs(s) * (1.0 + mm[j])
            if w > 0.0:
                d = iso_eq[k] - iso_mm[k] - iso_tol[k]
                d -= 4.0 * U * (abs(iso_eq[k]) + abs(iso_mm[k]) + abs(iso_tol[k]))
                r = w / d if d > 0.0 else np.inf
                if s < 0.0 or mm[j] >= 1.0:
                    out[t, j] = r
                if s > 0.0 or mm[j] >= 1.0:
                    out[t, nk + j] = r


_ref_ratios: Any = njit(cache=False, error_model="numpy")(_ratio_loop) if HAVE_NUMBA else _ratio_loop
_ref_near: Any = njit(cache=False, error_model="numpy")(_near_loop) if HAVE_NUMBA else _near_loop


def dense_headroom(book: ColumnarBook, last: Any, keep: int) -> tuple[list[float], list[float], Any, list[Any]]:
    """``nearest_headroom`` as it was, over dense n x M copies of the mirror."""
    m, na = len(book.markets), len(book.assets)
    nk = m + na
    n, slots = book.n, last.iso_rows.shape[0]
    size, cross, bal, mm = book.size, book.cross.view(np.uint8), book.balances, book.mm_frac
    is_cand = np.zeros(n, dtype=np.uint8)
    is_cand[last.candidate_rows] = 1
    iso_is_cand = np.zeros(slots, dtype=np.uint8)
    iso_is_cand[last.isolated_candidate_slots] = 1
    heap_v, heap_i, acc = np.zeros(keep), np.zeros(keep, dtype=np.int64), np.zeros(2)
    full = np.zeros(2 * nk)
    moves = np.array([0.0 if k == book.settlement else 1.0 for k in (*book.oracles, *book.assets)])
    eq, mt, tol = last.equity, last.maintenance, last.tolerance
    iso_rows, iso_cols = last.iso_rows, last.iso_cols
    ie, im, it = last.iso_equity, last.iso_maintenance, last.iso_tolerance
    _ref_ratios(size, cross, bal, mm, eq, mt, tol, is_cand,
                iso_rows, iso_cols, ie, im, it, iso_is_cand, moves, heap_v, heap_i, acc, full)  # fmt: skip
    top = np.sort(heap_i[: int(acc[0])])
    movable = [*moves.tolist(), *moves.tolist()]
    rest = [min(float(acc[1]), r) if mv else r for r, mv in zip(full.tolist(), movable, strict=True)]
    near = np.zeros((top.size, 2 * nk))
    _ref_near(size, cross, bal, mm, eq, mt, tol, iso_rows, iso_cols, ie, im, it, top, near)
    ids, markets = last.account_ids, last.markets
    targets = [(ids[b], None) if b < n else (ids[iso_rows[b - n]], markets[iso_cols[b - n]]) for b in top.tolist()]
    return full.tolist(), rest, near, targets


def _grow(state: LedgerState, aid: str, size: int) -> None:
    """Give ``aid`` one more position (its mirror row outgrows its region and moves on the next sync)."""
    acct = state.accounts[aid]
    for mid in ("BTC-PERP", "ETH-PERP"):
        if mid not in acct.positions:
            acct.positions[mid] = Position(mid, size, size * 1000, state.markets[mid].funding_index)
            return
    acct.positions.clear()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.lists(st.tuples(st.integers(0, 11), st.integers(-(10**6), 10**6)), max_size=4),
       st.sampled_from([1, 3, 128]))  # fmt: skip
def test_sparse_headroom_equals_the_dense_loops(book_prices, writes, keep) -> None:  # type: ignore[no-untyped-def]
    state, prices = book_prices
    book = ColumnarBook.from_state(state)
    ids = sorted(state.accounts)
    for number, amount in writes:  # rows rewritten in place or moved to the end of the pool
        _grow(state, ids[number % len(ids)], (amount or 1) * E // 1000)
    book.sync(state, {ids[number % len(ids)] for number, _ in writes})
    last = scan(book, prices)
    got = nearest_headroom(book, last, keep)
    full, rest, near, targets = dense_headroom(book, last, keep)
    assert got.full == full
    assert got.rest == rest
    assert got.targets == targets
    assert np.array_equal(got.near, near)


def _vector_at_risk(head: _Headroom, keys: list[int], step: list[float], limit: int) -> list[Any] | None:
    """``_Headroom.at_risk`` by the vector test alone (the path it takes for several moved keys)."""
    with np.errstate(invalid="ignore"):
        exposure = head.near[:, keys[0]] * step[0]
    risky = np.flatnonzero(~(exposure <= 1.0 - SKIP_SAFETY))
    return None if risky.size > limit else [head.targets[i] for i in risky.tolist()]


_ratio = st.sampled_from([0.0, math.inf, 1e-300]) | st.floats(0.0, 1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.lists(st.lists(_ratio, min_size=4, max_size=4), min_size=n,
                                                       max_size=n)),
       st.lists(st.tuples(st.integers(0, 3), st.floats(1e-18, 1e3), st.integers(0, 6)), min_size=1, max_size=6))  # fmt: skip
def test_one_moved_key_walks_the_sorted_column(
    rows: list[list[float]], moves: list[tuple[int, float, int]]
) -> None:
    """The single-key walk over the cached, sorted column gives exactly the vector test's buckets (or
    None past the limit), also when the column is reused by later blocks of the same scan."""
    near = np.array(rows)
    head = _Headroom([0.0] * 4, [0.0] * 4, near, [(f"a{i}", None) for i in range(len(rows))])
    for k, d, limit in moves:
        assert head.at_risk([k], [d], limit) == _vector_at_risk(head, [k], [d], limit)
    assert set(head.by_column) == {k for k, _, _ in moves}
