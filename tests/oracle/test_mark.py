from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.ledger.errors import InvalidValue
from clearhouse.oracle import MarkEstimate, MarkPrice, UpdateOutOfOrder, venue_price

from .conftest import W

EXT = [100_500 * W // 1000, 101_500 * W // 1000, 99 * W]  # external median 100.5


def test_venue_price_is_median_of_bid_ask_last() -> None:
    assert venue_price(100 * W, 102 * W, 150 * W) == 102 * W  # a wild last trade is ignored
    assert venue_price(100 * W, 102 * W, None) == 101 * W
    assert venue_price(None, None, None) is None


def test_mark_worked_example() -> None:
    m = MarkPrice(basis_half_life=150)
    # basis EMA starts at 101 - 100 = 1 → estimates 101, 101, 100.5 → 101
    assert m.update(0, 100 * W, 101 * W, EXT) == MarkEstimate(
        0, 101 * W, 101 * W, 101 * W, 100_500 * W // 1000
    )
    # the basis 1 held for 150 s keeps the EMA at 1; venue now 103 → median(101, 103, 100.5) = 101
    assert m.update(150, 100 * W, 103 * W, EXT).mark == 101 * W
    # one half-life of basis 3: EMA = 1 + (3 - 1)/2 = 2 → median(102, 103, 100.5) = 102
    assert m.update(300, 100 * W, 103 * W, EXT).mark == 102 * W


def test_one_manipulated_input_cannot_move_the_mark_alone() -> None:
    m = MarkPrice(basis_half_life=150)
    m.update(0, 100 * W, 100 * W, [100 * W, 100 * W, 100 * W])
    # venue mid pumped x2 in one block: estimates 100 (EMA not moved yet), 200, 100 → 100
    assert m.copy().update(1, 100 * W, 200 * W, [100 * W] * 3).mark == 100 * W
    # oracle pushed x2: oracle + basis = 200, venue 100, external 100 → 100
    assert m.copy().update(1, 200 * W, 100 * W, [100 * W] * 3).mark == 100 * W
    # one external venue at x24: external median holds
    assert m.copy().update(1, 100 * W, 100 * W, [2400 * W, 100 * W, 100 * W]).mark == 100 * W


def test_sustained_venue_manipulation_leaks_through_the_basis_ema() -> None:
    """The limit: venue mid feeds two estimates; held for one half-life it moves the basis by half."""
    m = MarkPrice(basis_half_life=150)
    m.update(0, 100 * W, 100 * W, [100 * W] * 3)
    m.update(1, 100 * W, 200 * W, [100 * W] * 3)
    est = m.update(151, 100 * W, 200 * W, [100 * W] * 3)
    assert est.oracle_plus_basis == 150 * W  # 100 + 100·(1 - 2^-1)
    assert est.mark == 150 * W  # median(150, 200, 100)


def test_missing_inputs_and_errors() -> None:
    m = MarkPrice()
    assert m.update(0, 100 * W, None, None).mark == 100 * W  # only oracle + basis(0)
    assert m.update(1, 100 * W, None, [103 * W]).mark == 101_500 * W // 1000  # two: floor mean
    with pytest.raises(UpdateOutOfOrder):
        m.update(0, 100 * W, None)
    with pytest.raises(InvalidValue):
        m.update(2, 0, None)
    snap = m.encode_state()
    m.copy().update(5, 100 * W, 120 * W)
    assert m.encode_state() == snap


_price = st.integers(1, 10**6 * W) | st.sampled_from([1, 2**255 - 1])
_step = st.tuples(
    st.integers(-5, 400),  # time step (negative: out of order)
    _price | st.sampled_from([0, -W, 2**255, True]),  # oracle (some invalid)
    st.none() | _price | st.sampled_from([0, 2**255]),  # venue (some invalid)
)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 600), st.lists(_step, max_size=12))
def test_update_mark_is_update_without_the_estimate(
    half_life: int, steps: list[tuple[int, int, int | None]]
) -> None:
    """The funding hook's ``update_mark``: the same mark, the same errors and the same state afterwards
    as ``update(...).mark`` without external prices, over any sequence of updates."""
    a, b = MarkPrice(half_life), MarkPrice(half_life)
    now = 0
    for dt, oracle, venue in steps:
        now += dt
        try:
            want: object = a.update(now, oracle, venue).mark
        except Exception as err:
            want = type(err)
        try:
            got: object = b.update_mark(now, oracle, venue)
        except Exception as err:
            got = type(err)
        assert got == want
        assert b.state() == a.state()
