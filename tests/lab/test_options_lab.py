"""The ``options_crash`` built-in: it loads and validates, a short run liquidates option books with
``LiquidateContracts`` and settles an expiry inside the horizon with conservation holding, the lab's
loss numbers are the engine's events and state, and a sweep over the three grid specs reports each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.core.fixedpoint import WAD
from clearhouse.lab.executors import InProcessExecutor
from clearhouse.lab.option_population import build_option_population
from clearhouse.lab.runner import PathResult, run_path
from clearhouse.lab.scenario import ScenarioError, builtin_names, load_scenario
from clearhouse.lab.sweep import grid_table, load_sweep, run_sweep

#: 40 books, the crash and the 24 h expiry (about 1.5 s).
SHORT = {"options.population.accounts": 40, "horizon": "25h"}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sweeps" / "options_grids.toml"


@pytest.fixture(scope="module")
def short_run() -> PathResult:
    return run_path(load_scenario("options_crash", SHORT), keep_engine=True)


def _events(result: PathResult, kind: str) -> list[dict[str, Any]]:
    rows = result.events.to_pydict()
    return [json.loads(j) for t, j in zip(rows["type"], rows["json"], strict=True) if t == kind]


def test_builtin_loads_and_validates() -> None:
    assert "options_crash" in builtin_names()
    sc = load_scenario("options_crash")
    o = sc.spec.options
    assert o is not None and o.grid == "derive" and len(o.series) == 2
    assert sc.horizon == 48 * 3600 and not sc.markets  # an options-only venue
    for grid in ("span16", "deribit", "derive"):
        assert load_scenario("options_crash", {"options.grid": grid}).spec.options.grid == grid  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"options.grid": "cme"}, "options.grid"),
        ({"options.population.books": {"iron_condor": 1.0}}, "options.population.books.iron_condor"),
        ({"options.underlying": "USDC"}, "options.underlying"),
        ({"options.table_move": 0.0}, "options.table_move"),
        ({"options.future_maintenance_margin": 0.2}, "options"),
        ({"block_time": 3600}, "block_time"),
    ],
)
def test_bad_options_refused_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario("options_crash", overrides)
    assert field in str(err.value)


def test_books_drawn_before_the_grid() -> None:
    """A sweep over the grid compares the same books: kind, series, size and buffer do not depend on it."""
    books = []
    for grid in ("span16", "deribit", "derive"):
        sc = load_scenario("options_crash", {"options.grid": grid, "options.population.accounts": 25})
        books.append(build_option_population(sc, 1, 3000.0).books)
    assert books[0] == books[1] == books[2]
    kinds = {"short_put", "short_strangle", "covered_call", "delta_hedged", "future_long"}
    assert {b.kind for b in books[0]} == kinds


def test_vol_path_worked_example() -> None:
    sc = load_scenario("options_crash")
    market = build_option_population(sc, 1, 3000.0).market
    # vol_points 1.0 at 0 and 2.0 at 6 h: 1.5 at 3 h; the index at a quarter of S0: x (4)^0.5 = 2
    assert market.vol(3 * 3600, 750.0) == pytest.approx(0.6 * 1.5 * 2.0)
    assert market.vol(0, 3000.0) == pytest.approx(0.6)
    assert market.vol(10 * 86_400, 3000.0) == pytest.approx(0.6 * 1.3)  # held after the last point


def test_short_run_liquidates_and_settles_with_conservation(short_run: PathResult) -> None:
    s = short_run.summary
    o = s["options"]
    assert o["books"] == 40 and o["opening_rejected"] == 0
    assert o["liquidations"]["accounts"] > 0 and o["liquidations"]["legs"] >= o["liquidations"]["accounts"]
    near = ["ETH-1D-C3300", "ETH-1D-F", "ETH-1D-P2700"]
    assert [e["instrument"] for e in o["expiry"]["settlements"]] == near
    assert all(v for v in s["conservation"].values())
    assert o["tables"]["set"] >= 25 and o["tables"]["refused"] == 0  # hourly or after a 5 % move
    engine = short_run.engine
    assert engine is not None
    # the near series is gone from every account; the far one is still held
    held = {iid for a in engine.state.accounts.values() for iid in a.contracts}
    assert held and not any(iid.startswith("ETH-1D-") for iid in held)


def test_loss_numbers_are_the_engine_events(short_run: PathResult) -> None:
    s, o = short_run.summary, short_run.summary["options"]
    engine = short_run.engine
    assert engine is not None
    legs = _events(short_run, "ContractLegLiquidated")
    books = {e["account"] for e in legs if e["account"].startswith("opt-0")}
    assert o["liquidations"]["legs"] == len(legs) == s["losses"]["contracts"]["legs_liquidated"]
    assert o["liquidations"]["accounts"] == len(books)
    assert o["liquidations"]["penalties"] == pytest.approx(sum(e["penalty"] for e in legs) / WAD, abs=1e-6)
    settled = _events(short_run, "ContractSettled")
    assert s["losses"]["contracts"]["positions_settled"] == len(settled)
    assert o["expiry"]["positions_settled"] == sum(1 for e in settled if e["account"].startswith("opt-0"))
    draws = sum(e["amount"] for e in _events(short_run, "InsuranceFundUsed"))
    assert s["losses"]["insurance_draws"]["deficits"] == pytest.approx(draws / WAD, abs=1e-6)
    # no perp venue: every draw is an option book's, and the fund moved by exactly that much
    assert o["insurance_draws"] == pytest.approx(draws / WAD, abs=1e-6)
    fund = engine.state.pools.insurance.get("USDC", 0)
    assert 25_000 * WAD - fund == draws
    recorded = sum(e["amount"] for e in _events(short_run, "BadDebtRecorded"))
    assert engine.state.pools.bad_debt.get("USDC", 0) == recorded
    assert o["bad_debt"]["recorded"] == pytest.approx(recorded / WAD, abs=1e-6)


def test_sweep_over_the_three_grids(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("paths = 4", "paths = 1")
    text += '\n[overrides]\n"options.population.accounts" = 16\nhorizon = "14h"\n'
    path = tmp_path / "grids.toml"
    path.write_text(text)
    doc = run_sweep(load_sweep(path), InProcessExecutor())
    points = {p["metrics"]["options"]["grid"]: p["metrics"] for p in doc["points"]}
    assert sorted(points) == ["deribit", "derive", "span16"]
    posted = {g: m["options"]["posted"] for g, m in points.items()}
    assert len(set(posted.values())) == 3  # same books, three different requirements
    for m in points.values():
        o = m["options"]
        assert o["capital_efficiency"] == m["capital_efficiency"]["option_notional_per_posted"] > 0
        assert o["liquidations.accounts"] > 0
        assert m["conservation_ok"]
    # SPAN-16 asks least of short options here (its scan range is the narrowest): most efficient
    assert max(posted, key=lambda g: -posted[g]) == "span16"
    table = grid_table(doc)
    assert table.count("\n") == 4 and "| deribit |" in table


def test_same_seed_same_root_and_the_grid_changes_it() -> None:
    small = {"options.population.accounts": 12, "horizon": "13h"}
    a = run_path(load_scenario("options_crash", small), 3)
    b = run_path(load_scenario("options_crash", small), 3)
    assert a.state_root == b.state_root and a.summary["options"] == b.summary["options"]
    c = run_path(load_scenario("options_crash", {**small, "options.grid": "span16"}), 3)
    assert c.state_root != a.state_root
    assert c.summary["options"]["books"] == a.summary["options"]["books"] == 12


def test_cli_simulate_options_crash(tmp_path: Path) -> None:
    """``--accounts`` sizes the option books of an options-only venue; the console and summary.json
    carry the options section."""
    import typer
    from typer.testing import CliRunner

    from clearhouse.cli.simulate import simulate

    app = typer.Typer()
    app.command()(simulate)
    app.command("noop")(lambda: None)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["simulate", "options_crash", "--accounts", "10", "--horizon", "13h", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "10 option books" in res.output and "Options and futures (grid derive)" in res.output
    doc = json.loads((out / "summary.json").read_text())
    first = doc["paths"][0]
    assert first["options"]["books"] == 10 and first["accounts"] == 0
    assert any(sec["id"] == "options" for sec in doc["aggregate"]["sections"])
    html = (out / "report.html").read_text()
    assert 'Plotly.newPlot("ts-option-legs-liquidated"' in html and 'Plotly.newPlot("ts-option-vol"' in html


def test_option_frontier_refused_without_options(tmp_path: Path) -> None:
    from clearhouse.lab.sweep import SweepError

    path = tmp_path / "s.toml"
    path.write_text(
        'kind = "grid"\nscenario = "mango"\npaths = 1\n'
        'frontier = { efficiency = "option_notional_per_posted" }\n'
        '[grid]\n"markets.MNGO-PERP.initial_margin" = [0.2]\n'
    )
    with pytest.raises(SweepError, match=r"frontier\.efficiency"):
        load_sweep(path)


@settings(max_examples=4, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), grid=st.sampled_from(["span16", "deribit", "derive"]))
def test_property_losses_match_the_state(seed: int, grid: str) -> None:
    """Any seed and grid: conservation holds, the fund moved by exactly the draws the events say, and
    the pool's bad debt is the recorded events' (all of it the books')."""
    small = {"options.grid": grid, "options.population.accounts": 8, "horizon": "13h"}
    sc = load_scenario("options_crash", small)
    r = run_path(sc, seed, keep_engine=True)
    assert r.engine is not None and all(r.summary["conservation"].values())
    pools = r.engine.state.pools
    draws = sum(e["amount"] for e in _events(r, "InsuranceFundUsed"))
    assert 25_000 * WAD - pools.insurance.get("USDC", 0) == draws
    assert pools.bad_debt.get("USDC", 0) == sum(e["amount"] for e in _events(r, "BadDebtRecorded"))
    o = r.summary["options"]
    assert o["bad_debt"]["recorded"] == pytest.approx(pools.bad_debt.get("USDC", 0) / WAD, abs=1e-6)
    assert o["liquidations"]["legs"] == len(_events(r, "ContractLegLiquidated"))
