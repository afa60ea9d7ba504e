"""``backtest-controller``: the Monte Carlo set and the Liquidations-at-Risk fields of backtest.json."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

import clearhouse.lab.backtest as bt
import clearhouse.lab.scenario as scenario_pkg
from clearhouse.cli.backtest_controller import DEFAULT_MONTE_CARLO
from clearhouse.cli.main import app

runner = CliRunner()
NEW_FIELDS = {"lar95", "lar99", "liquidated_mean", "bad_debt_var99", "bad_debt_es99", "seeds", "paths"}


def test_a_monte_carlo_model_runs_with_and_without_the_controller_on_the_same_seeds(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    args = ["backtest-controller", "mc:garch", "--scale", "1", "--seeds", "2", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "LaR95" in result.output and "LaR99" in result.output
    doc = json.loads((out / "backtest.json").read_text())
    assert doc["monte_carlo"] == 0  # a scenario was named: no extra set
    static, ctl = doc["rows"]
    assert (static["variant"], ctl["variant"]) == ("static x1", "volatility")
    for r in (static, ctl):
        assert set(r) >= NEW_FIELDS and r["monte_carlo"] is True and r["scenario"] == "mc_garch"
        assert r["lar95"] <= r["lar99"] and r["liquidated_mean"] <= r["lar99"]
        assert r["bad_debt_var95"] <= r["bad_debt_var99"] <= r["bad_debt_es99"] + 1e-9
    assert static["seeds"] == ctl["seeds"] and len(ctl["seeds"]) == 2
    assert static["lar99"] > 0  # the turbulent GARCH regime liquidates someone
    assert "max_step" in ctl and 0 <= ctl["max_step"] <= 0.25
    page = (out / "frontier.html").read_text()
    assert "Monte Carlo, 2 paths" in page and "LaR99" in page


def test_the_monte_carlo_set_is_included_when_no_scenario_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[tuple[str, int, str | None]] = []

    def fake_run_path(sc: Any, seed: int, controller: str | None = None) -> Any:
        ran.append((sc.name, seed, controller))
        s: dict[str, Any] = {
            "seed": seed,
            "bad_debt": {"total": 0.0},
            "insolvency": {"peak_uncovered_by_insurance": 0.0},
            "losses": {"insurance_draws": {"total": 0.0}},
            "liquidations": {"positions": 0, "notional": 0.0},
            "capital_efficiency": {"allowed_leverage": 5.0, "used_leverage": 2.0},
        }
        if controller is not None:
            s["controller"] = {"mean_allowed_leverage": {}, "changes": 0, "mean_relative_step": 0.0,
                               "max_relative_step": 0.0, "refused": 0}
        return SimpleNamespace(summary=s)

    monkeypatch.setattr(bt, "run_path", fake_run_path)
    monkeypatch.setattr(scenario_pkg, "builtin_names", lambda: ["mango"])
    out = tmp_path / "all"
    result = runner.invoke(app, ["backtest-controller", "--scale", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "backtest.json").read_text())
    assert doc["monte_carlo"] == DEFAULT_MONTE_CARLO
    names = [r["scenario"] for r in doc["rows"]]
    assert names == ["mango", "mango", "mc_gbm", "mc_gbm", "mc_merton", "mc_merton", "mc_garch", "mc_garch"]
    assert all(r["paths"] == DEFAULT_MONTE_CARLO for r in doc["rows"][2:])
    assert "Monte Carlo sets" in " ".join(result.output.split())

    ran.clear()
    off = tmp_path / "off"
    args = ["backtest-controller", "--scale", "1", "--monte-carlo", "0", "--out", str(off)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert {name for name, _, _ in ran} == {"mango"}


def test_an_unknown_monte_carlo_model_is_refused_before_anything_runs(tmp_path: Path) -> None:
    out = tmp_path / "x"
    result = runner.invoke(app, ["backtest-controller", "mc:heston", "--out", str(out)])
    assert result.exit_code != 0
    assert "unknown Monte Carlo model" in " ".join(result.output.split())
    assert not out.exists()
