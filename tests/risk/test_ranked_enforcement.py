"""Enforcement with the scan's bounds selects exactly what confirming every candidate selects."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from risk_helpers import E, add_account, empty_state
from test_properties import books, price_lookup

from clearhouse.ledger.enforcement import confirm, select_ranked, select_targets
from clearhouse.ledger.model import LedgerState, Position
from clearhouse.risk.scanner import ColumnarScanner


def both(state: LedgerState, prices: dict[str, int], height: int, cap: int) -> tuple[list, list, int]:  # type: ignore[type-arg]
    scanner = ColumnarScanner()
    candidates = scanner.candidates(state, tuple(state.accounts))
    ranked = scanner.ranked(state)
    assert ranked is not None
    lookup = price_lookup(prices)
    old = select_targets(confirm(state, candidates, lookup), height, cap)
    new = select_ranked(state, ranked, lookup, height, cap)
    return old, new, sum(ranked.certain)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.integers(0, 50), st.integers(1, 6))
def test_same_selection_on_wild_books(book_prices, height, cap) -> None:  # type: ignore[no-untyped-def]
    state, prices = book_prices
    old, new, _ = both(state, prices, height, cap)
    assert new == old
    assert [(c.equity, c.maintenance) for c in new] == [(c.equity, c.maintenance) for c in old]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1_000, 2_600), min_size=20, max_size=80),
    st.integers(0, 100),
    st.integers(1, 12),
    st.integers(1_700, 2_000),
)
def test_same_selection_with_many_below_maintenance(deposits, height, cap, price) -> None:  # type: ignore[no-untyped-def]
    """Ordinary magnitudes, many candidates, ties in health (equal deposits): most are proven by the
    screen, the head's cut and the rotation window must still match the exact ordering."""
    state = empty_state()
    for i, dep in enumerate(deposits):
        add_account(state, f"a{i:03d}", {"USDC": dep * E}, [Position("ETH-PERP", 10 * E, 20_000 * E)])
    prices = {"ETH": price * E, "BTC": 40_000 * E}
    state.prices = {k: (v, state.time) for k, v in prices.items()}
    old, new, certain = both(state, prices, height, cap)
    assert new == old
    below = len(confirm(state, [(a, None) for a in state.accounts], price_lookup(prices)))
    assert certain <= below  # the screen never proves more than the exact check finds


def test_exact_summaries_scale_with_the_cap_not_the_candidates() -> None:
    from clearhouse.ledger import enforcement

    state = empty_state()
    for i in range(2_000):
        deposit = {"USDC": (500 + i % 700) * E}
        add_account(state, f"a{i:04d}", deposit, [Position("ETH-PERP", 10 * E, 20_000 * E)])
    prices = {"ETH": 1_800 * E, "BTC": 40_000 * E}
    state.prices = {k: (v, state.time) for k, v in prices.items()}
    calls = 0
    original = enforcement._confirm_one

    def counting(*args):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return original(*args)

    enforcement._confirm_one = counting  # type: ignore[assignment]
    try:
        old, new, certain = both(state, prices, height=3, cap=20)
    finally:
        enforcement._confirm_one = original  # type: ignore[assignment]
    assert new == old and len(new) == 20
    assert certain == 2_000  # equity = deposit - 2,000 < 0 < maintenance 900: all proven by the screen
    assert calls < 200  # ~cap plus the ties at the head's cut, not 2,000
