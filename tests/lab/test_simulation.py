"""The stress lab end to end: built-ins run, paths are deterministic, the CLI writes its outputs,
keepers priced out by gas leave more bad debt, and the engine's conservation holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from clearhouse.cli.simulate import simulate
from clearhouse.lab.metrics import aggregate
from clearhouse.lab.runner import run_path, run_paths
from clearhouse.lab.scenario import builtin_names, load_scenario, read_table
from clearhouse.ledger.margin import cross_summary

SMALL = {"population.accounts": 60}


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_runs_a_short_horizon(name: str) -> None:
    small = SMALL if "population" in read_table(name)[0] else {}  # options_crash has no perp traders
    sc = load_scenario(name, {**small, "horizon": "3h"})
    result = run_path(sc)
    s = result.summary
    assert s["scenario"] == name and s["blocks"] == sc.n_blocks
    assert all(s["conservation"].values())
    assert result.timeseries.num_rows == sc.n_blocks
    assert result.events.num_rows > 0
    assert len(s["state_root"]) == 64


def test_same_seed_same_summary_different_seed_differs() -> None:
    sc = load_scenario("black_thursday", {**SMALL, "horizon": "14h"})
    a, b = run_path(sc, 7), run_path(sc, 7)
    assert json.dumps(a.summary, sort_keys=True) == json.dumps(b.summary, sort_keys=True)
    assert a.timeseries.equals(b.timeseries)
    # (amount holds NaN for events without one, and NaN != NaN; the json column carries it exactly)
    assert a.events.drop_columns(["amount"]).equals(b.events.drop_columns(["amount"]))
    c = run_path(sc, 8)
    assert c.summary["state_root"] != a.summary["state_root"]


def test_conservation_from_state_fields_at_the_end() -> None:
    sc = load_scenario("black_thursday", {**SMALL, "horizon": "30h"})
    result = run_path(sc, keep_engine=True)
    assert result.engine is not None
    state = result.engine.state
    assert result.summary["liquidations"]["positions"] > 0
    for asset in state.assets:
        lhs = state.deposited.get(asset, 0) - state.withdrawn.get(asset, 0)
        rhs = sum(a.balances.get(asset, 0) for a in state.accounts.values())
        rhs += state.pools.insurance.get(asset, 0) + state.pools.fees.get(asset, 0)
        if asset == state.params.settlement_asset:
            rhs += sum(p.margin for a in state.accounts.values() for p in a.positions.values() if p.isolated)
            rhs += sum(m.pnl_pool for m in state.markets.values())
        assert lhs == rhs, asset
    # the market maker is solvent and the engine's exact view agrees with the summary's accounts
    mm = cross_summary(state, state.accounts["mm"], lambda k: state.prices[k][0] if k != "USDC" else 10**18)
    assert mm.equity > 0


#: The hand-drawn path and the x20 parametric gas these tests are calibrated on (the fallback,
#: whatever the data folder holds).
NO_DATA = {"data_dir": str(Path(__file__).parent / "no-such-data-dir")}


def _black_thursday(gas_cap: float) -> dict[str, Any]:
    sc = load_scenario(
        "black_thursday",
        {
            **NO_DATA,
            "population.accounts": 150,
            "horizon": "28h",  # ends before gas falls back (the x20 window is 10 h - 30 h)
            "ledger.insurance_fund": 0,
            "keepers.gas_cap_gwei": gas_cap,
            "keepers.profit_threshold": -100.0,
            "population.add_margin.share": 0.0,
        },
    )
    return run_path(sc).summary


def test_keepers_priced_out_by_gas_delay_liquidations_and_raise_bad_debt() -> None:
    # crash gas: base 20 gwei x 20 -> p30 = 320, p90 = 600 gwei; calm p90 = 30 gwei
    priced_out = _black_thursday(gas_cap=100.0)
    able = _black_thursday(gas_cap=5000.0)
    assert priced_out["keepers"]["capped_bids"] > 0 and able["keepers"]["capped_bids"] == 0
    assert priced_out["bad_debt"]["total"] > able["bad_debt"]["total"]
    open_out = priced_out["liquidation_delay_s"]["breaches"]["open_at_horizon"]
    assert open_out > able["liquidation_delay_s"]["breaches"]["open_at_horizon"]
    # the censored breaches lengthen the Kaplan-Meier delay beyond the enforced-only one
    km, enforced = (
        priced_out["liquidation_delay_s"]["kaplan_meier"],
        priced_out["liquidation_delay_s"]["enforced_only"],
    )
    assert km["p50"] is None or km["p50"] >= enforced["p50"]
    assert priced_out["liquidations"]["positions"] < able["liquidations"]["positions"]


def test_insolvency_that_heals_is_reported() -> None:
    """Negative equity that keepers clear only later (the protocol keeper, once gas falls) leaves no bad
    debt at the end; the summary must still show how deep and how long it was (issue 9, item 7)."""
    sc = load_scenario("black_thursday", {**NO_DATA, "population.accounts": 200, "horizon": "30h"})
    result = run_path(sc)
    s = result.summary
    ts = result.timeseries
    neg = ts.column("negative_equity").to_pylist()
    under = ts.column("under_water").to_pylist()
    ins = s["insolvency"]
    assert s["bad_debt"]["total"] == 0 and ins["end_negative_equity"] == 0
    assert ins["peak_negative_equity"] == pytest.approx(max(neg)) and max(neg) > 1000
    assert ins["value_hours"] == pytest.approx(sum(neg) * 60 / 3600)
    assert ins["account_hours"] == pytest.approx(sum(under) * 60 / 3600) and ins["account_hours"] > 1
    assert ins["time_insolvent_s"] == 60 * sum(1 for x in neg if x > 0) > 3600
    assert ins["episodes"]["longest_s"] > 3600 and ins["buckets_ever_under_water"] > 0
    # every breach has an outcome and every close-out a class
    d = s["liquidation_delay_s"]
    b = d["breaches"]
    assert b["total"] == b["enforced"] + b["recovered"] + b["open_at_horizon"] > 0
    co = d["closeouts"]
    assert co["total"] == s["liquidations"]["positions"] > 0
    assert co["first_in_breach"] + co["within_block"] + co["further_in_breach"] == co["total"]
    table = d["table"]
    assert (
        sum(table["enforced"]) == b["enforced"]
        and sum(table["censored"]) == b["recovered"] + b["open_at_horizon"]
    )


def test_run_paths_aggregates_var_and_lar() -> None:
    outcomes = list(run_paths("mango", [1, 2, 3], overrides={**SMALL, "horizon": "3h"}, keep_tables=1))
    assert [o.seed for o in outcomes] == [1, 2, 3]
    assert outcomes[0].timeseries is not None and outcomes[1].timeseries is None
    agg = aggregate([o.summary for o in outcomes], (0.5, 0.99))
    assert agg["paths"] == 3 and agg["conservation_ok"]
    bad = sorted(o.summary["bad_debt"]["total"] for o in outcomes)
    assert bad[0] <= agg["var_bad_debt"]["q0.99"] <= bad[-1]
    assert agg["var_bad_debt"]["q0.5"] == pytest.approx(bad[1])
    # labelled sections: across paths (with ES and its interval), first path, per venue
    ids = [sec["id"] for sec in agg["sections"]]
    assert ids[:3] == ["across_paths", "first_path", "perps"]
    across = agg["sections"][0]
    assert across["columns"] == ["mean", "q0.5", "q0.99", "ES q0.5", "ES q0.99"]
    row = next(r for r in across["rows"] if r["key"] == "bad_debt.total")
    assert row["values"]["ES q0.99"] == pytest.approx(bad[-1])
    assert row["ci"]["ES q0.5"] is not None and row["ci"]["ES q0.5"][0] <= row["ci"]["ES q0.5"][1]
    pooled = agg["liquidation_delay_s"]["breaches"]
    assert pooled["total"] == sum(o.summary["liquidation_delay_s"]["breaches"]["total"] for o in outcomes)


def test_cli_writes_the_four_outputs(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(simulate)
    app.command("noop")(lambda: None)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["simulate", "--accounts", "80", "--horizon", "4h", "--paths", "2", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    for name in ("summary.json", "timeseries.parquet", "events.parquet", "report.html"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "summary.json").read_text())
    assert doc["scenario"] == "black_thursday" and doc["aggregate"]["paths"] == 2
    titles = [sec["title"] for sec in doc["aggregate"]["sections"]]
    assert titles[0].startswith("Across 2 path(s)") and titles[1].startswith("First path (seed")
    for title in titles[:3]:
        assert title in res.output  # the console shows the same labelled sections
    assert "ES q0.95" in res.output and "Kaplan–Meier" in res.output
    assert len(doc["paths"]) == 2 and doc["paths"][1]["seed"] == doc["paths"][0]["seed"] + 1
    ts = pq.read_table(out / "timeseries.parquet")
    assert set(ts.column("path").to_pylist()) == {0, 1}
    assert "external_ETH" in ts.column_names and "oracle_ETH" in ts.column_names
    html = (out / "report.html").read_text()
    assert "Plotly.newPlot(\"loss-histogram\"" in html and "Plotly.newPlot(\"ts-price-ETH\"" in html
    assert "[markets.ETH-PERP]" in html  # the full parameter table
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temp dirs left
    # an invalid scenario is refused before running, naming the field
    res = CliRunner().invoke(app, ["simulate", "--accounts", "0", "--out", str(tmp_path / "bad")])
    assert res.exit_code == 2 and "population.accounts" in res.output
    assert not (tmp_path / "bad").exists()
