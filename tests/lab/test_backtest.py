"""The controller backtest's reductions: Liquidations at Risk on a worked example, and the Monte Carlo set
run on the same seeds for the static variants and the controller."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clearhouse.lab.backtest as bt
from clearhouse.lab.backtest import Variant, backtest, liquidated_value, mc_sources
from clearhouse.lab.montecarlo import MC_SEED, PRICE_MODELS, mc_scenario


def summary(
    seed: int, liquidated: float, bad_debt: float = 0.0, vault_sold: float | None = None
) -> dict[str, Any]:
    """The keys of a path summary a backtest variant reads."""
    out: dict[str, Any] = {
        "seed": seed,
        "bad_debt": {"total": bad_debt},
        "insolvency": {"peak_uncovered_by_insurance": 0.0},
        "losses": {"insurance_draws": {"total": 0.0}},
        "liquidations": {"positions": 1, "notional": liquidated},
        "capital_efficiency": {"allowed_leverage": 10.0, "used_leverage": 4.0},
    }
    if vault_sold is not None:
        out["vaults"] = {"collateral_sold_value": vault_sold}
    return out


def test_liquidated_value_adds_vault_collateral_sold_to_the_perp_notional() -> None:
    assert liquidated_value(summary(1, 250.0)) == 250.0
    assert liquidated_value(summary(1, 250.0, vault_sold=50.0)) == 300.0


def test_lar_is_the_quantile_of_the_value_liquidated_per_path() -> None:
    # ten paths liquidating 0, 100, ..., 900: linear interpolation puts the 95 % quantile at position
    # 0.95 x 9 = 8.55 between 800 and 900 -> 855, the 99 % one at 8.91 -> 891; the mean is 450
    v = Variant("s", "static x1", 1.0)
    for i in range(10):
        v.add(summary(100 + i, 100.0 * i, bad_debt=10.0 * i))
    row = v.row()
    assert row["liquidated_mean"] == pytest.approx(450.0)
    assert row["lar95"] == pytest.approx(855.0)
    assert row["lar99"] == pytest.approx(891.0)
    # bad debt beside it: VaR 95 = 85.5, ES 95 = the worst ceil(10 x 5 %) = 1 path = 90
    assert row["bad_debt_var95"] == pytest.approx(85.5) and row["bad_debt_es95"] == pytest.approx(90.0)
    assert row["seeds"] == list(range(100, 110)) and row["paths"] == 10


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=1, max_size=40))
def test_lar_is_ordered_and_within_the_paths(values: list[float]) -> None:
    v = Variant("s", "static x1", 1.0)
    for i, x in enumerate(values):
        v.add(summary(i, x))
    row = v.row()
    lo, hi = min(values), max(values)
    assert lo - 1e-6 <= row["liquidated_mean"] <= hi + 1e-6
    assert lo - 1e-6 <= row["lar95"] <= row["lar99"] + 1e-6 <= hi + 2e-6


def test_lar_of_one_path_is_its_value() -> None:
    v = Variant("s", "ctl", None)
    s = summary(7, 1234.0)
    s["controller"] = {"mean_allowed_leverage": {"M": 12.0}, "changes": 3, "mean_relative_step": 0.1,
                       "max_relative_step": 0.25, "refused": 0}
    v.add(s)
    row = v.row()
    assert row["lar95"] == row["lar99"] == 1234.0
    assert (row["changes"], row["max_step"], row["allowed_leverage"]) == (3.0, 0.25, 12.0)


def test_monte_carlo_rows_use_the_same_seeds_for_every_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[tuple[str, int, str | None, float]] = []

    def fake_run_path(sc: Any, seed: int, controller: str | None = None) -> Any:
        im = sc.markets[0].initial_margin / 1e18
        runs.append((sc.name, seed, controller, im))
        s = summary(seed, liquidated=float(seed - MC_SEED) * 1000.0)
        if controller is not None:
            s["controller"] = {"mean_allowed_leverage": {"ETH-PERP": 10.0}, "changes": 0,
                               "mean_relative_step": 0.0, "max_relative_step": 0.0, "refused": 0}
        return SimpleNamespace(summary=s)

    monkeypatch.setattr(bt, "run_path", fake_run_path)
    rows = backtest([], "volatility", static_scales=(1.0, 2.0), monte_carlo=3)
    assert [r["scenario"] for r in rows] == [f"mc_{m}" for m in PRICE_MODELS for _ in range(3)]
    assert all(r["monte_carlo"] for r in rows)
    seeds = [MC_SEED, MC_SEED + 1, MC_SEED + 2]
    assert all(r["seeds"] == seeds and r["paths"] == 3 for r in rows)
    # every model: static x1, static x2 (margins doubled), then the controller, each on the three seeds
    for model in PRICE_MODELS:
        mine = [(seed, ctl, im) for name, seed, ctl, im in runs if name == f"mc_{model}"]
        assert mine == [*((s, None, 0.1) for s in seeds), *((s, None, 0.2) for s in seeds),
                        *((s, "volatility", 0.1) for s in seeds)]
    assert rows[0]["lar99"] == pytest.approx(1980.0)  # 0, 1000, 2000: position 1.98 -> 1980


def test_no_monte_carlo_by_default_in_the_library_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bt, "run_path", lambda sc, seed, controller=None: pytest.fail("ran"))
    assert backtest([], "volatility") == []
    assert mc_sources() == ["mc:gbm", "mc:merton", "mc:garch"]


def test_the_monte_carlo_scenarios_validate_and_differ_only_in_the_price_model() -> None:
    scs = {m: mc_scenario(m) for m in PRICE_MODELS}
    assert {sc.name for sc in scs.values()} == {"mc_gbm", "mc_merton", "mc_garch"}
    assert {sc.spec.seed for sc in scs.values()} == {MC_SEED}
    assert {sc.spec.population.accounts for sc in scs.values()} == {300}
    assert {sc.spec.prices["model"] for sc in scs.values()} == set(PRICE_MODELS)
    with pytest.raises(ValueError, match="unknown Monte Carlo model"):
        mc_scenario("heston")
