"""Option prices and Greeks: Black-76 on the forward, Black-Scholes-Merton on spot; implied volatility.

**Floats, for risk views and off-chain tables only — never inside a state transition.** The engine
settles on exact integers (:mod:`~clearhouse.options.settlement`) and margins on an integer table that
these functions fill off-chain (:mod:`~clearhouse.options.portfolio_margin`); a float here can only
move a view or the table a vol-surface transaction carries, never a balance directly.

Conventions (Hull, *Options, Futures, and Other Derivatives*): time ``t`` in years, rates continuously
compounded, ``sigma`` a fraction (0.2 = 20 %). Vega is per unit of sigma (divide by 100 for "per vol
point"), theta is the change per year of calendar time (``-dV/dT``; divide by 365 for per day), rho per
unit of rate. Black-76 Greeks are taken with the *forward* held fixed (delta = dV/dF, and rho = -t·V
since only the discount factor depends on r); Black-Scholes Greeks with *spot* held fixed.

Every function accepts floats or NumPy arrays (broadcast together), so the portfolio-margin table
builder prices a whole scenario grid in one call.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq
from scipy.special import ndtr

from clearhouse.options.instruments import OptionKind

#: Implied-volatility search interval (fractions): 0.0001 % to 2000 %.
IV_LOWER = 1e-6
IV_UPPER = 20.0

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class PricingInputError(ValueError):
    """An input a price cannot be computed from: non-finite, non-positive price/strike/time/vol."""


class NoImpliedVolatility(ValueError):
    """No volatility reproduces the price: it is at or below intrinsic value or at or above its cap."""


class Greeks(NamedTuple):
    """Price and first/second-order sensitivities of one unit of an option (see module conventions)."""

    price: float | NDArray[np.float64]
    delta: float | NDArray[np.float64]
    gamma: float | NDArray[np.float64]
    vega: float | NDArray[np.float64]
    theta: float | NDArray[np.float64]
    rho: float | NDArray[np.float64]


def _pdf(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(_INV_SQRT_2PI * np.exp(-0.5 * x * x))


def _out(x: NDArray[np.float64]) -> float | NDArray[np.float64]:
    """A 0-d result as a Python float, arrays unchanged."""
    return float(x) if np.ndim(x) == 0 else x


def _check(name: str, x: NDArray[np.float64], allow_zero: bool = False) -> None:
    if not np.all(np.isfinite(x)):
        raise PricingInputError(f"{name} must be finite, got {x}")
    if np.any(x < 0) or (not allow_zero and np.any(x == 0)):
        raise PricingInputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {x}")


def _bsm(
    kind: OptionKind, s: ArrayLike, k: ArrayLike, t: ArrayLike, r: ArrayLike, q: ArrayLike, sigma: ArrayLike
) -> Greeks:
    """Generalised Black-Scholes-Merton with carry ``r - q`` (q = r gives Black-76 on a forward)."""
    kind = OptionKind(kind)
    s_, k_, t_, sig = (np.asarray(v, dtype=np.float64) for v in (s, k, t, sigma))
    r_, q_ = np.asarray(r, dtype=np.float64), np.asarray(q, dtype=np.float64)
    for name, v in (("underlying price", s_), ("strike", k_), ("time to expiry", t_), ("sigma", sig)):
        _check(name, v)
    if not (np.all(np.isfinite(r_)) and np.all(np.isfinite(q_))):
        raise PricingInputError(f"rates must be finite, got r={r_} q={q_}")
    sqrt_t = np.sqrt(t_)
    vol_t = sig * sqrt_t
    d1 = (np.log(s_ / k_) + (r_ - q_ + 0.5 * sig * sig) * t_) / vol_t
    d2 = d1 - vol_t
    df_r, df_q = np.exp(-r_ * t_), np.exp(-q_ * t_)
    n_d1 = _pdf(d1)
    gamma = df_q * n_d1 / (s_ * vol_t)
    vega = s_ * df_q * n_d1 * sqrt_t
    decay = -s_ * df_q * n_d1 * sig / (2.0 * sqrt_t)
    if kind is OptionKind.CALL:
        nd1, nd2 = ndtr(d1), ndtr(d2)
        price = s_ * df_q * nd1 - k_ * df_r * nd2
        delta = df_q * nd1
        theta = decay + q_ * s_ * df_q * nd1 - r_ * k_ * df_r * nd2
        rho = k_ * t_ * df_r * nd2
    else:
        nmd1, nmd2 = ndtr(-d1), ndtr(-d2)
        price = k_ * df_r * nmd2 - s_ * df_q * nmd1
        delta = -df_q * nmd1
        theta = decay - q_ * s_ * df_q * nmd1 + r_ * k_ * df_r * nmd2
        rho = -k_ * t_ * df_r * nmd2
    return Greeks(*(_out(np.asarray(v)) for v in (price, delta, gamma, vega, theta, rho)))


def black_scholes(
    kind: OptionKind | str,
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    sigma: ArrayLike,
    q: ArrayLike = 0.0,
) -> Greeks:
    """Black-Scholes-Merton price and Greeks of a European option on spot with dividend yield ``q``."""
    return _bsm(OptionKind(kind), spot, strike, t, r, q, sigma)


def black76(
    kind: OptionKind | str,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    sigma: ArrayLike,
) -> Greeks:
    """Black-76 price and Greeks of a European option on a forward/futures price (forward held fixed)."""
    g = _bsm(OptionKind(kind), forward, strike, t, r, r, sigma)
    rho = _out(np.asarray(-np.asarray(t, dtype=np.float64) * np.asarray(g.price)))
    return g._replace(rho=rho)


def price_bounds(
    kind: OptionKind | str, forward: float, strike: float, t: float, r: float
) -> tuple[float, float]:
    """No-arbitrage open interval of a European price: (discounted intrinsic, discounted cap).

    The cap is the discounted forward for a call and the discounted strike for a put; a price outside
    the open interval has no implied volatility.
    """
    df = math.exp(-r * t)
    if OptionKind(kind) is OptionKind.CALL:
        return df * max(forward - strike, 0.0), df * forward
    return df * max(strike - forward, 0.0), df * strike


def implied_vol_black76(
    price: float, kind: OptionKind | str, forward: float, strike: float, t: float, r: float
) -> float:
    """The Black-76 volatility reproducing ``price`` (Brent's method on [IV_LOWER, IV_UPPER]).

    Raises :class:`NoImpliedVolatility` when the price is at or below the discounted intrinsic value or
    at or above the discounted forward (call) / strike (put), or needs a vol outside the interval.
    """
    kind = OptionKind(kind)
    for name, v in (("price", price), ("forward", forward), ("strike", strike), ("t", t), ("r", r)):
        if not math.isfinite(v):
            raise PricingInputError(f"{name} must be finite, got {v}")
    if forward <= 0 or strike <= 0 or t <= 0:
        raise PricingInputError(f"forward, strike and t must be > 0, got {forward}, {strike}, {t}")
    lo, hi = price_bounds(kind, forward, strike, t, r)
    if price <= lo:
        raise NoImpliedVolatility(
            f"{kind} price {price} is at or below its discounted intrinsic value {lo} "
            f"(F={forward}, K={strike})"
        )
    if price >= hi:
        cap = "forward" if kind is OptionKind.CALL else "strike"
        raise NoImpliedVolatility(f"{kind} price {price} is at or above the discounted {cap} {hi}")

    def excess(sigma: float) -> float:
        return float(black76(kind, forward, strike, t, r, sigma).price) - price

    f_lo, f_hi = excess(IV_LOWER), excess(IV_UPPER)
    if f_lo > 0 or f_hi < 0:
        raise NoImpliedVolatility(
            f"{kind} price {price} needs a volatility outside [{IV_LOWER}, {IV_UPPER}] "
            f"(F={forward}, K={strike}, t={t})"
        )
    if f_lo == 0:
        return IV_LOWER
    return float(brentq(excess, IV_LOWER, IV_UPPER, xtol=1e-14, rtol=1e-12, maxiter=200))


def implied_vol_black_scholes(
    price: float, kind: OptionKind | str, spot: float, strike: float, t: float, r: float, q: float = 0.0
) -> float:
    """The Black-Scholes volatility reproducing ``price``: Black-76 on the forward ``S·e^((r-q)t)``.

    The two models agree exactly for a European option, so the search is the same.
    """
    if not (math.isfinite(spot) and math.isfinite(q) and math.isfinite(t) and math.isfinite(r)):
        raise PricingInputError(f"spot, t, r and q must be finite, got {spot}, {t}, {r}, {q}")
    return implied_vol_black76(price, kind, spot * math.exp((r - q) * t), strike, t, r)
