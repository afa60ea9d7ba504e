"""Historical replay from CSV: real files in ../shared/data (skipped if absent) and small bad files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from clearhouse.lab import (
    LabConfigError,
    LabDataError,
    ReplayConfig,
    ReplayModel,
    ReplaySeries,
    build_price_model,
)
from clearhouse.ledger.errors import InvalidValue

from .conftest import data_file, ts

ETH_30M = "binance_ethusdt_30m_2020-03-01_2020-03-31.csv"
ETH_1H_MDD = "binance_ethusdt_1h_2018-01-01_2021-05-16.csv"
LUNA = "binance_lunausdt_1h_close_2022-04-15_2022-05-13.csv"
COINAPI_ETH = "coinapi_ethusd_10m_2020-03-12.csv"
PERP_1010 = "binance_cm_btcusd_perp_markprice_1m_2025-10-10.csv"
GEMINI_BTC = "gemini_btcusd_trades_2025-10-10_1900-2400utc.csv"


def replay(path: Path | str, **kw: object) -> ReplayModel:
    start = kw.pop("start", None)
    series = ReplaySeries(asset="X", file=str(path), **kw)  # type: ignore[arg-type]
    return ReplayModel(ReplayConfig(series=(series,), start=start))  # type: ignore[arg-type]


def test_mdd_replay_reproduces_close_at_every_timestamp() -> None:
    path = data_file(ETH_30M)
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    times = np.array([ts(r[""]) for r in rows], dtype=np.int64)
    closes = np.array([float(r["close"]) for r in rows])  # MDD order is open, close, high, low
    model = replay(path, format="mdd_ohlcv", allow_gaps=True)  # one 2.5 h maintenance gap
    assert np.array_equal(model.path(times, 0)[:, 0], closes)
    # as-of resampling: the last close at or before t
    mid = model.path(times[:-1] + 900, 0)[:, 0]
    assert np.array_equal(mid, closes[:-1])
    # README sanity: 2020-03-12 daily close 107.82 (the 23:30 bar's close)
    assert model.path(np.array([ts("2020-03-12 23:30:00")]), 0)[0, 0] == 107.82


def test_start_rebases_simulation_time_and_price_column_override() -> None:
    path = data_file(ETH_30M)
    low = replay(path, format="mdd_ohlcv", price="low", start="2020-03-12T00:00:00Z", allow_gaps=True)
    assert low.path(np.array([26 * 3600]), 0)[0, 0] == 86.00  # 2020-03-13 02:00 low of the crash


def test_mdd_hourly_blank_rows_refused_naming_line_unless_skipped() -> None:
    path = data_file(ETH_1H_MDD)
    with pytest.raises(LabDataError) as info:
        replay(path, format="mdd_ohlcv")
    assert info.value.file == ETH_1H_MDD and info.value.line == 78  # 2018-01-04 04:00:00,,,,,
    assert "skip_blank" in str(info.value)
    with pytest.raises(LabDataError, match=r"gap of 118800 s since line 914"):
        replay(path, format="mdd_ohlcv", skip_blank=True)  # 33 blank hours in a row in 2018
    model = replay(path, format="mdd_ohlcv", skip_blank=True, allow_gaps=True)
    p = model.path(np.array([ts("2018-01-04 03:00:00"), ts("2018-01-04 04:00:00")]), 0)[:, 0]
    assert p[0] == p[1]  # the blank hour reads the previous close


def test_gap_above_max_refused_naming_line() -> None:
    path = data_file(ETH_30M)
    with pytest.raises(LabDataError) as info:
        replay(path, format="mdd_ohlcv", max_gap_seconds=1800)
    assert info.value.line == 165 and "9000 s since line 164" in str(info.value)  # Binance maintenance
    replay(path, format="mdd_ohlcv", max_gap_seconds=3 * 3600)


def test_default_max_gap_refuses_the_maintenance_gap_unless_allowed() -> None:
    """The default max_gap is 4 × the median spacing (2 h for 30-min bars): Binance's 2.5 h
    maintenance gap is refused until the scenario allows it."""
    path = data_file(ETH_30M)
    with pytest.raises(
        LabDataError, match=r"gap of 9000 s since line 164 exceeds the default max_gap"
    ) as info:
        replay(path, format="mdd_ohlcv")
    assert info.value.line == 165 and "allow_gaps" in str(info.value)
    replay(path, format="mdd_ohlcv", allow_gaps=True)


def test_times_outside_data_are_refused_naming_the_time() -> None:
    model = replay(data_file(LUNA), format="mark6_close", max_gap_seconds=3600)
    assert model.path(np.array([ts("2022-05-13 00:00:00")]), 0)[0, 0] == 0.00005
    with pytest.raises(LabDataError, match=r"2022-04-14 23:59:59 UTC.*before the first row"):
        model.path(np.array([ts("2022-04-14 23:59:59"), ts("2022-04-15 01:00:00")]), 0)
    with pytest.raises(LabDataError, match="after the last row"):
        model.path(np.array([ts("2022-05-13 02:00:00")]), 0)


def test_other_formats_coinapi_binance_ms_and_trades() -> None:
    eth = replay(data_file(COINAPI_ETH), format="coinapi_ohlcv")
    assert eth.path(np.array([ts("2020-03-12 00:00:00")]), 0)[0, 0] == 194.52
    perp = replay(data_file(PERP_1010), format="binance_klines_ms", price="low")
    t = np.arange(ts("2025-10-10 00:00:00"), ts("2025-10-10 23:59:00") + 1, 60)
    lows = perp.path(t, 0)[:, 0]
    assert lows.min() == 102497.48513403 and t[lows.argmin()] == ts("2025-10-10 21:20:00")
    trades = replay(data_file(GEMINI_BTC), format="tardis_trades", allow_gaps=True)
    assert (
        trades.path(np.array([ts("2025-10-10 19:00:02")]), 0)[0, 0] == 117268.51
    )  # last trade of that second


def test_two_assets_from_toml_style_table_with_base_dir() -> None:
    path = data_file(ETH_30M)
    model = build_price_model(
        "replay",
        {
            "start": "2020-03-12 00:00:00",
            "series": [
                {"asset": "ETH", "file": path.name, "format": "mdd_ohlcv", "allow_gaps": True},
                {
                    "asset": "BTC",
                    "file": "binance_btcusdt_30m_2020-03-01_2020-03-31.csv",
                    "time": 0,
                    "price": "close",
                    "allow_gaps": True,
                },
            ],
        },
        base_dir=path.parent,
    )
    p = model.path(np.array([0, 26 * 3600]), 0)
    assert model.assets == ("ETH", "BTC") and p.shape == (2, 2)
    assert p[0, 1] > 7000  # BTC


# ----------------------------------------------------------------------------- small synthetic files


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "kw", "line", "match"),
    [
        ("time,px\n2020-01-01 00:00:00,1\n", {"time": "time", "price": "close"}, 1, "no column 'close'"),
        (
            "t,close\n2020-01-01 00:00:00,1\n2020-01-01 01:00:00,abc\n",
            {"time": "t", "price": "close"},
            3,
            "cannot parse 'abc'",
        ),
        ("t,close\nyesterday,1\n", {"time": "t", "price": "close"}, 2, "cannot parse time 'yesterday'"),
        (
            "t,close\n2020-01-01 01:00:00,1\n2020-01-01 00:00:00,1\n",
            {"time": "t", "price": "close"},
            3,
            "backwards",
        ),
        (
            "t,close\n2020-01-01 00:00:00,1\n\n2020-01-01 01:00:00,1\n",
            {"time": "t", "price": "close"},
            3,
            "blank line",
        ),
        (
            "t,close\n2020-01-01 00:00:00,1\n2020-01-01 01:00:00,-2\n",
            {"time": "t", "price": "close"},
            3,
            "> 0",
        ),
        (
            "t,close,v\n2020-01-01 00:00:00,1,1\n2020-01-01 01:00:00\n",
            {"time": "t", "price": "close"},
            3,
            "row has 1 fields, columns need 2",
        ),
        (
            "t,close\n",
            {"time": "t", "price": "close"},
            None,
            "prices.csv: no data rows",
        ),
    ],
)
def test_bad_csv_raises_naming_file_and_line(
    tmp_path: Path, text: str, kw: dict[str, object], line: int | None, match: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(LabDataError, match=match) as info:
        replay(path, **kw)
    assert isinstance(info.value, InvalidValue)
    assert info.value.file == "prices.csv" and info.value.line == line
    if line is not None:
        assert str(info.value).startswith(f"prices.csv:{line}:")


def test_blank_rows_skipped_only_when_asked(tmp_path: Path) -> None:
    path = write(tmp_path, "t,close\n0,1.5\n60,\n120,2.5\n")
    with pytest.raises(LabDataError, match=r"prices\.csv:3: empty cell in column 'close'"):
        replay(path, time="t", price="close", time_unit="s")
    p = replay(path, time="t", price="close", time_unit="s", skip_blank=True).path(
        np.array([0, 60, 119, 120]), 0
    )
    assert p[:, 0].tolist() == [1.5, 1.5, 1.5, 2.5]


def test_missing_file_and_bad_series_config(tmp_path: Path) -> None:
    with pytest.raises(LabDataError, match="file not found"):
        replay(tmp_path / "nope.csv", format="mark6_close")
    with pytest.raises(LabConfigError, match="unknown preset"):
        ReplaySeries(asset="X", file="f.csv", format="bogus")
    with pytest.raises(LabConfigError, match="both `time` and `price`"):
        ReplaySeries(asset="X", file="f.csv", time="t")
    with pytest.raises(LabConfigError, match=r"replay\.start"):
        ReplayConfig(series=(ReplaySeries(asset="X", file="f.csv", format="mark6_close"),), start="noon")
