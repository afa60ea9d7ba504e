"""Build a portfolio-margin :class:`ScenarioTable` off-chain: float Black-76 over a grid spec.

This is the float half of the split described in :mod:`~clearhouse.options.portfolio_margin`: it runs
where a vol surface is published (and in tests, tools, benchmarks), never inside a state transition.
Each per-unit value is converted to WAD once, half-even, at the boundary (:func:`to_fixed`).

Scenario revaluation of one option (expiry ``T`` years ahead of the table's ``as_of``):

* spot ``S' = S × (1 + shock)``; the forward moves with it (``F' = S' × e^(rT)``);
* vol ``σ' = σ × (1 + vol_up × scale(T))`` or ``σ × (1 − vol_down × scale(T))`` (floored at 1 %), with
  ``scale(T) = (30 days / max(T, min_scaling_time))^p`` — ``p = vol_power_short`` below 30 days,
  ``vol_power_long`` beyond (``p = 0``: no time scaling, as SPAN);
* time ``T' = T − look_ahead``; an option expiring within the look-ahead is worth its intrinsic value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np
from numpy.typing import NDArray

from clearhouse.core.fixedpoint import WAD, to_fixed
from clearhouse.options.instruments import OptionKind
from clearhouse.options.portfolio_margin import GridSpec, OptionRow, ScenarioTable, VolMove
from clearhouse.options.pricing import black76
from clearhouse.options.surface import VolSurface, implied_vol

YEAR_SECONDS = 365 * 86_400
THIRTY_DAYS = 30 * 86_400
MIN_VOL = 0.01


class OptionQuote(msgspec.Struct, frozen=True):
    """A listed option and the implied vol (fraction) to value it at."""

    instrument: str
    kind: OptionKind
    strike: int
    expiry: int
    vol: float


def vol_scale(spec: GridSpec, seconds_to_expiry: int) -> float:
    """(30 days / T)^p for the spec (1.0 when p = 0)."""
    t = max(seconds_to_expiry, spec.min_scaling_time)
    p = (spec.vol_power_short if t < THIRTY_DAYS else spec.vol_power_long) / WAD
    return float((THIRTY_DAYS / t) ** p)


def shocked_vol(spec: GridSpec, vol: float, move: VolMove, seconds_to_expiry: int) -> float:
    """The vol of one option in a scenario with vol move ``move``."""
    if move is VolMove.NONE:
        return vol
    scale = vol_scale(spec, seconds_to_expiry)
    if move is VolMove.UP:
        return vol * (1.0 + spec.vol_up / WAD * scale)
    return max(vol * (1.0 - spec.vol_down / WAD * scale), MIN_VOL)


def _value(kind: OptionKind, spot: float, strike: float, seconds: int, r: float, vol: float) -> float:
    if seconds <= 0:
        return max(spot - strike, 0.0) if kind is OptionKind.CALL else max(strike - spot, 0.0)
    t = seconds / YEAR_SECONDS
    return float(black76(kind, spot * math.exp(r * t), strike, t, r, vol).price)


def _values(
    kind: OptionKind,
    spots: NDArray[np.float64],
    strike: float,
    seconds: int,
    r: float,
    vols: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``_value`` over arrays of spots and vols (one expiry)."""
    if seconds <= 0:
        diff = spots - strike if kind is OptionKind.CALL else strike - spots
        return np.maximum(diff, 0.0)
    t = seconds / YEAR_SECONDS
    return np.asarray(black76(kind, spots * math.exp(r * t), strike, t, r, vols).price, dtype=np.float64)


def build_table(
    spec: GridSpec,
    underlying: str,
    spot: int,
    as_of: int,
    quotes: Sequence[OptionQuote],
    r: float = 0.0,
) -> ScenarioTable:
    """The scenario table of ``quotes`` under ``spec`` (rows sorted by instrument id)."""
    spec.validate()
    scenarios = spec.scenarios()
    s0 = spot / WAD
    shocks = np.array([sc.spot_shock / WAD for sc in scenarios], dtype=np.float64)
    rows = []
    for q in sorted(quotes, key=lambda q: q.instrument):
        if q.expiry <= as_of:
            raise ValueError(f"option {q.instrument} expires at {q.expiry}, not after {as_of}")
        k = q.strike / WAD
        ahead = q.expiry - as_of
        mark = _value(q.kind, s0, k, ahead, r, q.vol)
        # all scenarios of one option in one vectorised Black-76 call (floats, off-chain)
        spots = s0 * (1.0 + shocks)
        vols = np.array([shocked_vol(spec, q.vol, sc.vol, ahead) for sc in scenarios], dtype=np.float64)
        values = tuple(
            to_fixed(v, name=f"{q.instrument} scenario value")
            for v in _values(q.kind, spots, k, ahead - spec.look_ahead, r, vols).tolist()
        )
        rows.append(OptionRow(q.instrument, q.kind, q.strike, q.expiry, to_fixed(mark, name="mark"), values))
    table = ScenarioTable(underlying, spot, as_of, scenarios, tuple(rows))
    table.validate()
    return table


def quotes_from_surface(
    surface: VolSurface, spot: int, as_of: int, options: Sequence[tuple[str, OptionKind, int, int]]
) -> list[OptionQuote]:
    """Quotes for ``(instrument, kind, strike, expiry)`` with vols read off a surface (forward = spot)."""
    return [
        OptionQuote(name, kind, strike, expiry, implied_vol(surface, strike / WAD, spot / WAD, expiry, as_of))
        for name, kind, strike, expiry in options
    ]
