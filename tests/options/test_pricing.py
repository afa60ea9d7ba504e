"""Black-76 / Black-Scholes against Hull's worked examples, independent derivations and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from clearhouse.options.pricing import (
    NoImpliedVolatility,
    PricingInputError,
    black76,
    black_scholes,
    implied_vol_black76,
    implied_vol_black_scholes,
)


def sig4(x: float) -> float:
    """``x`` rounded to 4 significant digits."""
    return float(f"{x:.4g}")


def integrated_price(kind: str, s: float, k: float, t: float, r: float, sigma: float) -> float:
    """Discounted expected payoff under the risk-neutral lognormal, by quadrature (no closed form)."""
    mu = math.log(s) + (r - 0.5 * sigma * sigma) * t
    sd = sigma * math.sqrt(t)

    def integrand(z: float) -> float:
        st_ = math.exp(mu + sd * z)
        payoff = max(st_ - k, 0.0) if kind == "call" else max(k - st_, 0.0)
        return payoff * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    z_k = (math.log(k) - mu) / sd
    lo, hi = (z_k, 12.0) if kind == "call" else (-12.0, z_k)
    return math.exp(-r * t) * quad(integrand, lo, hi, epsabs=1e-13, epsrel=1e-13)[0]


# Hull, Options, Futures and Other Derivatives, Example 15.6 (BSM): S=42, K=40, r=10%, σ=20%, T=0.5.
def test_hull_bsm_example_prices() -> None:
    c = black_scholes("call", 42, 40, 0.5, 0.10, 0.20).price
    p = black_scholes("put", 42, 40, 0.5, 0.10, 0.20).price
    assert round(c, 2) == 4.76 and round(p, 2) == 0.81  # the textbook's figures
    assert sig4(c) == sig4(integrated_price("call", 42, 40, 0.5, 0.10, 0.20)) == 4.759
    assert sig4(p) == sig4(integrated_price("put", 42, 40, 0.5, 0.10, 0.20)) == 0.8086


# Hull, chapter "The Greek Letters": 100,000 calls, S=49, K=50, r=5%, σ=20%, T=20 weeks = 0.3846.
HULL_GREEKS = {"delta": 0.522, "gamma": 0.066, "vega": 12.1, "theta": -4.31, "rho": 8.91}


def test_hull_greeks_example_textbook_values() -> None:
    g = black_scholes("call", 49, 50, 0.3846, 0.05, 0.20)
    assert round(g.price, 2) == 2.40  # "the Black-Scholes price of the option is about $240,000"
    assert round(g.delta, 3) == HULL_GREEKS["delta"]
    assert round(g.gamma, 3) == HULL_GREEKS["gamma"]
    assert round(g.vega, 1) == HULL_GREEKS["vega"]
    assert round(g.theta, 2) == HULL_GREEKS["theta"]
    assert round(g.rho, 2) == HULL_GREEKS["rho"]
    assert round(g.theta / 365, 4) == -0.0118  # Hull's per-calendar-day theta


def test_greeks_match_finite_differences_to_4_significant_digits() -> None:
    """Closed-form Greeks against bumps of the price alone (an independent derivation)."""
    s, k, t, r, v = 49.0, 50.0, 0.3846, 0.05, 0.20

    def price(**kw: float) -> float:
        a = {"spot": s, "strike": k, "t": t, "r": r, "sigma": v} | kw
        return float(black_scholes("call", a["spot"], a["strike"], a["t"], a["r"], a["sigma"]).price)

    g = black_scholes("call", s, k, t, r, v)
    h = 1e-4
    fd = {
        "delta": (price(spot=s + h) - price(spot=s - h)) / (2 * h),
        "gamma": (price(spot=s + 1e-2) - 2 * price() + price(spot=s - 1e-2)) / 1e-4,
        "vega": (price(sigma=v + h) - price(sigma=v - h)) / (2 * h),
        "theta": -(price(t=t + h) - price(t=t - h)) / (2 * h),
        "rho": (price(r=r + h) - price(r=r - h)) / (2 * h),
    }
    for name, value in fd.items():
        assert sig4(getattr(g, name)) == sig4(value), name
    assert sig4(g.delta) == 0.5216 and sig4(g.gamma) == 0.06555 and sig4(g.vega) == 12.11
    assert sig4(g.theta) == -4.305 and sig4(g.rho) == 8.907


def test_black76_hull_futures_put_example() -> None:
    """Hull: European put on crude-oil futures, F=K=20, 4 months, r=9%, σ=25% → p = 1.12."""
    g = black76("put", 20, 20, 4 / 12, 0.09, 0.25)
    assert round(g.price, 2) == 1.12
    # Black-76 is BSM on the forward discounted: the undiscounted value is the lognormal expectation.
    undiscounted = integrated_price("put", 20, 20, 4 / 12, 0.0, 0.25)
    assert sig4(g.price) == sig4(math.exp(-0.09 * 4 / 12) * undiscounted)


def test_black76_greeks_hold_forward_fixed() -> None:
    f, k, t, r, v = 100.0, 95.0, 0.5, 0.03, 0.4
    g = black76("call", f, k, t, r, v)
    h = 1e-4
    up, dn = black76("call", f + h, k, t, r, v).price, black76("call", f - h, k, t, r, v).price
    assert g.delta == pytest.approx((up - dn) / (2 * h), rel=1e-7)
    r_up, r_dn = black76("call", f, k, t, r + h, v).price, black76("call", f, k, t, r - h, v).price
    assert g.rho == pytest.approx((r_up - r_dn) / (2 * h), rel=1e-7)
    assert g.rho == pytest.approx(-t * g.price)


def test_hull_implied_vol_example() -> None:
    """Hull: a call worth 1.875 with S=21, K=20, r=10%, T=0.25 has an implied volatility of 23.5 %."""
    assert round(implied_vol_black_scholes(1.875, "call", 21, 20, 0.25, 0.10), 3) == 0.235


def test_vectorised_matches_scalar() -> None:
    f = np.array([80.0, 100.0, 120.0])
    g = black76("call", f, 100.0, 0.25, 0.0, 0.5)
    for i, fi in enumerate(f):
        assert g.price[i] == pytest.approx(black76("call", fi, 100.0, 0.25, 0.0, 0.5).price, rel=1e-15)


def test_implied_vol_rejects_price_below_intrinsic_and_above_cap() -> None:
    f, k, t, r = 110.0, 100.0, 0.5, 0.05
    intrinsic = math.exp(-r * t) * 10.0
    with pytest.raises(NoImpliedVolatility, match="intrinsic"):
        implied_vol_black76(intrinsic - 0.01, "call", f, k, t, r)
    with pytest.raises(NoImpliedVolatility, match="intrinsic"):
        implied_vol_black76(intrinsic, "call", f, k, t, r)
    with pytest.raises(NoImpliedVolatility, match="forward"):
        implied_vol_black76(math.exp(-r * t) * f, "call", f, k, t, r)
    with pytest.raises(NoImpliedVolatility, match="strike"):
        implied_vol_black76(math.exp(-r * t) * k + 1, "put", f, k, t, r)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.0, -1.0])
def test_bad_inputs_are_typed_errors(bad: float) -> None:
    with pytest.raises(PricingInputError):
        black76("call", bad, 100.0, 0.5, 0.0, 0.2)
    with pytest.raises(PricingInputError):
        black_scholes("put", 100.0, 100.0, 0.5, 0.0, bad)


positive = st.floats(min_value=1.0, max_value=1e5)
maturities = st.floats(min_value=1 / 365, max_value=5.0)
rates = st.floats(min_value=-0.02, max_value=0.2)
vols = st.floats(min_value=0.05, max_value=3.0)


@settings(max_examples=300, deadline=None)
@given(s=positive, k_ratio=st.floats(0.3, 3.0), t=maturities, r=rates, q=st.floats(0.0, 0.1), v=vols)
def test_put_call_parity_black_scholes(
    s: float, k_ratio: float, t: float, r: float, q: float, v: float
) -> None:
    """c − p = S·e^(−qT) − K·e^(−rT), and the deltas differ by e^(−qT)."""
    k = s * k_ratio
    c, p = black_scholes("call", s, k, t, r, v, q), black_scholes("put", s, k, t, r, v, q)
    parity = s * math.exp(-q * t) - k * math.exp(-r * t)
    assert c.price - p.price == pytest.approx(parity, abs=1e-9 * (s + k))
    assert c.delta - p.delta == pytest.approx(math.exp(-q * t), abs=1e-12)
    assert c.gamma == pytest.approx(p.gamma, rel=1e-9) and c.vega == pytest.approx(p.vega, rel=1e-9)


@settings(max_examples=300, deadline=None)
@given(f=positive, k_ratio=st.floats(0.3, 3.0), t=maturities, r=rates, v=vols)
def test_put_call_parity_black76(f: float, k_ratio: float, t: float, r: float, v: float) -> None:
    k = f * k_ratio
    c, p = black76("call", f, k, t, r, v), black76("put", f, k, t, r, v)
    assert c.price - p.price == pytest.approx(math.exp(-r * t) * (f - k), abs=1e-9 * (f + k))


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["call", "put"]),
    f=positive,
    k_ratio=st.floats(0.5, 2.0),
    t=st.floats(7 / 365, 2.0),
    r=rates,
    v=st.floats(0.05, 2.0),
)
def test_implied_vol_round_trip(kind: str, f: float, k_ratio: float, t: float, r: float, v: float) -> None:
    """IV(price(σ)) = σ wherever the price carries enough time value to pin σ down in floats."""
    k = f * k_ratio
    g = black76(kind, f, k, t, r, v)
    intrinsic = math.exp(-r * t) * max((f - k) if kind == "call" else (k - f), 0.0)
    # Deep in/out of the money the price hardly depends on σ; skip where vega·σ is below float noise.
    assume(g.vega * v >= 1e-6 * (f + k) and g.price - intrinsic >= 1e-9 * (f + k))
    assert implied_vol_black76(g.price, kind, f, k, t, r) == pytest.approx(v, rel=1e-6)
