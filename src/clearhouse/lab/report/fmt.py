"""Numbers as a reader wants them: thousands separators, units, never an exponent (``38,689,500.00
USDC``, not ``3.86895e+07``). Used by the report's tables and by its parameter table."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Units of ``aggregate.sections`` rows that are not amounts of an asset (``docs/metrics.md``).
PLAIN_UNITS = frozenset({"count", "s", "h", "x", "ratio", "bool", ""})


def _group(text: str) -> str:
    """Thousands separators on the integer part of a plain decimal string ('-1234.5' -> '-1,234.5')."""
    sign = "-" if text.startswith("-") else ""
    whole, dot, frac = text.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}{dot}{frac}"


def _nonfinite(value: float) -> str:
    return "NaN" if math.isnan(value) else ("∞" if value > 0 else "−∞")


def sig(value: float, digits: int = 4) -> str:
    """``digits`` significant digits in decimal notation with separators, trailing zeros dropped:
    ``sig(38689512.3) == '38,689,512'``, ``sig(0.000123456) == '0.0001235'``."""
    if not math.isfinite(value):
        return _nonfinite(value)
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    decimals = min(18, max(0, digits - 1 - exponent))
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def amount(value: float | int) -> str:
    """An amount: two decimals from 1 up (``1,234.50``), significant digits below (``0.0001235``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if not math.isfinite(value):
        return _nonfinite(value)
    if value == 0:
        return "0.00"
    return f"{value:,.2f}" if abs(value) >= 1 else sig(value, 4)


def duration(seconds: float) -> str:
    """``70,000 s (19.4 h)``; under an hour, seconds only."""
    text = f"{seconds:,.0f} s"
    return text + (f" ({seconds / 3600:,.1f} h)" if abs(seconds) >= 3600 else "")


def fmt_value(value: Any, unit: str, key: str = "") -> str:
    """One cell of a summary section: ``value`` in ``unit`` (a section row's unit: an asset such as
    ``USDC``, ``USDC·h``, ``count``, ``s``, ``h``, ``x``, ``ratio`` or ``bool``). ``None`` is "not
    reached" for a Kaplan–Meier quantile (``key``) beyond the data, a dash otherwise."""
    if value is None:
        return "not reached" if "kaplan_meier" in key else "—"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if not isinstance(value, int | float):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return _nonfinite(v)
    if unit == "count":
        return f"{value:,}" if isinstance(value, int) else (f"{v:,.0f}" if v.is_integer() else f"{v:,.2f}")
    if unit == "s":
        return duration(v)
    if unit == "h":
        return f"{v:,.1f} h"
    if unit == "x":
        return f"{v:,.2f}×"
    if unit == "ratio":
        return f"{v:,.3f}"
    if unit in ("bool", ""):
        return amount(value)
    return f"{amount(value)} {unit}"


def fmt_short(value: Any, unit: str) -> str:
    """A compact cell (a confidence bound next to its value): no asset suffix (the row label has the
    unit), durations in hours from an hour up: ``fmt_short(545100.0, "s") == '151.4 h'``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and unit not in PLAIN_UNITS:
        return amount(value)
    if unit == "s" and isinstance(value, int | float) and abs(value) >= 3600:
        return f"{value / 3600:,.1f} h"
    if unit == "s" and isinstance(value, int | float):
        return f"{value:,.0f} s"
    return fmt_value(value, unit)


def fmt_param(key: str, value: Any) -> str:
    """A scenario parameter as written, but readable: ``5000000.0`` -> ``5,000,000``, ``1e-05`` ->
    ``0.00001``; seeds and epoch times keep their digits ungrouped; lists stay lists."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        leaf = key.rsplit(".", 1)[-1]
        return str(value) if ("seed" in leaf or leaf.endswith("time")) else f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return _nonfinite(value)
        return _group(np.format_float_positional(value, trim="-"))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(fmt_param(key, v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {fmt_param(str(k), v)}" for k, v in value.items()) + "}"
    return str(value)


def d3_format(unit: str) -> str:
    """The d3-format plotly uses for hover values in ``unit``: counts as integers, amounts and prices
    with 4 significant digits in decimal notation (``~r`` never switches to an exponent)."""
    if unit == "count":
        return ",.0f"
    return ",.4~r"
