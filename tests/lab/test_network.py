"""Network model: blocks, gas percentiles per interval and the inclusion rule."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import pytest

from clearhouse.lab import (
    CsvGasConfig,
    GasWindow,
    InclusionTier,
    LabConfigError,
    LabDataError,
    NetworkConfig,
    NetworkModel,
    ParametricGasConfig,
)

from .conftest import GAS_CSV, data_file, ts

GWEI = 10**9
DAY0 = "2020-03-12T00:00:00Z"


def black_thursday(**kw: object) -> NetworkModel:
    gas = CsvGasConfig(file=str(data_file(GAS_CSV)), start=DAY0)
    return NetworkModel(NetworkConfig(gas=gas, **kw))  # type: ignore[arg-type]


def gas_rows() -> list[dict[str, str]]:
    with open(data_file(GAS_CSV), newline="") as fh:
        return list(csv.DictReader(fh))


def test_black_thursday_peak_interval_20_gwei_is_not_included_but_p90_is() -> None:
    rows = gas_rows()
    peak = max(rows, key=lambda r: float(r["p90_gas_price_wei"]))
    assert peak["timestamp_utc"] == "2020-03-12T14:30:00.000Z"  # first interval with p90 = 300 gwei
    net = black_thursday()
    t = ts("2020-03-12 14:30:00") - ts("2020-03-12 00:00:00") + 42  # inside the peak interval
    gas = net.gas_at(t)
    assert gas.p90 == int(peak["p90_gas_price_wei"]) == 300 * GWEI
    assert net.inclusion_delay(20 * GWEI, t) is None  # a 20-gwei keeper is priced out
    assert net.inclusion_delay(gas.p90, t) == 1
    assert net.inclusion_delay(gas.p90 - 1, t) == 2  # >= p60 (151 gwei)
    assert net.inclusion_delay(gas.p60, t) == 2
    assert net.inclusion_delay(gas.p30, t) == 5
    assert net.inclusion_delay(gas.p30 - 1, t) is None
    assert net.landing_block(gas.p90, t) == net.next_block(t)


def test_quiet_morning_20_gwei_is_between_p60_and_p90() -> None:
    net = black_thursday()
    gas = net.gas_at(0)
    assert (gas.p30, gas.p60, gas.p90) == (4526965738, 6924610390, 30 * GWEI)  # wei, half-even
    assert net.inclusion_delay(20 * GWEI, 0) == 2
    assert net.landing_block(20 * GWEI, 0) == 2  # first block after t=0 is block 1, +1


def test_priced_out_transaction_waits_for_a_cheaper_interval() -> None:
    rows = gas_rows()
    net = black_thursday()
    sent = ts("2020-03-12 14:30:00") - ts("2020-03-12 00:00:00")
    offered = 60 * GWEI
    later = [r for r in rows if ts(r["timestamp_utc"][:19]) > ts("2020-03-12 14:30:00")]
    first_ok = next((r for r in later if float(r["p30_gas_price_wei"]) <= offered), None)
    expected: int | None = None
    if first_ok is not None:
        t_ok = ts(first_ok["timestamp_utc"][:19]) - ts("2020-03-12 00:00:00")
        expected = net.first_block_at_or_after(t_ok) + net.inclusion_delay(offered, t_ok)  # type: ignore[operator]
        expected -= 1
    assert net.landing_block(offered, sent) == expected
    assert net.oracle_poke_block(sent, offered) == expected
    assert net.landing_block(1, sent) is None  # 1 wei never qualifies before the data end


def test_blocks_and_times() -> None:
    net = NetworkModel(NetworkConfig(gas=ParametricGasConfig(base_gwei=10), block_time=12, genesis_time=100))
    assert net.next_block(50) == 0 and net.next_block(100) == 1 and net.next_block(111) == 1
    assert net.next_block(112) == 2
    assert net.first_block_at_or_after(112) == 1 and net.first_block_at_or_after(113) == 2
    assert net.block_time_of(3) == 136


def test_parametric_crash_window_multiplier() -> None:
    cfg = NetworkConfig(
        gas=ParametricGasConfig(base_gwei=10, windows=(GasWindow(3600, 7200, 20.0),)), block_time=12
    )
    net = NetworkModel(cfg)
    calm, crash = net.gas_at(100), net.gas_at(4000)
    assert (calm.p30, calm.p60, calm.p90, calm.max) == (8 * GWEI, 10 * GWEI, 15 * GWEI, 50 * GWEI)
    assert (crash.p30, crash.p90) == (160 * GWEI, 300 * GWEI) and (crash.start, crash.end) == (3600, 7200)
    assert net.inclusion_delay(20 * GWEI, 100) == 1
    assert net.inclusion_delay(20 * GWEI, 4000) is None
    assert net.landing_block(20 * GWEI, 4000) == 600  # waits for the window to end at t=7200 = block 600
    assert net.landing_block(1 * GWEI, 100) is None  # never qualifies: the schedule is constant after


def test_tiers_are_configurable() -> None:
    tiers = (InclusionTier("max", 1), InclusionTier("p30", 3))
    net = NetworkModel(NetworkConfig(gas=ParametricGasConfig(base_gwei=10), tiers=tiers))
    assert net.inclusion_delay(50 * GWEI, 0) == 1
    assert net.inclusion_delay(15 * GWEI, 0) == 3  # p90 is no longer a tier


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"block_time": 0}, "network.block_time"),
        ({"tiers": (InclusionTier("p90", 0),)}, "network.tiers[0].blocks"),
        ({"tiers": (InclusionTier("p90", 3), InclusionTier("p30", 2))}, "network.tiers"),
        ({"tiers": (InclusionTier("p90", 1), InclusionTier("p90", 2))}, "network.tiers[1].at_or_above"),
        ({"tiers": ()}, "network.tiers"),
    ],
)
def test_bad_network_config(kw: dict[str, object], field: str) -> None:
    with pytest.raises(LabConfigError) as info:
        NetworkConfig(gas=ParametricGasConfig(base_gwei=10), **kw)  # type: ignore[arg-type]
    assert info.value.field == field


def test_bad_gas_config_and_offer() -> None:
    with pytest.raises(LabConfigError, match=r"gas\.p30"):
        ParametricGasConfig(base_gwei=10, p30=2.0)
    with pytest.raises(LabConfigError, match=r"gas\.windows\[0\]\.end"):
        ParametricGasConfig(base_gwei=10, windows=(GasWindow(10, 5, 2.0),))
    net = NetworkModel(NetworkConfig(gas=ParametricGasConfig(base_gwei=10)))
    with pytest.raises(LabConfigError, match="offered_gas_price"):
        net.inclusion_delay(1.5, 0)  # type: ignore[arg-type]


def test_gas_csv_outside_data_and_bad_rows(tmp_path: Path) -> None:
    net = black_thursday()
    with pytest.raises(LabDataError, match="before the first gas interval"):
        net.gas_at(-1)
    with pytest.raises(LabDataError, match="after the last gas interval"):
        net.gas_at(24 * 3600)
    header = "timestamp_utc,p30_gas_price_wei,p60_gas_price_wei,p90_gas_price_wei,max_gas_price_wei\n"
    gap = tmp_path / "gap.csv"
    gap.write_text(header + "2020-01-01T00:00:00Z,1,2,3,4\n2020-01-01T00:30:00Z,1,2,3,4\n")
    with pytest.raises(LabDataError, match=r"gap\.csv:3: gap of 1800 s"):
        NetworkModel(NetworkConfig(gas=CsvGasConfig(file=str(gap))))
    unordered = tmp_path / "bad.csv"
    unordered.write_text(header + "2020-01-01T00:00:00Z,5,2,3,4\n")
    with pytest.raises(LabDataError, match=r"bad\.csv:2: percentiles"):
        NetworkModel(NetworkConfig(gas=CsvGasConfig(file=str(unordered))))
    missing = tmp_path / "missing.csv"
    missing.write_text("timestamp_utc,p30_gas_price_wei\n2020-01-01T00:00:00Z,1\n")
    with pytest.raises(LabDataError, match=r"missing\.csv:1: no column 'p60_gas_price_wei'"):
        NetworkModel(NetworkConfig(gas=CsvGasConfig(file=str(missing))))


def test_network_from_toml(tmp_path: Path) -> None:
    path = data_file(GAS_CSV)
    doc = tomllib.loads(
        f"""
        [network]
        block_time = 13
        tiers = [{{at_or_above = "p90", blocks = 1}}, {{at_or_above = "p60", blocks = 3}}]
        gas = {{source = "csv", file = "{path.name}", start = "2020-03-12T00:00:00Z"}}

        [calm]
        gas = {{source = "parametric", base_gwei = 10, windows = [{{start = 0, end = 600, multiplier = 20}}]}}
        """
    )
    net = NetworkModel.from_table(doc["network"], base_dir=path.parent)
    assert net.config.block_time == 13 and net.inclusion_delay(20 * GWEI, 0) == 3
    calm = NetworkModel.from_table(doc["calm"])
    assert calm.gas_at(0).p60 == 200 * GWEI
    with pytest.raises(LabConfigError, match="network"):
        NetworkModel.from_table({"gas": {"source": "magic"}})
