"""Line-aware CSV column reader shared by the replay price model and the gas-percentile table.

Column mapping reuses :class:`clearhouse.oracle.sources.CsvFormat` (time column by name, or by index
for the unnamed first column of the MDD files; ``time_unit`` ``iso``/``s``/``ms``/``us``) and its
presets and :func:`~clearhouse.oracle.sources.parse_time`. Unlike the oracle's ``read_bars`` (which
silently skips blank closes), this reader is strict: a blank row is refused with its file and line
unless the caller asks to skip blank rows, an unparsable cell is always refused, times must be
strictly increasing (a repeated time is refused unless ``allow_duplicates``, as for trade files
where several trades share a second), a gap between consecutive kept rows above
``max_gap_seconds`` is refused, and a file that is not UTF-8 text (a binary file) is refused in one
line naming it. Prices must lie within ``[MIN_PRICE, MAX_PRICE]``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from clearhouse.lab.errors import LabConfigError, LabDataError
from clearhouse.oracle.sources import (
    BINANCE_KLINES_MS,
    COINAPI_OHLCV,
    MARK6_CLOSE,
    MDD_OHLCV,
    TARDIS_TRADES,
    CsvFormat,
    TimeUnit,
    parse_time,
)

#: Smallest and largest price a data file may hold (settlement units per unit; WAD keeps 18
#: decimals, and a 1e30 tick is a data error, not a price).
MIN_PRICE: Final = 1e-12
MAX_PRICE: Final = 1e15

#: Column-mapping presets by name (for TOML scenarios), the oracle's presets for /work/shared/data.
CSV_PRESETS: Final[dict[str, CsvFormat]] = {
    "mdd_ohlcv": MDD_OHLCV,
    "mark6_close": MARK6_CLOSE,
    "coinapi_ohlcv": COINAPI_OHLCV,
    "binance_klines_ms": BINANCE_KLINES_MS,
    "tardis_trades": TARDIS_TRADES,
}


class Columns:
    """Rows of a CSV reduced to a time column (seconds) and some value columns (raw text)."""

    def __init__(self, file: str, times: npt.NDArray[np.int64], values: list[list[str]], lines: list[int]):
        self.file = file
        self.times = times
        #: ``values[c][r]``: the text of value column ``c`` on kept row ``r``.
        self.values = values
        #: Physical (1-based) line number of each kept row, for error messages.
        self.lines = lines


def read_columns(
    path: Path,
    time: str | int,
    time_unit: TimeUnit,
    value_columns: Sequence[str | int],
    *,
    skip_blank: bool = False,
    max_gap_seconds: int | None = None,
    allow_duplicates: bool = False,
) -> Columns:
    """Read ``time`` and ``value_columns`` of every row of ``path`` (header on line 1).

    A row is *blank* when it is empty or its time or any value cell is empty (e.g. the 116 exchange
    maintenance hours in the MDD hourly files): refused naming file and line, or skipped when
    ``skip_blank``. Raises :class:`LabDataError` naming file and line for missing columns, short rows,
    unparsable times, times going backwards and gaps above ``max_gap_seconds``.
    """
    name = path.name
    if not path.is_file():
        raise LabDataError(str(path), None, "file not found")
    try:
        return _read(path, time, time_unit, value_columns, skip_blank, max_gap_seconds, allow_duplicates)
    except UnicodeDecodeError as exc:
        raise LabDataError(name, None, f"is not a UTF-8 text CSV (binary data at byte {exc.start})") from None
    except csv.Error as exc:
        raise LabDataError(name, None, f"is not a readable CSV ({exc})") from None


def _read(
    path: Path,
    time: str | int,
    time_unit: TimeUnit,
    value_columns: Sequence[str | int],
    skip_blank: bool,
    max_gap_seconds: int | None,
    allow_duplicates: bool,
) -> Columns:
    name = path.name
    times: list[int] = []
    lines: list[int] = []
    values: list[list[str]] = [[] for _ in value_columns]
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise LabDataError(name, 1, "empty file, no header") from None
        if "\x00" in "".join(header):
            raise LabDataError(name, 1, "is not a text CSV (NUL bytes: a binary file)")
        col = {h.strip(): i for i, h in enumerate(header)}

        def index(c: str | int) -> int:
            if isinstance(c, int):
                if not 0 <= c < len(header):
                    raise LabDataError(name, 1, f"no column #{c} (header has {len(header)} columns)")
                return c
            if c not in col:
                raise LabDataError(name, 1, f"no column {c!r} in header {header}")
            return col[c]

        t_i = index(time)
        v_i = [index(c) for c in value_columns]
        need = max([t_i, *v_i]) + 1
        for row in reader:
            line = reader.line_num
            if any("\x00" in c for c in row):
                raise LabDataError(name, line, "is not a text CSV (NUL bytes: a binary file)")
            cells = [row[i].strip() if i < len(row) else "" for i in (t_i, *v_i)]
            if not row or not any(c.strip() for c in row):
                blank = "blank line"
            elif len(row) < need:
                raise LabDataError(name, line, f"row has {len(row)} fields, columns need {need}")
            elif any(not c for c in cells):
                blank = f"empty cell in column {[time, *value_columns][cells.index('')]!r}"
            else:
                blank = ""
            if blank:
                if skip_blank:
                    continue
                raise LabDataError(name, line, f"{blank} (set skip_blank = true to skip blank rows)")
            try:
                t = parse_time(cells[0], time_unit)
            except (ValueError, KeyError):
                raise LabDataError(
                    name, line, f"cannot parse time {cells[0]!r} in column {time!r} as {time_unit}"
                ) from None
            if times:
                if t < times[-1]:
                    raise LabDataError(name, line, f"time {cells[0]!r} goes backwards")
                if t == times[-1] and not allow_duplicates:
                    raise LabDataError(
                        name,
                        line,
                        f"time {cells[0]!r} repeats line {lines[-1]} (times must be strictly increasing)",
                    )
                if max_gap_seconds is not None and t - times[-1] > max_gap_seconds:
                    raise LabDataError(
                        name,
                        line,
                        f"gap of {t - times[-1]} s since line {lines[-1]} exceeds max_gap_seconds="
                        f"{max_gap_seconds}",
                    )
            times.append(t)
            lines.append(line)
            for c, text in enumerate(cells[1:]):
                values[c].append(text)
    if not times:
        raise LabDataError(name, None, "no data rows")
    return Columns(name, np.asarray(times, dtype=np.int64), values, lines)


def parse_floats(
    cols: Columns, c: int, column: str | int, *, positive: bool = True, price: bool = False
) -> npt.NDArray[np.float64]:
    """Value column ``c`` as finite floats (``> 0`` when ``positive``, within ``[MIN_PRICE,
    MAX_PRICE]`` when ``price``); bad cells name file and line."""
    out = np.empty(len(cols.lines), dtype=np.float64)
    for r, text in enumerate(cols.values[c]):
        try:
            v = float(text)
        except ValueError:
            raise LabDataError(
                cols.file, cols.lines[r], f"cannot parse {text!r} in column {column!r} as a number"
            ) from None
        if not np.isfinite(v) or (positive and v <= 0.0):
            raise LabDataError(
                cols.file,
                cols.lines[r],
                f"column {column!r} must be finite{' and > 0' if positive else ''}, got {text!r}",
            )
        if price and not MIN_PRICE <= v <= MAX_PRICE:
            raise LabDataError(
                cols.file,
                cols.lines[r],
                f"price {text!r} in column {column!r} is outside [{MIN_PRICE:g}, {MAX_PRICE:g}]",
            )
        out[r] = v
    return out


def parse_start(start: str | int | None, field: str) -> int:
    """Epoch seconds of a scenario ``start`` (ISO-8601, UTC if no zone; or epoch seconds); 0 if ``None``."""
    if start is None:
        return 0
    if isinstance(start, int):
        return start
    try:
        dt = datetime.fromisoformat(start)
    except ValueError:
        raise LabConfigError(field, f"not an ISO-8601 time: {start!r}") from None
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())
