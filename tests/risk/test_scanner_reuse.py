"""The columnar scanner's skip of unchanged blocks never misses an account the exact check liquidates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from risk_helpers import E, add_account, empty_state
from test_properties import books, price_lookup

from clearhouse.ledger.enforcement import Target
from clearhouse.ledger.margin import cross_summary, isolated_summary
from clearhouse.ledger.model import LedgerState, Position
from clearhouse.risk.columnar import ColumnarBook
from clearhouse.risk.scan import headroom_ratios, price_keys, scan
from clearhouse.risk.scanner import ColumnarScanner, nearest_headroom


def exact_targets(state: LedgerState, prices: dict[str, int]) -> set[Target]:
    lookup = price_lookup(prices)
    out: set[Target] = set()
    for aid, acct in state.accounts.items():
        has_cross = any(not p.isolated and p.size for p in acct.positions.values())
        if has_cross and cross_summary(state, acct, lookup).liquidatable:
            out.add((aid, None))
        for mid, pos in acct.positions.items():
            if pos.isolated and pos.size and isolated_summary(state, pos, lookup).liquidatable:
                out.add((aid, mid))
    return out


def set_prices(state: LedgerState, prices: dict[str, int]) -> None:
    state.prices = {k: (v, state.time) for k, v in prices.items()}


#: A price move: relative (scale 10**-k, a few steps either way) or a few wei.
moves = st.tuples(st.sampled_from([0, 3, 6, 9, 12, 15]), st.integers(-5, 5), st.integers(-1000, 1000))


def moved(price: int, move: tuple[int, int, int]) -> int:
    k, steps, wei = move
    return max(1, price + price * steps // 10**k + wei)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.lists(st.tuples(moves, moves), min_size=1, max_size=4))
def test_skipped_blocks_never_miss(book_prices, path) -> None:  # type: ignore[no-untyped-def]
    state, prices = book_prices
    scanner = ColumnarScanner()
    first = set(scanner.candidates(state, tuple(state.accounts)))
    assert exact_targets(state, prices) <= first
    for eth, btc in path:  # nothing touched: every block may be answered from the first scan
        prices = {"ETH": moved(prices["ETH"], eth), "BTC": moved(prices["BTC"], btc)}
        set_prices(state, prices)
        found = set(scanner.candidates(state, ()))
        assert exact_targets(state, prices) <= found, (prices, scanner.skipped)


def _calm_state() -> LedgerState:
    state = empty_state()
    add_account(state, "far", {"USDC": 1_000 * E}, [Position("ETH-PERP", E, 2000 * E)])
    add_account(state, "near", {"USDC": 101 * E}, [Position("ETH-PERP", E, 2000 * E)])  # mm 100
    add_account(state, "under", {"USDC": 50 * E}, [Position("ETH-PERP", E, 2000 * E)])
    return state


def test_small_moves_skip_and_keep_the_candidates() -> None:
    state = _calm_state()
    scanner = ColumnarScanner()
    assert scanner.candidates(state, tuple(state.accounts)) == [("under", None)]
    # "near" has ~1 USDC of headroom at 2,000; w = 1 x 1.05 per USDC of price: 0.5 USDC is safe.
    set_prices(state, {"ETH": 2000 * E - E // 2, "BTC": 40_000 * E})
    assert scanner.candidates(state, ()) == [("under", None)]
    assert scanner.skipped == 1
    # 2 USDC down could cross "near": the scanner scans, and the exact check agrees it crossed.
    set_prices(state, {"ETH": 1998 * E, "BTC": 40_000 * E})
    found = scanner.candidates(state, ())
    assert scanner.skipped == 1
    assert set(found) == {("under", None), ("near", None)} == exact_targets(state, {"ETH": 1998 * E})


def test_touched_accounts_and_new_funding_scan_in_full() -> None:
    state = _calm_state()
    scanner = ColumnarScanner()
    scanner.candidates(state, tuple(state.accounts))
    state.accounts["far"].balances["USDC"] = 0  # touched: must not be answered from the old scan
    assert ("far", None) in scanner.candidates(state, ("far",))
    assert scanner.skipped == 0
    state.markets["ETH-PERP"].funding_index = 10**3 * 10**27  # same prices, new funding index
    scanner.candidates(state, ())
    assert scanner.skipped == 0
    scanner.candidates(state, ())  # now nothing changed at all
    assert scanner.skipped == 1


def test_reuse_off_always_scans() -> None:
    state = _calm_state()
    scanner = ColumnarScanner(reuse=False)
    for _ in range(3):
        scanner.candidates(state, ())
    assert scanner.skipped == 0


def _random_book(n: int, m: int, seed: int) -> tuple[ColumnarBook, np.ndarray]:
    """A mirror with cross and isolated positions, longs and shorts, debts and collateral."""
    rng = np.random.default_rng(seed)
    size = np.zeros((n, m))
    rows = np.arange(n)
    for _ in range(3):
        size[rows, rng.integers(0, m, n)] = rng.normal(0.0, 5.0, n)
    px = np.linspace(10.0, 3000.0, m)
    iso = (rng.random((n, m)) < 0.1) & (size != 0)
    book = ColumnarBook.from_arrays(
        markets=tuple(f"M{i}-PERP" for i in range(m)),
        oracles=tuple(f"M{i}" for i in range(m)),
        assets=("ETH", "USDC"),
        settlement="USDC",
        im_frac=np.full(m, 0.1),
        mm_frac=np.where(np.arange(m) == 0, 1.5, 0.05),  # one market with mm >= 1: both sides count
        funding=rng.normal(0.0, 1.0, m),
        haircut=np.array([0.9, 1.0]),
        size=size,
        entry=size * px * (1.0 + rng.normal(0.0, 0.05, (n, m))),
        snapshot=rng.normal(0.0, 1.0, (n, m)) * (size != 0),
        margin=np.where(iso, np.abs(size) * px * 0.2, 0.0),
        isolated=iso,
        balances=np.c_[rng.random(n) * 10.0, rng.random(n) * 20_000.0 - 2_000.0],
    )
    prices = np.array([2000.0 if k == "ETH" else px[int(k[1:])] for k in price_keys(book)])
    return book, prices


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_directional_ratios_agree_with_the_scan_headroom(seed: int) -> None:
    """Two implementations over the sparse pools: the larger of a key's two directional maxima
    (:func:`nearest_headroom`) is the scan's undirected ratio (``headroom_ratios``) for every key, and
    the set-apart buckets' sums bound ``rest``."""
    book, prices = _random_book(3_000, 6, seed)
    result = scan(book, prices)
    assert result.isolated_candidate_slots.size < result.iso_rows.size  # isolated slots take part
    head = nearest_headroom(book, result, 16)
    k = len(head.full) // 2
    directional = np.maximum(np.array(head.full[:k]), np.array(head.full[k:]))
    assert np.array_equal(directional, headroom_ratios(book, result))
    assert all(r <= f for r, f in zip(head.rest, head.full, strict=True))
    assert len(head.targets) == 16 and head.near.shape == (16, 2 * k)
