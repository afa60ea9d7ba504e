"""Sweeps: grid and list files on tiny scenarios, the frontier, outputs written atomically, and bad
sweep files refused before anything runs with the file and the field in the message."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
import typer
from typer.testing import CliRunner

from clearhouse.cli.sweep import sweep
from clearhouse.lab.executors import InProcessExecutor
from clearhouse.lab.runner import run_paths
from clearhouse.lab.sweep import SweepError, load_sweep, pareto_front, run_sweep

COMMON = """
[overrides]
"population.accounts" = 30
horizon = "150m"
"population.leverage" = { dist = "uniform", min = 1.2, max = 3.0 }
"""

GRID = (
    """
kind = "grid"
name = "tiny_grid"
scenario = "mango"
paths = 2
seed = 5
"""
    + COMMON
    + """
[grid]
"markets.MNGO-PERP.initial_margin" = [0.2, 0.3]
"markets.MNGO-PERP.maintenance_margin" = [0.05, 0.1]
"""
)


def _write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(sweep)
    app.command("noop")(lambda: None)
    return app


def test_pareto_front() -> None:
    # maximise x, minimise y
    xs = [1.0, 2.0, 2.0, 3.0, 0.5]
    ys = [1.0, 1.0, 2.0, 5.0, 0.5]
    assert pareto_front(xs, ys) == [False, True, False, True, True]
    assert pareto_front([1.0, 1.0], [2.0, 2.0]) == [True, True]  # ties dominate nothing


def test_grid_sweep_cartesian_product_common_seeds_and_frontier(tmp_path: Path) -> None:
    sw = load_sweep(_write(tmp_path, GRID))
    assert [p.parameters for p in sw.points] == [
        {"markets.MNGO-PERP.initial_margin": im, "markets.MNGO-PERP.maintenance_margin": mm}
        for im in (0.2, 0.3)
        for mm in (0.05, 0.1)
    ]
    assert all(p.seeds == (5, 6) for p in sw.points) and sw.n_tasks == 8
    doc = run_sweep(sw, InProcessExecutor())
    assert doc["kind"] == "grid" and len(doc["points"]) == 4
    for p in doc["points"]:
        m = p["metrics"]
        assert m["paths"] == 2 and m["conservation_ok"]
        assert set(m["var_bad_debt"]) == {"q0.95", "q0.99"}
        assert {"mean_bad_debt", "lar_liquidated_notional", "capital_efficiency"} <= set(m)
    allowed = [p["metrics"]["capital_efficiency"]["allowed_leverage"] for p in doc["points"]]
    assert allowed == [5.0, 5.0, pytest.approx(10 / 3, rel=1e-5), pytest.approx(10 / 3, rel=1e-5)]
    assert any(p["pareto"] for p in doc["points"])
    # a point equals run_paths with the same overrides and seeds
    p0 = doc["points"][0]
    direct = list(run_paths("mango", [5, 6], overrides=p0["overrides"], keep_tables=0))
    assert [o.summary["state_root"] for o in direct] == [x["state_root"] for x in p0["paths"]]


def test_list_sweep_via_cli_writes_outputs(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "src/clearhouse/lab/builtin/mango.toml").read_text()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "mine.toml").write_text(text.replace('name = "mango"', 'name = "mine"'))
    path = _write(
        tmp_path,
        """
kind = "list"
scenario = "mango"
seeds = [3, 4]
quantiles = [0.5, 0.9]
frontier = { risk = "var_bad_debt.q0.9", efficiency = "used_leverage" }
"""
        + COMMON
        + """
[[points]]
name = "base"

[[points]]
name = "tight"
overrides = { "markets.MNGO-PERP.maintenance_margin" = 0.15 }

