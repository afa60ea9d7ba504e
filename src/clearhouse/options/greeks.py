"""Per-account Greeks and the distance-to-liquidation estimate from delta and gamma (a risk view).

Floats, for views only (never inside a state transition). Greeks are Black-76 on the forward
(:mod:`~clearhouse.options.pricing`); a linear position (perp or dated future) has delta = size and no
other Greek. Account Greeks are size-weighted sums.

**Distance to liquidation.** To second order, a spot move ``dS`` changes equity by ``Δ·dS + ½·Γ·dS²``
(maintenance held fixed). The account reaches its maintenance requirement where

    ½·Γ·dS² + Δ·dS + (equity − maintenance) = 0,

and the estimate is the root nearest zero on each side (down and up); ``None`` on a side that never
reaches it under the quadratic. An account already at or below maintenance is at distance 0. It is an
estimate: the exact liquidation test is the integer portfolio-margin check, and vega/theta are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import msgspec

from clearhouse.options.instruments import OptionKind
from clearhouse.options.pricing import Greeks, black76


class OptionHolding(msgspec.Struct, frozen=True):
    """An option position with its valuation inputs (floats; ``t`` in years)."""

    kind: OptionKind
    size: float
    forward: float
    strike: float
    t: float
    sigma: float
    r: float = 0.0


class AccountGreeks(msgspec.Struct, frozen=True):
    """Size-weighted sums over an account's positions (units as in :mod:`pricing`)."""

    value: float
    delta: float
    gamma: float
    vega: float
    theta: float
    rho: float


def position_greeks(h: OptionHolding) -> Greeks:
    """One position's Greeks: the unit Greeks times its signed size."""
    g = black76(h.kind, h.forward, h.strike, h.t, h.r, h.sigma)
    return Greeks(*(float(x) * h.size for x in g))


def account_greeks(options: Iterable[OptionHolding], linear_sizes: Iterable[float] = ()) -> AccountGreeks:
    """Sum the Greeks of the options and the deltas of the linear positions."""
    totals = [0.0] * 6
    for h in options:
        for i, x in enumerate(position_greeks(h)):
            totals[i] += float(x)
    totals[1] += math.fsum(linear_sizes)
    return AccountGreeks(*totals)


class LiquidationDistance(msgspec.Struct, frozen=True):
    """Estimated spot moves (price units, signed) to maintenance; ``None`` if never reached that way."""

    down: float | None
    up: float | None

    @property
    def nearest(self) -> float | None:
        """The smaller move in absolute value (the down move on a tie)."""
        sides = [x for x in (self.down, self.up) if x is not None]
        return min(sides, key=abs) if sides else None


def distance_to_liquidation(
    delta: float, gamma: float, equity: float, maintenance: float
) -> LiquidationDistance:
    """The nearest roots of ½Γ·dS² + Δ·dS + (equity − maintenance) = 0 below and above zero."""
    for name, v in (("delta", delta), ("gamma", gamma), ("equity", equity), ("maintenance", maintenance)):
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v}")
    c = equity - maintenance
    if c <= 0:
        return LiquidationDistance(0.0, 0.0)
    a, b = 0.5 * gamma, delta
    roots: list[float]
    if a == 0.0:
        roots = [] if b == 0.0 else [-c / b]
    else:
        disc = b * b - 4 * a * c
        if disc < 0:
            roots = []
        else:
            # numerically stable pair: q = −½(b + sign(b)·√disc), roots q/a and c/q
            sq = math.sqrt(disc)
            q = -0.5 * (b + math.copysign(sq, b))
            roots = [q / a, c / q]  # q != 0: |q| >= |b|/2, and b = 0 needs a < 0, so √disc > 0
    roots = [x for x in roots if math.isfinite(x)]  # a subnormal gamma's far root overflows
    down = max((x for x in roots if x < 0), default=None)
    up = min((x for x in roots if x > 0), default=None)
    return LiquidationDistance(down, up)
