"""Report sources outside the engine: historical CSV files and synthetic price models.

This is the boundary: text and floats become WAD integers here, once, through ``to_fixed``
(half-even), and never again. Randomness (for synthetic sources) is seeded and lives only here; a
feed fed the same reports is deterministic.

CSV files are described by a :class:`CsvFormat` (which column is time, in which unit, which
columns are open/high/low/close). Presets cover the files in ``/work/shared/data`` (see its
README): note that the MDD Binance files order their columns **open, close, high, low** — the
format maps columns by name, so order does not matter.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Final, Literal

import msgspec

from clearhouse.core.errors import InvalidValue
from clearhouse.core.fixedpoint import WAD, to_fixed
from clearhouse.oracle.reports import SourceReport

TimeUnit = Literal["iso", "s", "ms", "us"]
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class CsvFormat(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Column mapping of a price CSV. ``time`` is a column name, or an int index for unnamed columns."""

    time: str | int
    close: str
    time_unit: TimeUnit = "iso"
    open: str | None = None
    high: str | None = None
    low: str | None = None


#: Binance klines via MDD (``,open,close,high,low,volume``; unnamed time column, UTC).
MDD_OHLCV: Final = CsvFormat(time=0, time_unit="iso", open="open", high="high", low="low", close="close")
#: MARK6 hourly closes (``open_time,close``).
MARK6_CLOSE: Final = CsvFormat(time="open_time", close="close")
#: CoinAPI OHLCV (SSIMS ETH and DAI 10-minute files).
COINAPI_OHLCV: Final = CsvFormat(
    time="time_period_start", open="price_open", high="price_high", low="price_low", close="price_close"
)
#: Binance kline CSV with epoch-millisecond open times (the GLORY mark-price files).
BINANCE_KLINES_MS: Final = CsvFormat(
    time="open_time", time_unit="ms", open="open", high="high", low="low", close="close"
)
#: Tardis-style trades (Gemini files): one "bar" per trade, price only, microsecond times.
TARDIS_TRADES: Final = CsvFormat(time="timestamp", time_unit="us", close="price")


class Bar(msgspec.Struct, frozen=True):
    """One row: ``time`` in seconds (bar open time), prices in WAD (``None`` if the file has none)."""

    time: int
    close: int
    open: int | None = None
    high: int | None = None
    low: int | None = None


def parse_time(text: str, unit: TimeUnit) -> int:
    """Seconds since the epoch (UTC, floored) from an ISO-8601 string or an epoch number."""
    text = text.strip()
    if unit == "iso":
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return (dt - _EPOCH) // timedelta(seconds=1)
    scale = {"s": 1, "ms": 1000, "us": 1_000_000}[unit]
    return int(text) // scale


def read_bars(path: str | Path, fmt: CsvFormat) -> list[Bar]:
    """Read a price CSV; rows with an empty close (exchange maintenance) are skipped."""
    out: list[Bar] = []
    with open(path, newline="") as fh:
        rows = csv.reader(fh)
        header = next(rows)
        col = {name: i for i, name in enumerate(header)}

        def index(name: str | int) -> int:
            if isinstance(name, int):
                return name
            if name not in col:
                raise InvalidValue(f"{path}: no column {name!r} in {header}")
            return col[name]

        t_i, c_i = index(fmt.time), index(fmt.close)
        ohl = [None if n is None else index(n) for n in (fmt.open, fmt.high, fmt.low)]
        for line_no, row in enumerate(rows, start=2):
            if not row or not row[c_i].strip():
                continue
            where = f"{Path(path).name}:{line_no}"
            t = parse_time(row[t_i], fmt.time_unit)
            o, h, lo = (None if i is None else to_fixed(row[i], WAD, f"{where} price") for i in ohl)
            out.append(Bar(t, to_fixed(row[c_i], WAD, f"{where} close"), o, h, lo))
    return out


def bar_reports(
    bars: Iterable[Bar], source: str, asset: str, bar_seconds: int, mode: Literal["close", "path"] = "close"
) -> Iterator[SourceReport]:
    """Turn bars into reports of one source.

    ``close``: one report per bar, the close, observed at the bar's last second
    (``time + bar_seconds - 1``; ``time`` itself for tick rows with ``bar_seconds = 0``).
    ``path``: four reports per bar walking open → high → low → close for a falling bar and
    open → low → high → close otherwise, at ``time``, ``+bar/3``, ``+2·bar/3`` and the last second,
    so extremes (a crash low) reach the feed.
    """
    last = max(bar_seconds - 1, 0)
    for b in bars:
        if mode == "close" or b.open is None or b.high is None or b.low is None:
            yield SourceReport(source, asset, b.close, b.time + last)
            continue
        first, second = (b.high, b.low) if b.close < b.open else (b.low, b.high)
        points = ((0, b.open), (bar_seconds // 3, first), (2 * bar_seconds // 3, second), (last, b.close))
        prev = -1
        for offset, price in points:
            if offset > prev:
                yield SourceReport(source, asset, price, b.time + offset)
                prev = offset


# ----------------------------------------------------------------------------- synthetic sources


def gbm_path(
    start: str | float | Decimal,
    *,
    drift: float,
    vol: float,
    dt: int,
    steps: int,
    seed: int,
    t0: int = 0,
) -> list[tuple[int, int]]:
    """A geometric Brownian motion path ``[(time, WAD price)]`` (annualised ``drift`` and ``vol``).

    Floats are used only to generate the path and are converted with ``to_fixed`` per point.
    """
    rng = random.Random(seed)
    year = 365 * 24 * 3600
    h = dt / year
    price = float(start)
    out = [(t0, to_fixed(price, WAD, "gbm price"))]
    for i in range(1, steps + 1):
        price *= math.exp((drift - vol * vol / 2) * h + vol * math.sqrt(h) * rng.gauss(0.0, 1.0))
        out.append((t0 + i * dt, to_fixed(price, WAD, "gbm price")))
    return out


def noisy_sources(
    path: Sequence[tuple[int, int]], sources: Sequence[str], asset: str, *, spread_bps: int, seed: int
) -> Iterator[tuple[int, list[SourceReport]]]:
    """Per point of ``path``, one report per source at ``price * (1 + u / 10_000)``, ``u`` uniform in
    ``[-spread_bps, spread_bps]`` (integers); yields ``(time, reports)`` ready for ``OracleFeed.update``.
    """
    rng = random.Random(seed)
    for t, p in path:
        yield (
            t,
            [
                SourceReport(s, asset, p * (10_000 + rng.randint(-spread_bps, spread_bps)) // 10_000, t)
                for s in sources
            ],
        )


def last_per_interval(bars: Iterable[Bar], seconds: int) -> list[Bar]:
    """Keep the last row of each ``seconds``-long bucket (e.g. trades → one report per second)."""
    out: dict[int, Bar] = {}
    for b in bars:
        out[b.time - b.time % seconds] = b
    return [msgspec.structs.replace(b, time=t) for t, b in sorted(out.items())]


def manipulate(
    reports: Sequence[SourceReport], sources: Iterable[str], num: int, den: int = 1
) -> list[SourceReport]:
    """Adversarial helper: multiply the prices of ``sources`` by ``num / den`` (floored)."""
    bad = set(sources)
    return [msgspec.structs.replace(r, price=r.price * num // den) if r.source in bad else r for r in reports]
