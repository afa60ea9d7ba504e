"""The controller in the lab: default guardrails around a scenario's parameters and the frontier test."""

from __future__ import annotations

from clearhouse.lab.backtest import dominated
from clearhouse.lab.controller_run import ControllerRun, default_guardrails
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.margin_models import OpenInterestMargin
from clearhouse.ledger.model import MarketSpec

SPEC = MarketSpec(
    "X-PERP", "X", initial_margin=WAD // 10, maintenance_margin=WAD // 20, liquidation_fee=WAD // 100
)


def test_default_guardrails_surround_the_scenarios_own_values() -> None:
    g = {p: gr for _, _, p, gr in default_guardrails("volatility", SPEC)}
    assert (g["initial_margin"].lower, g["initial_margin"].upper) == (WAD // 20, 4 * WAD // 10)
    assert (g["maintenance_margin"].lower, g["maintenance_margin"].upper) == (WAD // 40, 2 * WAD // 10)
    assert g["initial_margin"].relative and g["initial_margin"].max_up == WAD // 4
    fee = {p: gr for _, _, p, gr in default_guardrails("congestion", SPEC)}["liquidation_fee"]
    assert (fee.lower, fee.upper) == (WAD // 200, WAD // 40)  # [1/2, 4] x 1 %, capped at half of 5 %
    assert [p for _, _, p, _ in default_guardrails("open_interest", SPEC)] == ["initial_margin"]
    oi = MarketSpec(
        "Y-PERP", "Y", initial_margin=WAD // 10, maintenance_margin=WAD // 20,
        margin_model=OpenInterestMargin(lower_cap=10**6 * WAD, upper_cap=2 * 10**6 * WAD),
    )
    names = [p for _, _, p, _ in default_guardrails("open_interest", oi)]
    assert names == ["initial_margin", "margin_model.lower_cap", "margin_model.upper_cap"]


def test_setup_configures_the_steward_and_every_guardrail() -> None:
    run = ControllerRun("oracle", [SPEC], {})
    txs = run.setup_txs()
    assert type(txs[0]).__name__ == "ConfigureSteward"
    assert sorted(t.parameter for t in txs[1:]) == ["max_twap_divergence", "price_band"]  # type: ignore[attr-defined]


def test_a_controller_point_is_dominated_only_by_a_static_point_no_worse_on_both_axes() -> None:
    static = [
        {"bad_debt_mean": 100.0, "allowed_leverage": 10.0},
        {"bad_debt_mean": 50.0, "allowed_leverage": 5.0},
    ]
    assert dominated({"bad_debt_mean": 120.0, "allowed_leverage": 8.0}, static)
    assert dominated({"bad_debt_mean": 100.0, "allowed_leverage": 9.0}, static)
    assert not dominated({"bad_debt_mean": 80.0, "allowed_leverage": 8.0}, static)  # between: on the frontier
    assert not dominated({"bad_debt_mean": 100.0, "allowed_leverage": 10.0}, static)  # equal is not dominated


def test_the_conservative_profile_never_lowers_margins_below_the_scenario_and_raises_fast() -> None:
    g = {p: gr for _, _, p, gr in default_guardrails("volatility", SPEC, "conservative")}
    assert g["initial_margin"].lower == SPEC.initial_margin
    assert g["maintenance_margin"].lower == SPEC.maintenance_margin
    assert g["maintenance_margin"].fast_direction == "up" and g["maintenance_margin"].max_up == WAD // 2


def test_controller_specs_parse_name_and_profile() -> None:
    import pytest

    from clearhouse.lab.controller_run import parse

    assert parse("volatility") == ("volatility", "default")
    assert parse("volatility:conservative") == ("volatility", "conservative")
    with pytest.raises(ValueError, match="unknown guardrail profile"):
        parse("volatility:wild")
    with pytest.raises(ValueError, match="unknown controller"):
        parse("nope")
