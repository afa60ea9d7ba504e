"""WadRayMath / PercentageMath of aave-v3-core 3.0.2: values, half-up rounding and revert boundaries.

Vectors of ``test-suites/wadraymath.spec.ts`` (aave-v3-core): ``a = 134534543232342353231234``,
``b = 13265462389132757665657``, the ``tooLargeA`` boundaries and the ``rayToWad`` cases. The expected
results there come from the JS helpers (half-up); here they are literal integers computed independently
with ``decimal`` (ROUND_HALF_UP, 200 digits).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearhouse.ledger.errors import ClearhouseError, InvalidValue, ValueOutOfRange
from clearhouse.liquidation.aave.errors import AaveArithmeticPanic, AaveMathOverflow
from clearhouse.liquidation.aave.math import (
    HALF_RAY,
    HALF_WAD,
    RAY,
    UINT256_MAX,
    WAD,
    add,
    div,
    mul,
    percent_div,
    percent_mul,
    ray_div,
    ray_mul,
    ray_to_wad,
    sub,
    wad_div,
    wad_mul,
    wad_to_ray,
)

A = 134534543232342353231234
B = 13265462389132757665657
MAX = UINT256_MAX


# --- wadraymath.spec.ts ------------------------------------------------------------------------------


def test_constants() -> None:
    # 'Plain getters'
    assert (WAD, HALF_WAD, RAY, HALF_RAY) == (10**18, 5 * 10**17, 10**27, 5 * 10**26)


def test_wad_mul_spec_vector() -> None:
    # 'wadMul()'
    assert wad_mul(A, B) == 1784662923287792467070443765
    assert wad_mul(0, B) == 0
    assert wad_mul(A, 0) == 0
    too_large_a = (MAX - HALF_WAD) // B + 1
    assert too_large_a == 8728839285102840232114099377157550808226231863799759165
    with pytest.raises(AaveMathOverflow):
        wad_mul(too_large_a, B)
    wad_mul(too_large_a - 1, B)  # the largest accepted input does not revert


def test_wad_div_spec_vector() -> None:
    # 'wadDiv()'
    assert wad_div(A, B) == 10141715327055228122
    too_large_a = (MAX - B // 2) // WAD + 1
    assert too_large_a == 115792089237316195423570985008687907853269984665640564032825
    with pytest.raises(AaveMathOverflow):
        wad_div(too_large_a, B)
    wad_div(too_large_a - 1, B)
    with pytest.raises(AaveMathOverflow):
        wad_div(A, 0)


def test_ray_mul_spec_vector() -> None:
    # 'rayMul()'
    assert ray_mul(A, B) == 1784662923287792467
    assert ray_mul(0, B) == 0
    assert ray_mul(A, 0) == 0
    too_large_a = (MAX - HALF_RAY) // B + 1
    assert too_large_a == 8728839285102840232114099377157550808226231863799721473
    with pytest.raises(AaveMathOverflow):
        ray_mul(too_large_a, B)
    ray_mul(too_large_a - 1, B)


def test_ray_div_spec_vector() -> None:
    # 'rayDiv()'
    assert ray_div(A, B) == 10141715327055228122033939726
    too_large_a = (MAX - B // 2) // RAY + 1
    assert too_large_a == 115792089237316195423570985008687907853269984665641
    with pytest.raises(AaveMathOverflow):
        ray_div(too_large_a, B)
    ray_div(too_large_a - 1, B)
    with pytest.raises(AaveMathOverflow):
        ray_div(A, 0)


def test_ray_to_wad_spec_vector() -> None:
    # 'rayToWad()': half up, and (3.0.x assembly) no revert even for the largest inputs
    half = 10**9 // 2
    assert ray_to_wad(10**27) == 10**18
    assert ray_to_wad(10**27 + half - 1) == 10**18
    assert ray_to_wad(10**27 + half) == 10**18 + 1
    too_large = MAX - half + 1
    assert ray_to_wad(too_large) == 115792089237316195423570985008687907853269984665640564039457584007913
    assert ray_to_wad(MAX) == MAX // 10**9  # remainder 129639935 < 0.5e9: rounds down


def test_wad_to_ray_spec_vector() -> None:
    # 'wadToRay()'
    assert wad_to_ray(10**18) == 10**27
    with pytest.raises(AaveMathOverflow):
        wad_to_ray(MAX // 10**9 + 1)
    assert wad_to_ray(MAX // 10**9) == (MAX // 10**9) * 10**9


# --- PercentageMath ----------------------------------------------------------------------------------


def test_percent_mul_half_up() -> None:
    assert percent_mul(3200, 9502) == 3041  # 3040.64 -> 3041 (liquidation-with-fee.spec.ts borrow size)
    assert percent_mul(10**8, 11800) == 118_000_000
    assert percent_mul(1, 5000) == 1  # exactly one half rounds up
    assert percent_mul(1, 4999) == 0
    assert percent_mul(3, 5000) == 2  # 1.5 -> 2
    assert percent_mul(12345, 0) == 0  # percentage 0 never reverts
    assert percent_mul(0, 10**4) == 0


def test_percent_div_half_up() -> None:
    assert percent_div(470820000000000000, 10500) == 448400000000000000
    assert percent_div(1, 20000) == 1  # 0.5 -> 1
    assert percent_div(1, 20001) == 0
    assert percent_div(100, 10500) == 95  # 95.238 -> 95
    assert percent_div(105, 10500) == 100


def test_percent_math_revert_boundaries() -> None:
    p = 10500
    ok = (MAX - 5000) // p
    percent_mul(ok, p)
    with pytest.raises(AaveMathOverflow):
        percent_mul(ok + 1, p)
    ok_div = (MAX - p // 2) // 10**4
    percent_div(ok_div, p)
    with pytest.raises(AaveMathOverflow):
        percent_div(ok_div + 1, p)
    with pytest.raises(AaveMathOverflow):
        percent_div(1, 0)


def test_checked_arithmetic_panics() -> None:
    assert add(MAX - 1, 1) == MAX
    with pytest.raises(AaveArithmeticPanic):
        add(MAX, 1)
    with pytest.raises(AaveArithmeticPanic):
        sub(1, 2)
    with pytest.raises(AaveArithmeticPanic):
        mul(2**128, 2**128)
    with pytest.raises(AaveArithmeticPanic):
        div(1, 0)
    assert div(7, 2) == 3  # truncation


@pytest.mark.parametrize("bad", [-1, MAX + 1, 1.0, True, "1"])
def test_non_uint256_inputs_are_typed_errors(bad: object) -> None:
    with pytest.raises((InvalidValue, ValueOutOfRange)) as info:
        wad_mul(bad, 1)  # type: ignore[arg-type]
    assert isinstance(info.value, ClearhouseError)


def test_math_errors_are_clearhouse_errors_with_codes() -> None:
    with pytest.raises(ClearhouseError) as info:
        ray_div(1, 0)
    assert info.value.code == "aave_math_overflow"


# --- against an independent half-up reference ----------------------------------------------------------


def _half_up(num: int, den: int) -> int:
    with localcontext() as ctx:
        ctx.prec = 200
        return int((Decimal(num) / Decimal(den)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


_u128 = st.integers(min_value=0, max_value=2**128 - 1)
_pos = st.integers(min_value=1, max_value=2**100)


@given(_u128, _u128)
def test_ray_mul_matches_half_up_reference(a: int, b: int) -> None:
    assert ray_mul(a, b) == _half_up(a * b, RAY)
    assert wad_mul(a, b) == _half_up(a * b, WAD)


@given(_u128, _pos)
def test_ray_div_matches_half_up_reference(a: int, b: int) -> None:
    # (a * RAY + b // 2) // b is half up only for even b; for odd b it is "half down at exactly .5",
    # which never happens for odd b (a*RAY/b cannot end in exactly .5). So the reference agrees.
    assert ray_div(a, b) == _half_up(a * RAY, b)
    assert wad_div(a, b) == _half_up(a * WAD, b)


@given(_u128, st.integers(min_value=1, max_value=2**16 - 1))
def test_percent_math_matches_half_up_reference(v: int, p: int) -> None:
    assert percent_mul(v, p) == _half_up(v * p, 10**4)
    assert percent_div(v, p) == _half_up(v * 10**4, p)
