"""abaci.sol curves: dss ``src/test/abaci.t.sol`` vectors, rpow vs the EVM assembly, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.ledger.fixedpoint import rpow as ledger_rpow
from clearhouse.liquidation.maker import (
    RAY,
    WAD,
    Abacus,
    ExponentialDecrease,
    LinearDecrease,
    StairstepExponentialDecrease,
)
from clearhouse.liquidation.maker.errors import (
    AbacusCutGtRay,
    AbacusUnrecognizedParam,
    ArithmeticRevert,
    StairstepCutGtRay,
)
from clearhouse.liquidation.maker.uint import rpow

M256 = 2**256


class EvmRevert(Exception):
    pass


def evm_rpow(x: int, n: int, b: int) -> int:
    """Literal transcription of abaci.sol's ``rpow`` assembly (dss PR #78), with 256-bit wrap-around."""
    if n == 0:
        return b
    if x == 0:
        return 0
    z = b if n % 2 == 0 else x
    half = b // 2
    n //= 2
    while n:
        xx = (x * x) % M256
        if x >> 128:
            raise EvmRevert
        xx_round = (xx + half) % M256
        if xx_round < xx:
            raise EvmRevert
        x = xx_round // b
        if n % 2:
            zx = (z * x) % M256
            if x != 0 and zx // x != z:
                raise EvmRevert
            zx_round = (zx + half) % M256
            if zx_round < zx:
                raise EvmRevert
            z = zx_round // b
        n //= 2
    return z


# --- dss abaci.t.sol -----------------------------------------------------------------------------


def test_linear_decrease() -> None:
    """abaci.t.sol test_linear_decrease: tau 3600, top 1000 -> 100 less every 360 s, 0 at 3600."""
    calc = LinearDecrease()
    calc.file("tau", 3600)
    top = 1000 * RAY
    assert calc.price(top, 0) == top
    for i in range(1, 10):
        assert calc.price(top, 360 * i) == (1000 - 100 * i) * RAY
    assert calc.price(top, 3600) == 0


def _check_exp_decrease(
    calc: StairstepExponentialDecrease, cut: int, step: int, top: int, factor: int, tolerance: int
) -> None:
    """abaci.t.sol checkExpDecrease: each price is the previous one times ``factor`` at every step."""
    calc.file("step", step)
    calc.file("cut", cut)
    price = calc.price(top, 0)
    assert price == top
    for i in range(1, 600):
        last = price
        price = calc.price(top, i)
        test_price = last * factor // RAY if i % step == 0 else last
        assert abs(test_price - price) <= tolerance, (i, test_price, price)


