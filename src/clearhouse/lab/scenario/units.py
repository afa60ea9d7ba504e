"""Unit conversions of scenario values: durations, WAD/RAY fixed point, annual fee to per-second duty."""

from __future__ import annotations

import math
import re

from clearhouse.core.errors import ClearhouseError
from clearhouse.core.fixedpoint import RAY, WAD, to_fixed
from clearhouse.lab.scenario.model import ScenarioError

SECONDS_PER_YEAR = 365 * 86400

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: int | str, file: str, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(value))
        if m is None:
            raise ScenarioError(file, field, f"must be seconds or a duration like '48h', got {value!r}")
        seconds = round(float(m.group(1)) * _UNITS[m.group(2)])
    if seconds <= 0:
        raise ScenarioError(file, field, f"must be > 0, got {value!r}")
    return seconds


def wad(value: float | str, file: str, field: str) -> int:
    try:
        return to_fixed(value, WAD, field)
    except ClearhouseError as exc:
        raise ScenarioError(file, field, f"is not a usable number: {exc}") from None


def fixed(value: float, scale: int, file: str, field: str, *, lo: float | None = 0.0) -> int:
    if not math.isfinite(value):
        raise ScenarioError(file, field, f"must be finite, got {value}")
    if lo is not None and value < lo:
        raise ScenarioError(file, field, f"must be >= {lo}, got {value}")
    try:
        return to_fixed(value, scale, field)
    except ClearhouseError as exc:
        raise ScenarioError(file, field, f"is not a usable number: {exc}") from None


def annual_to_duty(fee: float) -> int:
    """Per-second RAY factor ``(1 + fee) ** (1 / year)`` (jug ``duty``), rounded half-even."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 60
        per_second = (Decimal(repr(1.0 + fee)).ln() / SECONDS_PER_YEAR).exp()
        return int((per_second * RAY).to_integral_value())
