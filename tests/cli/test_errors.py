"""One-line, literal errors on stderr (issue 9 items 9 CLI part, 10, 11) and small console fixes (16)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import clearhouse
from clearhouse.cli.main import app
from clearhouse.lab.scenario import builtin_names

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
BUILTIN = REPO / "src" / "clearhouse" / "lab" / "builtin"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command in a subprocess with piped (non-terminal) stdout and stderr."""
    src = Path(clearhouse.__file__).resolve().parents[1]  # the code under test, wherever it is
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "clearhouse.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_scenario_error_is_literal_unwrapped_and_on_stderr(tmp_path: Path) -> None:
    text = (BUILTIN / "black_thursday.toml").read_text()
    text = text.replace('settlement_asset = "USDC"', 'settlement_asset = "DAI"')
    scenario = tmp_path / (
        "a-scenario-with-a-long-name-so-the-error-is-wider-than-eighty-columns" * 2 + ".toml"
    )
    scenario.write_text(text)
    out = _cli("simulate", str(scenario), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert out.returncode == 2
    assert "DAI" not in out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr  # not wrapped at 80 columns
    assert "'DAI' is not in [assets]" in lines[0]  # Rich markup did not eat "[assets]"
    assert scenario.name in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("seed", "paths", "needle"),
    [("-1", "1", ">= 0"), (str(2**63), "1", "2^63"), (str(2**63 - 1), "2", "2^63")],
)
def test_bad_seeds_are_refused_before_the_run(tmp_path: Path, seed: str, paths: str, needle: str) -> None:
    result = runner.invoke(
        app, ["simulate", "black_thursday", "--seed", seed, "--paths", paths, "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.stderr.strip().splitlines()) == 1 and needle in result.stderr
    assert "accounts" not in result.stdout  # refused before loading and announcing the run
    assert not (tmp_path / "o").exists()


def test_sweep_seed_is_refused_before_the_run(tmp_path: Path) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text('kind = "list"\nscenario = "black_thursday"\n[[points]]\nname = "a"\n')
    result = runner.invoke(app, ["sweep", str(sweep), "--seed", "-5", "-o", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert ">= 0" in result.stderr


def test_dask_without_distributed_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the dask extra were not installed
    result = runner.invoke(
        app, ["simulate", "black_thursday", "--paths", "2", "--executor", "dask", "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install -e '.[dask]'" in lines[0]


def test_readme_names_the_dask_extra_and_the_builtin_count() -> None:
    readme = (REPO / "README.md").read_text()
    dask_lines = [line for line in readme.splitlines() if "--executor dask" in line]
    assert dask_lines and "pip install -e '.[dask]'" in readme
    words = {7: "seven", 8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}
    count = len(builtin_names())
    assert f"{words.get(count, count)} built-in scenarios" in readme
    listed = runner.invoke(app, ["simulate", "--list"])
    assert len(listed.stdout.split()) == count


def test_demo_shows_durations_in_seconds(tmp_path: Path) -> None:
    from clearhouse.cli.render import events_table
    from clearhouse.demo.session import session_blocks
    from clearhouse.ledger.engine import Engine

    engine = Engine()
    events = [(b.height, e) for b in session_blocks() for e in engine.apply_block(b).events]
    console = Console(file=io.StringIO(), width=300)
    console.print(events_table(events))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "max_price_age=7,200 s" in text and "max_price_age=0.0000" not in text


def test_sweep_table_keeps_long_point_names(tmp_path: Path) -> None:
    from clearhouse.cli.sweep import points_table

    names = [
        f"markets.ETH-PERP.initial_margin={m},liquidation.close_factor=0.{i}" for i, m in enumerate("12")
    ]
    metrics = {
        "mean_bad_debt": 1.0,
        "var_bad_debt": {"q0.99": 2.0},
        "lar_liquidated_notional": {"q0.99": 3.0},
        "capital_efficiency": {"used_leverage": 4.0},
    }
    doc = {
        "name": "demo",
        "quantiles": [0.95, 0.99],
        "frontier": {"efficiency": "capital_efficiency.used_leverage"},
        "points": [{"name": n, "metrics": metrics, "pareto": True} for n in names],
    }
    console = Console(file=io.StringIO(), width=80)  # what a pipe gets
    console.print(points_table(doc))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    first_cells = "".join(line.split("│")[1].strip() for line in lines if line.count("│") > 2)
    for name in names:
        assert name in first_cells
    assert "…" not in console.file.getvalue()  # type: ignore[attr-defined]


def test_event_text_is_shown_literally() -> None:
    from clearhouse.cli.render import events_table
    from clearhouse.ledger.events import TransactionRejected

    event = TransactionRejected(0, "Deposit", "unknown_asset", "'DAI' is not in [assets] [bold]x[/bold]")
    console = Console(file=io.StringIO(), width=300)
    console.print(events_table([(1, event)]))
    assert "'DAI' is not in [assets] [bold]x[/bold]" in console.file.getvalue()  # type: ignore[attr-defined]
