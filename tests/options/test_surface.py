"""SVI and grid surfaces: exact validation, canonical encoding, interpolation in total variance."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from clearhouse.ledger.errors import InvalidParameters, InvalidValue
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.options.surface import (
    YEAR_SECONDS,
    GridSurface,
    SviSlice,
    SviSurface,
    calendar_violations,
    decode_surface,
    encode_surface,
    implied_vol,
    total_variance,
)

NOW = 1_800_000_000
DAY = 86_400


def svi(**kw: int) -> SviSlice:
    base = {
        "expiry": NOW + 30 * DAY,
        "a": WAD // 100,
        "b": WAD // 10,
        "rho": -WAD // 2,
        "m": 0,
        "sigma": WAD // 5,
    }
    return SviSlice(**(base | kw))


def test_svi_parameter_checks() -> None:
    svi().validate("s")
    for bad, match in [
        ({"b": -1}, "b must be >= 0"),
        ({"rho": WAD}, "rho"),
        ({"rho": -WAD}, "rho"),
        ({"sigma": 0}, "sigma must be > 0"),
        ({"a": -WAD}, "minimum total variance"),
        ({"b": 2 * WAD, "rho": WAD // 2}, "Lee"),
        ({"m": 2**255}, "beyond"),
    ]:
        with pytest.raises(InvalidParameters, match=match):
            svi(**bad).validate("s")


def test_minimum_variance_check_is_exact_at_the_boundary() -> None:
    # rho = 0: the condition is a + b·sigma >= 0; b·sigma = 0.1 × 0.2 = 0.02 exactly in WAD
    svi(rho=0, a=-2 * WAD // 100).validate("s")
    with pytest.raises(InvalidParameters):
        svi(rho=0, a=-2 * WAD // 100 - 1).validate("s")


slices = st.builds(
    SviSlice,
    expiry=st.just(NOW + DAY),
    a=st.integers(-WAD, WAD),
    b=st.integers(0, 2 * WAD),
    rho=st.integers(-WAD + 1, WAD - 1),
    m=st.integers(-WAD, WAD),
    sigma=st.integers(1, 2 * WAD),
)


@given(s=slices, k=st.floats(-5, 5))
def test_valid_svi_has_non_negative_variance(s: SviSlice, k: float) -> None:
    try:
        s.validate("s")
    except InvalidParameters:
        assume(False)
    assert s.total_variance(k) >= -1e-15


def test_svi_at_m_is_a_plus_b_sigma() -> None:
    s = svi(m=WAD // 10)
    assert s.total_variance(0.1) == pytest.approx(0.01 + 0.1 * 0.2, rel=1e-15)


def surface() -> SviSurface:
    return SviSurface(
        "ETH",
        (
            SviSlice.from_floats(NOW + 7 * DAY, 0.002, 0.05, -0.3, 0.0, 0.1),
            SviSlice.from_floats(NOW + 30 * DAY, 0.01, 0.1, -0.3, 0.0, 0.2),
        ),
    )


def test_canonical_encoding_round_trip_and_refusals() -> None:
    s = surface()
    data = encode_surface(s)
    assert decode_surface(data) == s
    with pytest.raises(InvalidParameters, match="canonical"):
        decode_surface(data.replace(b",", b", ", 1))
    with pytest.raises(InvalidParameters, match="strictly increasing"):
        decode_surface(encode_surface(SviSurface("ETH", s.slices[::-1])))
    with pytest.raises(InvalidParameters, match="decode"):
        decode_surface(b'{"type":"svi","underlying":"ETH","slices":[[1,2.5,0,0,0,1]]}')


def test_interpolation_across_expiries_is_linear_in_total_variance() -> None:
    s = surface()
    f = 3000.0
    k = 3300.0
    w1 = s.slices[0].total_variance(math.log(k / f))
    w2 = s.slices[1].total_variance(math.log(k / f))
    assert total_variance(s, k, f, NOW + 7 * DAY, NOW) == pytest.approx(w1)
    assert total_variance(s, k, f, NOW + 30 * DAY, NOW) == pytest.approx(w2)
    mid = NOW + 7 * DAY + (23 * DAY) // 2
    assert total_variance(s, k, f, mid, NOW) == pytest.approx((w1 + w2) / 2)
    # before the first and after the last expiry the slice's implied vol is held
    v1 = math.sqrt(w1 / (7 * DAY / YEAR_SECONDS))
    assert implied_vol(s, k, f, NOW + 2 * DAY, NOW) == pytest.approx(v1)
    v2 = math.sqrt(w2 / (30 * DAY / YEAR_SECONDS))
    assert implied_vol(s, k, f, NOW + 90 * DAY, NOW) == pytest.approx(v2)
    with pytest.raises(InvalidValue):
        total_variance(s, k, f, NOW, NOW)
    with pytest.raises(InvalidValue, match="every expiry"):
        total_variance(s, k, f, NOW + 40 * DAY, NOW + 31 * DAY)


def grid() -> GridSurface:
    w = WAD // 100
    return GridSurface(
        "ETH",
        strikes=(2000 * WAD, 3000 * WAD, 4000 * WAD),
        expiries=(NOW + 10 * DAY, NOW + 40 * DAY),
        vols=((80 * w, 60 * w, 70 * w), (70 * w, 55 * w, 65 * w)),
    )


def test_grid_bilinear_in_total_variance() -> None:
    g = grid()
    g.validate()
    assert decode_surface(encode_surface(g)) == g
    t1, t2 = 10 * DAY / YEAR_SECONDS, 40 * DAY / YEAR_SECONDS
    assert implied_vol(g, 3000.0, 3000.0, NOW + 10 * DAY, NOW) == pytest.approx(0.60)
    assert implied_vol(g, 4000.0, 3000.0, NOW + 40 * DAY, NOW) == pytest.approx(0.65)
    # half-way between strikes and between expiries: the mean of four total variances
    w = [0.8**2 * t1, 0.6**2 * t1, 0.7**2 * t2, 0.55**2 * t2]
    assert total_variance(g, 2500.0, 3000.0, NOW + 25 * DAY, NOW) == pytest.approx(sum(w) / 4)
    # flat beyond the strike range
    assert implied_vol(g, 100.0, 3000.0, NOW + 10 * DAY, NOW) == pytest.approx(0.80)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"strikes": (3000 * WAD, 2000 * WAD, 4000 * WAD)}, "strictly increasing"),
        ({"vols": ((1, 2, 3),)}, "rows"),
        ({"vols": ((0, 1, 1), (1, 1, 1))}, r"vols\[0\]\[0\]"),
        ({"expiries": (0, NOW)}, "positive"),
    ],
)
def test_grid_validation(change: dict[str, object], match: str) -> None:
    g = grid()
    bad = GridSurface(**({f: getattr(g, f) for f in g.__struct_fields__} | change))  # type: ignore[arg-type]
    with pytest.raises(InvalidParameters, match=match):
        bad.validate()


def test_calendar_violations_found() -> None:
    w = WAD // 100
    g = GridSurface("ETH", (3000 * WAD,), (NOW + 10 * DAY, NOW + 40 * DAY), ((100 * w,), (40 * w,)))
    # w = 1.0²·10d > 0.4²·40d: total variance falls
    assert calendar_violations(g, [3000.0], 3000.0, NOW) == [(3000.0, NOW + 40 * DAY)]
    assert calendar_violations(grid(), [2000.0, 3000.0, 4000.0], 3000.0, NOW) == []
