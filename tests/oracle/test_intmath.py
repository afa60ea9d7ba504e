from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearhouse.ledger.errors import InvalidValue
from clearhouse.oracle.intmath import (
    LN2,
    ONE,
    decay_one,
    exp_one,
    exp_wad,
    ln_one,
    ln_wad,
    median3,
    median_floor,
    median_of,
    weighted_median,
)

from .conftest import W


def test_median_odd_and_even_counts() -> None:
    assert median_floor([1, 5, 9]) == 5
    assert median_floor([1, 2]) == 1  # floor of 1.5
    assert median_floor([100 * W, 101 * W]) == 100_500_000_000_000_000_000
    assert median_floor([-3, -2]) == -3  # floor, toward minus infinity
    assert median_of([9, 1, 5, 7]) == 6
    assert median3(3, 1, 2) == median3(2, 3, 1) == median3(1, 2, 3) == 2
    with pytest.raises(InvalidValue):
        median_of([])


def test_weighted_median_examples() -> None:
    # Hyperliquid-style weights 3,2,2,1,1,1,1,1: total 12, cumulative 1,2,4,7 → 100 (7*2 >= 12)
    pairs = [(100, 3), (101, 2), (99, 2), (105, 1), (98, 1), (110, 1), (97, 1), (102, 1)]
    assert weighted_median(pairs) == 100
    # cumulative weight hits exactly half at 20 → mean of 20 and the next value 30
    assert weighted_median([(10, 1), (20, 1), (30, 2)]) == 25
    # a heavy source at the top cannot pull the result unless it holds half the weight
    assert weighted_median([(1, 1), (2, 1), (1000, 1)]) == 2
    assert weighted_median([(1, 1), (2, 1), (1000, 2)]) == 501  # exactly half → mean(2, 1000)
    assert weighted_median([(1, 1), (2, 1), (1000, 3)]) == 1000
    with pytest.raises(InvalidValue):
        weighted_median([(1, 0)])


@given(st.lists(st.integers(1, 10**24), min_size=1, max_size=30))
def test_weighted_median_with_unit_weights_is_the_median(values: list[int]) -> None:
    assert weighted_median([(v, 1) for v in values]) == median_floor(sorted(values))


@given(st.lists(st.tuples(st.integers(1, 10**24), st.integers(1, 10)), min_size=1, max_size=30))
def test_weighted_median_stays_in_range(pairs: list[tuple[int, int]]) -> None:
    values = [v for v, _ in pairs]
    assert min(values) <= weighted_median(pairs) <= max(values)


def test_ln2_constant() -> None:
    with localcontext() as ctx:
        ctx.prec = 60
        assert int(Decimal(2).ln() * ONE) == LN2


@given(st.integers(1, 10**45))
def test_ln_matches_decimal(x: int) -> None:
    with localcontext() as ctx:
        ctx.prec = 80
        exact = (Decimal(x) / ONE).ln() * ONE
    assert abs(ln_one(x) - exact) < 10**4  # 1e-32 absolute


@given(st.integers(-40 * ONE, 60 * ONE))
def test_exp_matches_decimal(x: int) -> None:
    with localcontext() as ctx:
        ctx.prec = 100
        exact = (Decimal(x) / ONE).exp() * ONE
    assert abs(exp_one(x) - exact) <= exact * Decimal(10) ** -30 + 2


def test_wad_wrappers_and_decay() -> None:
    assert ln_wad(W) == 0
    assert ln_wad(2 * W) == 693147180559945309
    assert exp_wad(0) == W
    assert exp_wad(W) == 2718281828459045235
    assert decay_one(0, 60) == ONE
    assert abs(decay_one(60, 60) - ONE // 2) <= 1
    assert abs(decay_one(120, 60) - ONE // 4) <= 1
    with pytest.raises(InvalidValue):
        ln_one(0)
