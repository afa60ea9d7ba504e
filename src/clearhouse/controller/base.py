"""What a controller sees and what it says.

A controller is a small deterministic class: given the same sequence of :class:`Observation` values it
returns the same :class:`Change` lists (integer WAD arithmetic, no clock, no randomness). It states the
value it *wants* for each parameter; the :class:`~clearhouse.controller.agent.StewardAgent` turns that into
the largest step the guardrail allows and sends it as ``ProposeParameter`` / ``ApplyParameter``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from clearhouse.core.fixedpoint import WAD


@dataclass(frozen=True, slots=True)
class Change:
    """The value a controller wants for one (scope, target, parameter)."""

    scope: str
    target: str
    parameter: str
    value: int


@dataclass(frozen=True, slots=True)
class Observation:
    """One look at the world (all integers; WAD unless stated).

    Drivers fill what they know; a controller ignores what it does not use and proposes nothing for a
    target whose inputs are missing."""

    #: Block time (seconds).
    time: int
    #: Price key -> index price.
    prices: Mapping[str, int] = field(default_factory=dict)
    #: Price key -> implied volatility, annualised (WAD), when an options market quotes one.
    implied_vol: Mapping[str, int] = field(default_factory=dict)
    #: Market -> open interest (base units) and largest single position (base units).
    open_interest: Mapping[str, int] = field(default_factory=dict)
    largest_position: Mapping[str, int] = field(default_factory=dict)
    #: Market -> base reserve of the pool / book depth liquidations sell into (base units).
    depth: Mapping[str, int] = field(default_factory=dict)
    #: Gas price percentiles in gwei (WAD), e.g. ``{"p50": ..., "p90": ...}``, and the gas token price.
    gas_gwei: Mapping[str, int] = field(default_factory=dict)
    gas_token_price: int = 0
    #: Seconds between an account falling below maintenance and its liquidation landing (recent median).
    keeper_lag: int = 0


class Controller(Protocol):
    """A controller: ``name`` for reports, ``update`` once per observation."""

    name: str

    def update(self, obs: Observation) -> list[Change]: ...


def clamp(value: int, lower: int, upper: int) -> int:
    return max(lower, min(upper, value))


def wsqrt(x: int) -> int:
    """Square root of a WAD number, in WAD, rounded down (``sqrt(x / 1e18) * 1e18``)."""
    return math.isqrt(max(x, 0) * WAD)


class EwmaVolatility:
    """RiskMetrics EWMA of squared oracle returns, per second, in WAD.

    ``var <- lam x var + (1 - lam) x r^2 / dt`` with ``r = (p - p_prev) / p_prev``; the first return seeds
    the variance. ``sigma(h) = sqrt(var x h)`` is the standard deviation of an ``h``-second move."""

    def __init__(self, lam: int = 94 * WAD // 100) -> None:
        if not 0 <= lam < WAD:
            raise ValueError(f"EWMA decay must be in [0, 1), got {lam}")
        self.lam = lam
        self.var_per_s = 0
        self.samples = 0
        self._last: tuple[int, int] | None = None

    def observe(self, time: int, price: int) -> None:
        if price <= 0:
            return
        last = self._last
        self._last = (time, price)
        if last is None or time <= last[0]:
            return
        r = (price - last[1]) * WAD // last[1]
        sample = r * r // WAD // (time - last[0])
        if self.samples == 0:
            self.var_per_s = sample
        else:
            self.var_per_s = (self.lam * self.var_per_s + (WAD - self.lam) * sample) // WAD
        self.samples += 1

    def sigma(self, horizon: int) -> int:
        return wsqrt(self.var_per_s * horizon)

    def observe_key(self, obs: Observation, key: str, min_samples: int) -> bool:
        """Feed ``obs.prices[key]`` (when present) and say whether a controller may act on it now: the
        price was there and at least ``min_samples`` returns were seen."""
        price = obs.prices.get(key)
        if price is None:
            return False
        self.observe(obs.time, price)
        return self.samples >= min_samples


__all__ = ["Change", "Controller", "EwmaVolatility", "Observation", "clamp", "wsqrt"]
