"""Blocks that changed a few accounts re-screen them exactly and skip the scan; the nearest buckets are
handed to the exact check. Neither may miss an account the exact check liquidates."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from risk_helpers import E, add_account, empty_state
from test_properties import books
from test_scanner_reuse import _calm_state, exact_targets, moved, moves, set_prices

from clearhouse.ledger.model import LedgerState, Position
from clearhouse.risk import scanner as scanner_module
from clearhouse.risk.scanner import ColumnarScanner

#: (account number, what changes, amount): the kinds of writes a block's transactions make.
changes = st.lists(
    st.tuples(
        st.integers(0, 20),
        st.sampled_from(["usdc", "eth", "size", "close", "new"]),
        st.integers(-(10**6), 10**6),
    ),
    max_size=4,
)


#: How many nearest buckets the skip keeps apart (few: the "rest" bound decides more often).
NEAR = [1, 2, 64]


def _change(state: LedgerState, number: int, kind: str, amount: int) -> str:
    ids = sorted(state.accounts)
    if kind == "new":
        aid = f"new{len(ids):03d}"
        price = state.prices["ETH"][0]
        size = (amount or 1) * E // 1000
        position = Position("ETH-PERP", size, size * price // E)
        add_account(state, aid, {"USDC": abs(size) * price // (20 * E)}, [position])
        return aid
    acct = state.accounts[ids[number % len(ids)]]
    if kind == "usdc":
        acct.balances["USDC"] = acct.balances.get("USDC", 0) + amount * E // 1000
    elif kind == "eth":
        acct.balances["ETH"] = max(0, acct.balances.get("ETH", 0) + amount * E // 1000)
    elif kind == "size":
        for pos in acct.positions.values():
            pos.size += amount * 10**12
    else:
        acct.positions.clear()
    return acct.id


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.lists(st.tuples(moves, moves, changes), min_size=1, max_size=4), st.sampled_from(NEAR))
def test_rescreened_and_nearest_blocks_never_miss(book_prices, path, keep) -> None:  # type: ignore[no-untyped-def]
    state, prices = book_prices
    saved = scanner_module.NEAR_ROWS
    scanner_module.NEAR_ROWS = keep  # few nearest rows: the "rest" bound decides more often
    try:
        scanner = ColumnarScanner()
        assert exact_targets(state, prices) <= set(scanner.candidates(state, tuple(state.accounts)))
        for eth, btc, writes in path:
            touched = {_change(state, *write) for write in writes}
            prices = {"ETH": moved(prices["ETH"], eth), "BTC": moved(prices["BTC"], btc)}
            set_prices(state, prices)
            found = set(scanner.candidates(state, frozenset(touched)))
            assert exact_targets(state, prices) <= found, (prices, touched)
    finally:
        scanner_module.NEAR_ROWS = saved


def test_changed_accounts_are_rescreened_exactly() -> None:
    state = _calm_state()
    scanner = ColumnarScanner()
    assert scanner.candidates(state, tuple(state.accounts)) == [("under", None)]
    # "under" closed out (no position left), "far" lost most of its collateral, price 0.25 USDC lower:
    # no full scan; "under" leaves the candidates, "far" (now below maintenance) joins them.
    state.accounts["under"].positions.clear()
    state.accounts["far"].balances["USDC"] = 10 * E
    set_prices(state, {"ETH": 2000 * E - E // 4, "BTC": 40_000 * E})
    found = scanner.candidates(state, frozenset({"under", "far"}))
    assert (scanner.skipped, scanner.rescreened) == (0, 1)
    assert set(found) == {("far", None)} == exact_targets(state, {"ETH": 2000 * E - E // 4})
    # a rise helps the longs: no bucket can cross, the block skips without re-screening
    set_prices(state, {"ETH": 2100 * E, "BTC": 40_000 * E})
    assert set(scanner.candidates(state, ())) == {("far", None)}
    assert scanner.skipped == 1


def test_nearest_buckets_become_candidates() -> None:
    state = _calm_state()
    for i in range(5):  # far from maintenance: the "rest" bound covers them
        add_account(state, f"x{i}", {"USDC": 1_000 * E}, [Position("ETH-PERP", E, 2000 * E)])
    scanner = ColumnarScanner()
    scanner.candidates(state, tuple(state.accounts))
    # 2 USDC down could cross "near" (1 USDC of headroom) but none of the others: "near" is handed to
    # the exact check without a scan
    set_prices(state, {"ETH": 1998 * E, "BTC": 40_000 * E})
    found = scanner.candidates(state, ())
    assert scanner.nearest == 1
    assert set(found) == {("under", None), ("near", None)} == exact_targets(state, {"ETH": 1998 * E})


@st.composite
def leveraged_books(draw: st.DrawFn) -> tuple[LedgerState, dict[str, int]]:
    """Accounts long or short ETH-PERP (some also BTC-PERP, isolated, or with ETH collateral) at
    random distances from maintenance (0-20 % of the price): many close enough for small moves."""
    state = empty_state()
    for i in range(draw(st.integers(3, 24))):
        size = draw(st.sampled_from([-1, 1])) * draw(st.integers(1, 10)) * E
        mm = abs(size) * 2000 // 20  # 5 % of the notional at 2,000
        room = abs(size) * 2000 * draw(st.integers(0, 2000)) // 10_000  # 0-20 % of the notional
        isolated = draw(st.booleans()) and i % 3 == 0
        eth = draw(st.sampled_from([0, 0, E // 10]))
        positions = [Position("ETH-PERP", size, size * 2000, 0, isolated, (mm + room) if isolated else 0)]
        if draw(st.booleans()):
            positions.append(Position("BTC-PERP", size // 10, size // 10 * 40_000))
        add_account(state, f"b{i:03d}", {"USDC": 0 if isolated else mm + room, "ETH": eth}, positions)
    return state, {"ETH": 2000 * E, "BTC": 40_000 * E}


#: Moves of 0.1 %-10 %: large enough to fail the plain skip test, small enough for the nearest buckets.
small_moves = st.tuples(st.sampled_from([2, 3]), st.integers(-9, 9), st.integers(-1000, 1000))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leveraged_books(), st.lists(st.tuples(small_moves, small_moves, changes), min_size=1, max_size=5),
       st.sampled_from(NEAR))  # fmt: skip
def test_nearest_blocks_never_miss(book_prices, path, keep) -> None:  # type: ignore[no-untyped-def]
    state, prices = book_prices
    saved = scanner_module.NEAR_ROWS
    scanner_module.NEAR_ROWS = keep
    try:
        scanner = ColumnarScanner()
        scanner.candidates(state, tuple(state.accounts))
        for eth, btc, writes in path:
            touched = {_change(state, *write) for write in writes}
            prices = {"ETH": moved(prices["ETH"], eth), "BTC": moved(prices["BTC"], btc)}
            set_prices(state, prices)
            found = set(scanner.candidates(state, frozenset(touched)))
            assert exact_targets(state, prices) <= found, (prices, scanner.nearest)
    finally:
        scanner_module.NEAR_ROWS = saved
