"""Built-ins replay the real files of the data folder when it has them, else their waypoints.

The data folder is ``$CLEARHOUSE_DATA_DIR`` or ``<repo>/../shared/data`` (tests/lab/conftest.py);
tests needing the files skip without them. The fallback tests point the scenario at an empty
temporary folder, so they run everywhere.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clearhouse.lab.errors import LabDataError
from clearhouse.lab.network import CsvGas, CsvGasConfig
from clearhouse.lab.prices import ColumnsModel, ReplayModel, WaypointModel, replays_of
from clearhouse.lab.runner import run_path
from clearhouse.lab.scenario import ScenarioError, load_scenario, read_table, validate
from clearhouse.lab.scenario.datafiles import DATA_DIR_ENV, default_data_dir

from .conftest import DATA_DIR

#: Built-in -> (asset, data file, time column, price column, time shift, start) of its replay.
REAL: dict[str, tuple[str, str, str, str, int, str]] = {
    "black_thursday": ("ETH", "binance_ethusdt_30m_2020-03-01_2020-03-31.csv", "", "open", 0, "2020-03-12"),
    "black_thursday_flip": (
        "ETH", "binance_ethusdt_30m_2020-03-01_2020-03-31.csv", "", "open", 0, "2020-03-12",
    ),
    "black_thursday_clip": (
        "ETH", "binance_ethusdt_30m_2020-03-01_2020-03-31.csv", "", "open", 0, "2020-03-12",
    ),
    "luna": (
        "LUNA", "binance_lunausdt_1h_close_2022-04-15_2022-05-13.csv", "open_time", "close", 3600,
        "2022-05-06",
    ),
    "ftt": (
        "FTT", "binance_fttusdt_1h_close_2022-10-15_2022-11-15.csv", "open_time", "close", 3600,
        "2022-11-07",
    ),
    "crv_squeeze": (
        "CRV", "binance_crvusdt_1h_close_2022-11-01_2022-12-15.csv", "open_time", "close", 3600,
        "2022-11-22",
    ),
    "cascade_2025_10_10": (
        "BTC", "binance_cm_btcusd_perp_markprice_1m_2025-10-10.csv", "open_time", "open", 0,
        "2025-10-10 19:50",
    ),
}


def epoch(text: str, unit: str = "iso") -> int:
    if unit == "ms":
        return int(text) // 1000
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def as_of(name: str, time_col: str, price_col: str, shift: int, t: int) -> float:
    """The price of the last row of ``name`` at or before epoch ``t``, read with :mod:`csv` alone."""
    with open(DATA_DIR / name, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    ti = header.index(time_col) if time_col else 0
    pi = header.index(price_col)
    unit = "ms" if name.startswith("binance_cm") else "iso"
    best = None
    for row in body:
        if row[pi] and epoch(row[ti], unit) + shift <= t:
            best = float(row[pi])
    assert best is not None
    return best


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    if not (DATA_DIR / REAL["black_thursday"][1]).is_file():
        pytest.skip(f"historical data not available at {DATA_DIR}")
    monkeypatch.setenv(DATA_DIR_ENV, str(DATA_DIR))
    return DATA_DIR


@pytest.mark.parametrize("name", sorted(REAL))
def test_builtin_uses_the_real_file_and_starts_at_its_window(name: str, data_dir: Path) -> None:
    asset, file, time_col, price_col, shift, start = REAL[name]
    sc = load_scenario(name)
    assert sc.data_sources[0].startswith(f"prices: file {file}") and str(data_dir) in sc.data_sources[0]
    replays = replays_of(sc.price_model)
    assert len(replays) == 1
    offsets = np.arange(sc.n_blocks, dtype=np.int64) * sc.block_time
    path = sc.price_model.path(offsets, 0)
    j = sc.price_model.assets.index(asset)
    t0 = epoch(start)
    # offset 0 is the file's row at the window start; the last block is still covered by the data
    assert path[0, j] == as_of(file, time_col, price_col, shift, t0)
    assert path[-1, j] == as_of(file, time_col, price_col, shift, t0 + int(offsets[-1]))
    times, _ = replays[0].data(asset)
    assert int(times[0]) <= t0 and t0 + int(offsets[-1]) - int(times[-1]) <= 4 * 3600


def test_real_replay_can_start_at_the_files_first_row_but_not_before(data_dir: Path) -> None:
    """LUNA's first row (2022-04-15 00:00 close, stamped at 01:00) is a valid start; one second
    earlier is refused naming the file and the table."""
    sc = load_scenario("luna", {"prices.start": "2022-04-15T01:00:00Z", "horizon": "1h"})
    assert sc.price_model.path(np.array([0]), 0)[0, 0] == 81.18
    with pytest.raises(ScenarioError, match=r"luna\.toml: prices: .*before the first row") as info:
        load_scenario("luna", {"prices.start": "2022-04-15T00:59:59Z", "horizon": "1h"})
    assert "binance_lunausdt_1h_close" in str(info.value)


@pytest.mark.parametrize("name", sorted(REAL))
def test_builtin_falls_back_to_waypoints_without_the_data(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))  # an empty data folder
    sc = load_scenario(name)
    assert isinstance(sc.price_model, WaypointModel)
    assert sc.data_sources[0].startswith("prices: fallback waypoints (")
    assert "not found in" in sc.data_sources[0] and str(tmp_path) in sc.data_sources[0]
    if name.startswith("black_thursday"):
        assert sc.data_sources[1].startswith("gas: fallback parametric")
    # the scenario's own data_dir wins over the environment
    sc2 = load_scenario(name, {"data_dir": str(tmp_path / "absent")})
    assert "no data directory" in sc2.data_sources[0] and "(data_dir)" in sc2.data_sources[0]


def test_scenario_data_dir_is_relative_to_the_scenario_file(tmp_path: Path, data_dir: Path) -> None:
    table, _, _ = read_table("crv_squeeze")
    (tmp_path / "data").symlink_to(data_dir)
    sc = validate({**table, "data_dir": "data"}, "crv.toml", tmp_path)
    assert isinstance(sc.price_model, ReplayModel)
    assert sc.data_sources[0].endswith(f"in {tmp_path / 'data'} (data_dir)")


def test_default_data_dir_is_beside_the_repository() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert default_data_dir() == repo.parent / "shared" / "data"


def test_present_but_broken_file_is_an_error_not_a_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / REAL["crv_squeeze"][1]).write_text("open_time,close\n2022-11-22 00:00:00,abc\n")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(ScenarioError, match=r"crv_squeeze\.toml: prices: .*cannot parse 'abc'"):
        load_scenario("crv_squeeze")


def test_fallback_must_be_a_table_without_files() -> None:
    table, _, _ = read_table("crv_squeeze")
    bad: dict[str, Any] = {**table, "prices": {**table["prices"], "fallback": 3}}
    with pytest.raises(ScenarioError, match=r"prices\.fallback must be a table"):
        validate(bad, "s.toml")
    reads = {**table["prices"]}
    bad = {**table, "prices": {**table["prices"], "fallback": reads}}
    with pytest.raises(ScenarioError, match=r"prices\.fallback must not read data files"):
        validate(bad, "s.toml")
    synthetic = dict(table["prices"]["fallback"])
    bad = {**table, "prices": {**synthetic, "fallback": synthetic}}
    with pytest.raises(ScenarioError, match=r"prices\.fallback is only allowed when the table reads"):
        validate(bad, "s.toml")


#: Small overrides so a real-data path runs in about a second.
SHORT: dict[str, Any] = {"population.accounts": 20, "horizon": "3h"}


@pytest.mark.parametrize("name", sorted(REAL))
def test_short_run_of_each_real_data_builtin_completes(name: str, data_dir: Path) -> None:
    overrides = dict(SHORT)
    if name.startswith("black_thursday_"):
        overrides["vaults.population.count"] = 20
    sc = load_scenario(name, overrides)
    result = run_path(sc)
    assert result.summary["data_sources"][0].startswith("prices: file ")
    assert result.summary["blocks"] == sc.n_blocks
    prices = result.summary["prices"]
    asset = REAL[name][0]
    first = sc.price_model.path(np.array([0]), 0)[0, sc.price_model.assets.index(asset)]
    assert prices[asset]["start"] == pytest.approx(first)


def test_cascade_columns_model_keeps_thin_on_waypoints(data_dir: Path) -> None:
    sc = load_scenario("cascade_2025_10_10")
    assert isinstance(sc.price_model, ColumnsModel)
    assert sc.price_model.assets == ("BTC", "ETH", "THIN")
    p = sc.price_model.path(np.array([0, 3600, 5400]), 0)
    # THIN follows its waypoints: 0.80 at 20:50, -70 % (beta 4.67 × -15 %) at 21:20
    assert p[1, 2] == pytest.approx(0.80) and p[2, 2] == pytest.approx(0.80 * (1 + 4.6667 * -0.15))


def test_black_thursday_gas_holds_the_last_interval_past_the_file(data_dir: Path) -> None:
    """The gas file ends at 24 h (last row 23:50); hold_last keeps its percentiles to 50 h, and
    without hold_last a time past the file is refused."""
    sc = load_scenario("black_thursday")
    last = sc.network.gas_at(85800)
    assert last.p90 == 150_000_000_000 and last.end is None
    assert sc.network.gas_at(49 * 3600) == last
    assert sc.network.gas_at(14 * 3600 + 1800).p90 == 300_000_000_000  # the 14:30 peak
    gas_file = str(data_dir / "eth_gasprice_percentiles_10m_2020-03-12.csv")
    strict = CsvGas(CsvGasConfig(file=gas_file, start="2020-03-12T00:00:00Z"))
    with pytest.raises(LabDataError, match="after the last gas interval"):
        strict.at(86400)