@pytest.mark.parametrize(("top", "tolerance"), [(50_000_000 * RAY, 100_000_000), (RAY // 10_000_000, 1)])
@pytest.mark.parametrize(
    ("pct", "step"),
    [
        (11234567890 * 10**15, 1),  # 1.1234567890 % per second
        (21234567890 * 10**15, 1),  # 2.1234567890 % per second
        (11234567890 * 10**15, 5),
        (21234567890 * 10**15, 5),
        (11234567890 * 10**15, 300),  # every 5 minutes
    ],
)
def test_stairstep_exp_decrease(top: int, tolerance: int, pct: int, step: int) -> None:
    """abaci.t.sol test_stairstep_exp_decrease: $50m and $1e-7 tops, five cut/step pairs, 10 minutes."""
    percent_decrease = RAY - pct  # dss: RAY - 1.1234567890E27 / 100
    _check_exp_decrease(
        StairstepExponentialDecrease(), percent_decrease, step, top, percent_decrease, tolerance
    )


def test_continuous_exp_decrease() -> None:
    """abaci.t.sol test_continuous_exp_decrease: cut ~ 2^(-1/900) halves the price every 900 s (0.1 %)."""
    calc = ExponentialDecrease()
    calc.file("cut", 999230132966 * 10**15)
    top = 4000 * RAY
    expected = top
    for i in range(5):
        assert abs(calc.price(top, i * 900) - expected) <= RAY // 1000
        expected //= 2


def test_clip_t_sol_stairstep_prices() -> None:
    """clip.t.sol exact prices of the 1 %/s curve from top 5: after 60 s and after 1300 s... from a redo.

    test_take_bid_avoids_recalculate_due_no_more_lot: 2735783211953807380973706855 at 60 s;
    test_redo_incentive: 1830161706366147524653080130 at 100 s after a redo to top 5.
    """
    calc = StairstepExponentialDecrease(step=1, cut=RAY - 10**25)
    assert calc.price(5 * RAY, 60) == 2735783211953807380973706855
    assert calc.price(5 * RAY, 100) == 1830161706366147524653080130


# --- file validation ------------------------------------------------------------------------------


def test_cut_gt_ray_rejected() -> None:
    s = StairstepExponentialDecrease(step=1, cut=RAY)
    with pytest.raises(StairstepCutGtRay) as e1:
        s.file("cut", RAY + 1)
    assert e1.value.reason == "StairstepExponentialDecrease/cut-gt-RAY"
    assert s.cut == RAY
    e = ExponentialDecrease(RAY)
    with pytest.raises(AbacusCutGtRay) as e2:
        e.file("cut", RAY + 1)
    assert e2.value.reason == "ExponentialDecrease/cut-gt-RAY" and e.cut == RAY
    with pytest.raises(AbacusCutGtRay):
        ExponentialDecrease(RAY + 1)
    for calc in (LinearDecrease(1), s, e):
        with pytest.raises(AbacusUnrecognizedParam):
            calc.file("nope", 1)


def test_zero_step_divides_by_zero() -> None:
    """dss deploys the stair-step curve with step = 0: price() reverts (division by zero)."""
    with pytest.raises(ArithmeticRevert):
        StairstepExponentialDecrease().price(RAY, 10)


def test_linear_tau_zero_is_zero() -> None:
    assert LinearDecrease(0).price(RAY, 0) == 0


def test_protocol() -> None:
    curves: list[Abacus] = [
        LinearDecrease(10),
        StairstepExponentialDecrease(1, RAY),
        ExponentialDecrease(RAY),
    ]
    assert all(isinstance(c, Abacus) for c in curves)


# --- rpow against the EVM assembly ------------------------------------------------------------------

_x = st.one_of(
    st.integers(0, 2 * RAY),
    st.integers(RAY - 10**6, RAY),
    st.integers(0, 2**130),
    st.sampled_from([0, 1, RAY - 1, RAY, RAY + 1, 2**128 - 1, 2**128, 2**128 + 1]),
)
_n = st.one_of(st.integers(0, 80), st.integers(0, 2**20), st.sampled_from([0, 1, 2, 3, 2**64, 2**255]))
_b = st.sampled_from([RAY, WAD, 10**9, 1, 2, 3, 10**45])


@settings(max_examples=600, deadline=None)
@given(_x, _n, _b)
def test_rpow_matches_evm_assembly(x: int, n: int, b: int) -> None:
    """fixedpoint.rpow (used via uint.rpow) == abaci.sol rpow, including where the assembly reverts."""
    try:
        expected: int | None = evm_rpow(x, n, b)
    except EvmRevert:
        expected = None
    if expected is None:
        with pytest.raises(ArithmeticRevert):
            rpow(x, n, b)
    else:
        assert rpow(x, n, b) == expected == ledger_rpow(x, n, b)


# --- properties ---------------------------------------------------------------------------------------

_top = st.one_of(st.integers(1, 10**9 * RAY), st.integers(1, 10**6))
_cut = st.one_of(st.integers(0, RAY), st.integers(RAY - 10**24, RAY))


def _curves() -> st.SearchStrategy[Abacus]:
    return st.one_of(
        st.builds(LinearDecrease, st.integers(0, 10**6)),
        st.builds(StairstepExponentialDecrease, st.integers(1, 10**4), _cut),
        st.builds(ExponentialDecrease, _cut),
    )


@settings(max_examples=300, deadline=None)
@given(_curves(), _top, st.integers(0, 10**6), st.integers(0, 10**4))
def test_curve_never_exceeds_top_and_never_rises(calc: Abacus, top: int, dur: int, later: int) -> None:
    p0 = calc.price(top, dur)
    p1 = calc.price(top, dur + later)
    assert 0 <= p1 <= p0 <= top
    assert calc.price(top, 0) <= top


@settings(max_examples=200, deadline=None)
@given(_cut, _top, st.integers(0, 5000))
def test_exponential_unit_step_monotone(cut: int, top: int, dur: int) -> None:
    """Second by second (where square-and-multiply takes different paths) the price never goes up."""
    calc = ExponentialDecrease(cut)
    assert calc.price(top, dur + 1) <= calc.price(top, dur)