[[points]]
name = "file"
scenario = "scenarios/mine.toml"
""",
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(_app(), ["sweep", str(path), "--out", str(out), "--executor", "inprocess"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "sweep.json").read_text())
    assert [p["name"] for p in doc["points"]] == ["base", "tight", "file"]
    assert doc["points"][2]["scenario"] == "mine" and doc["points"][2]["source"] == "mine.toml"
    assert doc["points"][1]["parameters"] == {
        "scenario": "mango",
        "markets.MNGO-PERP.maintenance_margin": 0.15,
    }
    assert doc["frontier"] == {"risk": "var_bad_debt.q0.9", "efficiency": "capital_efficiency.used_leverage"}
    # the same scenario under another name gives the same paths (same seeds)
    assert [x["state_root"] for x in doc["points"][0]["paths"]] == [
        x["state_root"] for x in doc["points"][2]["paths"]
    ]
    table = pq.read_table(out / "sweep.parquet")
    assert table.num_rows == 3 and "mean_bad_debt" in table.column_names
    assert "param.markets.MNGO-PERP.maintenance_margin" in table.column_names
    html = (out / "report.html").read_text()
    assert 'Plotly.newPlot("frontier"' in html and "Frontier" in html
    assert "Base scenario <code>mango</code>" in html and "Base scenario <code>mine.toml</code>" in html
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    # --dry-run validates and lists without writing
    res = CliRunner().invoke(_app(), ["sweep", str(path), "--dry-run", "--out", str(tmp_path / "dry")])
    assert res.exit_code == 0 and "tight" in res.output and not (tmp_path / "dry").exists()


BAD: list[tuple[str, str]] = [
    ("scenario = 'mango'\npaths = 1\n[grid]\nseed = [1]\n", "sweep.toml: kind is required"),
    ("kind = 'cube'\n", 'sweep.toml: kind must be "grid" or "list", got \'cube\''),
    ("kind = 'grid'\nscenario = 'mango'\npaths = 1\n[gird]\nx = [1]\n", "unknown field `gird`"),
    ("kind = 'grid'\nscenario = 'mango'\npaths = 0\n[grid]\nseed = [1]\n", "sweep.toml: paths must be > 0"),
    ("kind = 'grid'\nscenario = 'mango'\n[grid]\nseed = [1]\n", "sweep.toml: paths is required"),
    ("kind = 'grid'\nscenario = 'mango'\npaths = 1\n", "sweep.toml: grid needs at least one parameter"),
    ("kind = 'grid'\nscenario = 'mango'\npaths = 1\n[grid]\nseed = []\n", "sweep.toml: grid.seed must list"),
    ("kind = 'grid'\npaths = 1\n[grid]\nseed = [1]\n", "sweep.toml: scenario is required"),
    ("kind = 'grid'\nscenario = 'nope.toml'\npaths = 1\n[grid]\nseed = [1]\n", "sweep.toml: scenario cannot"),
    (
        "kind = 'grid'\nscenario = 'mango'\npaths = 1\n"
        "[grid]\n'markets.ETH-PERP.maintenance_margin' = [0.1]\n",
        "sweep.toml: grid.\"markets.ETH-PERP.maintenance_margin\"[0] (= 0.1) markets has no 'ETH-PERP'",
    ),
    (
        "kind = 'grid'\nscenario = 'mango'\npaths = 1\n"
        "[grid]\n'markets.MNGO-PERP.maintenance_margin' = [0.05, 0.3]\n",
        'sweep.toml: grid."markets.MNGO-PERP.maintenance_margin"[1] (= 0.3) gives an invalid scenario: '
        "mango.toml: markets.MNGO-PERP.maintenance_margin must be < initial_margin",
    ),
    (
        "kind = 'list'\nscenario = 'mango'\npaths = 1\n[[points]]\nname = 'a'\n"
        "overrides = { 'population.accounts' = -1 }\n",
        'sweep.toml: points[0].overrides."population.accounts" gives an invalid scenario',
    ),
    (
        "kind = 'list'\nscenario = 'mango'\npaths = 1\n[[points]]\nname = 'a'\n[[points]]\nname = 'a'\n",
        "sweep.toml: points[1].name must be unique",
    ),
    ("kind = 'list'\npaths = 1\n[[points]]\nname = 'a'\n", "sweep.toml: points[0].scenario is required"),
    ("kind = 'list'\nscenario = 'mango'\npaths = 1\n[grid]\nseed = [1]\n", "sweep.toml: grid belongs to"),
    (
        "kind = 'list'\nscenario = 'mango'\npaths = 1\nfrontier = { risk = 'var' }\n[[points]]\nname = 'a'\n",
        "sweep.toml: frontier.risk must be one of",
    ),
    ("kind = 'list'\nscenario = 'mango'\nseeds = [1, 1]\n[[points]]\nname = 'a'\n", "seeds must not repeat"),
    (
        "kind = 'list'\nscenario = 'mango'\npaths = 1\nquantiles = [1.5]\n[[points]]\nname = 'a'\n",
        "sweep.toml: quantiles[0] must be in (0, 1)",
    ),
    (
        "kind = 'list'\nscenario = 'mango'\npaths = 'two'\n[[points]]\nname = 'a'\n",
        "sweep.toml: paths: Expected `int | null`, got `str`",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_sweep_files_are_refused_naming_the_field(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SweepError) as info:
        load_sweep(path)
    assert expected in str(info.value)


def test_cli_refuses_bad_sweep_before_running(tmp_path: Path) -> None:
    path = _write(tmp_path, "kind = 'grid'\nscenario = 'mango'\npaths = 1\n[grid]\nhorizon = ['0h']\n")
    res = CliRunner().invoke(_app(), ["sweep", str(path), "--out", str(tmp_path / "o")])
    text = " ".join(res.output.split())  # rich wraps long lines
    assert res.exit_code == 2
    assert "sweep.toml: grid.horizon[0] (= '0h') gives an invalid scenario" in text
    assert not (tmp_path / "o").exists()
    res = CliRunner().invoke(_app(), ["sweep", str(tmp_path / "missing.toml")])
    assert res.exit_code == 2 and "no such sweep file" in " ".join(res.output.split())
