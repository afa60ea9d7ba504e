"""Scenario files are refused before any run, with the file and the field path in the message."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from clearhouse.lab.scenario import ScenarioError, builtin_names, load_scenario, read_table, validate


def base() -> dict[str, Any]:
    """black_thursday in its self-contained form (the fallback waypoints and parametric gas)."""
    table, _, _ = read_table("black_thursday")
    table = copy.deepcopy(table)
    table["prices"] = table["prices"].pop("fallback")
    table["network"]["gas"] = table["network"].pop("gas_fallback")
    return table


def refused(table: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        validate(table, "scenario.toml")
    return str(info.value)


def test_builtin_default_validates() -> None:
    sc = load_scenario("black_thursday")
    assert sc.name == "black_thursday"
    assert sc.feeds["ETH"].policies[0].name == "delay"
    assert "black_thursday" in builtin_names()


def test_leverage_bounds_named() -> None:
    t = base()
    t["population"]["leverage"]["max"] = 1.0
    assert refused(t).startswith("scenario.toml: population.leverage.max must be > min")


def test_leverage_above_initial_margin_is_a_trader_not_an_error() -> None:
    """The population does not read the margin rules: leverage above 1 / initial margin validates
    (the trader opens at the most allowed, tests/lab/test_population.py)."""
    t = base()
    t["population"]["leverage"]["max"] = 25.0
    assert validate(t, "scenario.toml").spec.population.leverage.max == 25.0


def test_leverage_by_market_names_the_market() -> None:
    t = base()
    t["population"]["leverage_by_market"] = {"NOPE-PERP": {"dist": "fixed", "value": 2.0}}
    assert refused(t).startswith("scenario.toml: population.leverage_by_market.NOPE-PERP is not a market")
    t["population"]["leverage_by_market"] = {"ETH-PERP": {"dist": "fixed", "value": float("nan")}}
    assert "population.leverage_by_market.ETH-PERP.value must be finite" in refused(t)


def test_unknown_field_and_type_named() -> None:
    t = base()
    t["population"]["acounts"] = 3
    assert "population" in refused(t) and "acounts" in refused(t)
    t = base()
    t["population"]["accounts"] = "many"
    assert "population.accounts" in refused(t)


def test_unknown_plugins_named() -> None:
    t = base()
    t["prices"]["model"] = "brownian"
    assert "prices" in refused(t) and "brownian" in refused(t)
    t = base()
    t["assets"]["ETH"]["oracle"]["aggregator"] = {"name": "mean"}
    assert "assets.ETH.oracle" in refused(t)
    t = base()
    t["markets"]["ETH-PERP"]["margin_model"] = {"name": "magic"}
    assert "markets.ETH-PERP.margin_model" in refused(t)
    t = base()
    t["network"]["gas"] = {"source": "carrier-pigeon"}
    assert "network" in refused(t)


def test_inconsistent_parameters_named() -> None:
    t = base()
    t["markets"]["ETH-PERP"]["maintenance_margin"] = 0.2
    assert "markets.ETH-PERP.maintenance_margin must be < initial_margin" in refused(t)
    t = base()
    t["ledger"]["settlement_asset"] = "DAI"
    assert "ledger.settlement_asset" in refused(t)
    t = base()
    t["assets"]["ETH"]["manipulations"] = [{"source": "nobody", "factor": 24, "start": 0, "duration": 60}]
    assert "assets.ETH.manipulations[0].source" in refused(t)
    t = base()
    t["population"]["add_margin"]["target"] = 1.1
    assert "population.add_margin.target" in refused(t)
    t = base()
    t["horizon"] = "two days"
    assert "horizon" in refused(t)


def test_csv_missing_column_refused_before_run(tmp_path: Path) -> None:
    csv = tmp_path / "eth.csv"
    csv.write_text("time,open\n2020-03-12T00:00:00,194\n2020-03-12T01:00:00,190\n")
    t = base()
    t["prices"] = {
        "model": "replay",
        "series": [{"asset": "ETH", "file": str(csv), "time": "time", "time_unit": "iso", "price": "close"}],
    }
    msg = refused(t)
    assert "prices" in msg and "eth.csv" in msg and "close" in msg


def test_file_name_in_message(tmp_path: Path) -> None:
    f = tmp_path / "my_stress.toml"
    f.write_text('name = "x"\nhorizon = "1h"\n')
    with pytest.raises(ScenarioError, match=r"my_stress\.toml"):
        load_scenario(str(f))
    with pytest.raises(ScenarioError, match="built-in"):
        load_scenario("no_such_scenario")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_insurance_fund_is_refused(value: float) -> None:
    """`insurance_fund = nan` used to run with a fund of 0, and `inf` raised a traceback."""
    t = base()
    t["ledger"]["insurance_fund"] = value
    assert f"ledger.insurance_fund must be finite, got {value}" in refused(t)


def test_non_finite_value_in_a_list_is_named() -> None:
    t = base()
    t["vaults"] = {"types": [{"spot": float("nan")}]}
    assert "vaults.types[0].spot must be finite, got nan" in refused(t)


def test_collateral_shares_must_sum_to_one() -> None:
    t = base()
    t["population"]["collateral_mix"] = {"USDC": 1.0, "ETH": 0.4}
    assert "population.collateral_mix shares must sum to 1, got 1.4" in refused(t)
    t["population"]["collateral_mix"] = {"USDC": 0.6, "ETH": 0.4}
    assert validate(t, "scenario.toml").spec.population.collateral_mix == {"USDC": 0.6, "ETH": 0.4}
