"""End-to-end: ``simulate --controller`` and ``backtest-controller`` on the short Mango scenario."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from clearhouse.cli.main import app

runner = CliRunner()


def test_simulate_runs_the_controller_through_the_steward(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    args = ["simulate", "mango", "--controller", "volatility", "--accounts", "200"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "controller volatility (first path)" in result.output
    doc = json.loads((out / "summary.json").read_text())
    assert doc["controller"] == "volatility"
    ctl = doc["paths"][0]["controller"]
    assert ctl["changes"] > 0 and ctl["refused"] == 0
    assert set(ctl["changes_by_parameter"]) == {"initial_margin", "maintenance_margin"}
    assert 0 < ctl["max_relative_step"] <= 0.25  # the lab's guardrail: +25 % / -10 % per step


def test_simulate_refuses_an_unknown_controller(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "mango", "--controller", "nope", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "unknown controller" in result.output
    assert not (tmp_path / "x").exists()


def test_backtest_controller_prints_the_table_and_writes_json_and_frontier(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    args = ["backtest-controller", "mango", "--controller", "volatility", "--scale", "1", "--scale", "2"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "controller vs static parameters" in result.output and "undominated" in result.output
    doc = json.loads((out / "backtest.json").read_text())
    rows = doc["rows"]
    assert [r["variant"] for r in rows] == ["static x1", "static x2", "volatility"]
    static, doubled, ctl = rows
    assert doubled["allowed_leverage"] == static["allowed_leverage"] / 2
    assert ctl["changes"] > 0 and isinstance(ctl["undominated"], bool)
    # the controller's point is judged against the static curve on the same path
    dominated = any(
        r["bad_debt_mean"] <= ctl["bad_debt_mean"] and r["allowed_leverage"] >= ctl["allowed_leverage"]
        and (r["bad_debt_mean"] < ctl["bad_debt_mean"] or r["allowed_leverage"] > ctl["allowed_leverage"])
        for r in (static, doubled)
    )
    assert ctl["undominated"] is (not dominated)
    page = (out / "frontier.html").read_text()
    assert page.count("Plotly.newPlot(") == len({r["scenario"] for r in doc["rows"]}) and "controller" in page
