"""Several venues sharing an AMM: the [markets.X.amm] format and its validation, arbitrageurs pulling
the pool toward the external price, and the contagion direction (a vault venue whose oracle reads the
pool liquidates more than with the external price on the same path and seed)."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

import numpy as np
import pytest

from clearhouse.lab.runner import PathResult, run_path
from clearhouse.lab.scenario import ScenarioError, load_scenario, validate
from clearhouse.ledger.conservation import conservation_gaps


def _table() -> dict[str, Any]:
    text = (resources.files("clearhouse.lab") / "builtin" / "contagion_amm.toml").read_text()
    return tomllib.loads(text)


def _error(mutate: Any) -> str:
    t = _table()
    mutate(t)
    with pytest.raises(ScenarioError) as exc:
        validate(t, "contagion_amm.toml")
    return str(exc.value)


@pytest.fixture(scope="module")
def contagion() -> PathResult:
    return run_path(load_scenario("contagion_amm"), keep_engine=True)


# ----------------------------------------------------------------------------- format


def test_builtin_validates_with_its_pool_feed_and_arbitrageurs() -> None:
    sc = load_scenario("contagion_amm")
    (pool,) = sc.amms
    assert (pool.market, pool.account, pool.base) == ("ETH-PERP", "amm-eth", 3000)
    (market,) = sc.markets
    assert market.liquidation.disposal == "amm"
    assert sc.derived == {"ETH-LEND": "ETH"}
    assert sc.amm_links == {"ETH-LEND": ("ETH-PERP",)}
    assert sc.priced_assets == ("ETH", "ETH-LEND")
    (vt,) = sc.vault_types
    assert vt.price_key == "ETH-LEND"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda t: t["markets"]["ETH-PERP"]["amm"].update(base_reserve=-1),
            "markets.ETH-PERP.amm.base_reserve",
        ),
        (lambda t: t["markets"]["ETH-PERP"]["amm"].update(depth=5), "markets.ETH-PERP.amm:"),
        (lambda t: t["markets"]["ETH-PERP"]["amm"].pop("base_reserve"), "markets.ETH-PERP.amm.base_reserve"),
        (lambda t: t["markets"]["ETH-PERP"]["amm"].update(account="mm"), "markets.ETH-PERP.amm.account"),
        (lambda t: t["markets"]["ETH-PERP"].pop("amm"), "markets.ETH-PERP.amm"),
        (
            lambda t: t["markets"]["ETH-PERP"]["liquidation"].update(disposal="pool"),
            "markets.ETH-PERP.liquidation.disposal:",
        ),
        (
            lambda t: t["markets"]["ETH-PERP"]["liquidation"].update(buffer="x"),
            "markets.ETH-PERP.liquidation.buffer",
        ),
        (
            lambda t: t["feeds"]["ETH-LEND"]["oracle"].update(sources=["amm:BTC-PERP"]),
            "feeds.ETH-LEND.oracle.sources",
        ),
        (lambda t: t["feeds"]["ETH-LEND"].update(asset="USDC"), "feeds.ETH-LEND.asset"),
        (lambda t: t["arbitrageurs"].update(threshold=-0.1), "arbitrageurs.threshold"),
        (lambda t: t["arbitrageurs"].update(fee=1.5), "arbitrageurs.fee"),
        (lambda t: t["arbitrageurs"].update(markets=["BTC-PERP"]), "arbitrageurs.markets"),
        (lambda t: t["vaults"]["types"]["ETH-A"].update(oracle="ETH-POOL"), "vaults.types.ETH-A.oracle"),
    ],
)
def test_pool_validation_errors_name_the_field(mutate: Any, field: str) -> None:
    message = _error(mutate)
    assert message.startswith("contagion_amm.toml: "), message
    assert field in message, message


def test_arbitrageurs_need_a_pool() -> None:
    def no_pool(t: dict[str, Any]) -> None:
        t["markets"]["ETH-PERP"].pop("amm")
        t["markets"]["ETH-PERP"].pop("liquidation")
        t.pop("feeds")
        t["vaults"]["types"]["ETH-A"]["oracle"] = ""

    assert "arbitrageurs.count" in _error(no_pool)


# ----------------------------------------------------------------------------- arbitrageurs


def _mispriced(arbitrageurs: int) -> dict[str, Any]:
    """A flat path, a pool opened 10 % above it, low leverage (no liquidations), 2 h."""
    return {
        "horizon": "2h",
        "prices.vol": 0.02,
        "prices.points": [{"at": 0, "level": 1.0}, {"at": 7200, "level": 1.0}],
        "markets.ETH-PERP.amm.quote_reserve": 3000 * 2200.0,
        "population.accounts": 20,
        "population.leverage": {"dist": "fixed", "value": 1.5},
        "vaults.population.count": 10,
        "arbitrageurs.count": arbitrageurs,
        "arbitrageurs.gas_cap_gwei": 1000,
        "arbitrageurs.latency_blocks": [2, 5],
        "contagion.baseline": False,
    }


def _gaps(result: PathResult) -> np.ndarray:
    ts = result.timeseries
    pool = np.asarray(ts.column("amm_price_ETH-PERP").to_numpy(), dtype=np.float64)
    ext = np.asarray(ts.column("external_ETH").to_numpy(), dtype=np.float64)
    return np.abs(pool / ext - 1.0)


def test_arbitrageurs_pull_the_pool_toward_the_external_price() -> None:
    with_arbs = run_path(load_scenario("contagion_amm", _mispriced(2)), keep_engine=True)
    without = run_path(load_scenario("contagion_amm", _mispriced(0)))
    g, g0 = _gaps(with_arbs), _gaps(without)
    assert g[0] > 0.08 and g0[0] > 0.08  # the pool opens ~10 % rich
    assert g0[-1] > 0.08  # nobody trades it back
    assert g[-1] < g[0] / 2  # the arbitrageurs closed most of the gap
    assert g[-1] < 0.03 + 0.001 + 0.01  # within the widest threshold + fee (+ path noise)
    arbs = with_arbs.summary["arbitrageurs"]
    assert arbs["succeeded"] > 0 and arbs["sells"] > 0  # a rich pool: they sell into it
    assert arbs["edge"] > 0
    assert with_arbs.summary["liquidations"]["positions"] == 0
    assert with_arbs.engine is not None
    assert all(v == 0 for v in conservation_gaps(with_arbs.engine.state).values())


# ----------------------------------------------------------------------------- contagion


def test_pool_oracle_liquidates_more_on_venue_2(contagion: PathResult) -> None:
    s = contagion.summary
    c = s["contagion"]
    with_pool, external = c["venue2_with_pool_oracle"], c["venue2_with_external_oracle"]
    # the direction: the vault venue reading the pool liquidates more, on the same path and seed
    assert with_pool["liquidations"] > external["liquidations"] > 0
    assert with_pool["liquidated_notional"] > external["liquidated_notional"]
    assert c["amplification_ratio"] is not None and c["amplification_ratio"] > 1.0
    assert c["amplification_ratio"] == pytest.approx(
        with_pool["liquidated_notional"] / external["liquidated_notional"], rel=1e-5
    )
    # forced sales pushed the pool below anything the external market printed
    assert c["pool_price_min"]["ETH-PERP"] < c["external_min"]["ETH-PERP"]
    pool = s["amm"]["pools"]["ETH-PERP"]
    assert pool["liquidation_volume"] > 0 and pool["slippage"] > 0
    assert s["liquidations"]["by_market"]["ETH-PERP"]["positions"] > 0
    # venue 1 does not read the pool, so it is identical in both runs: the pool path is too
    assert c["baseline_pool_price_min"] == c["pool_price_min"]


def test_conservation_holds_in_both_runs(contagion: PathResult) -> None:
    s = contagion.summary
    assert all(s["conservation"].values())
    assert contagion.engine is not None
    assert all(v == 0 for v in conservation_gaps(contagion.engine.state).values())
    assert s["contagion"]["conservation_ok"]


def test_baseline_is_the_external_oracle_run_of_the_same_path(contagion: PathResult) -> None:
    base = run_path(load_scenario("contagion_amm"), amm_sources="external", keep_engine=True)
    s = contagion.summary
    assert base.state_root == s["contagion"]["baseline_state_root"]
    assert "contagion" not in base.summary
    assert base.engine is not None
    assert all(v == 0 for v in conservation_gaps(base.engine.state).values())
    # same external path in both runs; venue 2's oracle differs only where the pool left the path
    ext = np.asarray(contagion.timeseries.column("external_ETH").to_numpy())
    assert np.array_equal(ext, np.asarray(base.timeseries.column("external_ETH").to_numpy()))
    lend = np.asarray(base.timeseries.column("oracle_ETH-LEND").to_numpy())
    assert np.allclose(lend, ext, rtol=1e-12)  # the amm source reported the path price
    pooled = np.asarray(contagion.timeseries.column("oracle_ETH-LEND").to_numpy())
    assert pooled.min() < lend.min()
    assert s["vaults"]["auctions"]["kicked"] > base.summary["vaults"]["auctions"]["kicked"]


def test_same_seed_same_result() -> None:
    over = {"population.accounts": 40, "vaults.population.count": 30, "horizon": "4h"}
    a = run_path(load_scenario("contagion_amm", over))
    b = run_path(load_scenario("contagion_amm", copy.deepcopy(over)))
    assert a.state_root == b.state_root
    assert a.summary == b.summary
    assert a.summary["contagion"]["venue2_with_pool_oracle"]["liquidations"] >= 0
