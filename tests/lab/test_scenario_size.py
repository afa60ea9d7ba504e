"""The memory estimate refuses a run that cannot fit before anything is built or allocated."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clearhouse.lab.scenario import ScenarioError, load_scenario, read_table, validate
from clearhouse.lab.scenario.size import (
    BASE_BYTES,
    BYTES_PER_ACCOUNT,
    BYTES_PER_BLOCK,
    BYTES_PER_BLOCK_ASSET,
    MEMORY_LIMIT_ENV,
    estimate,
    memory_limit,
)


def base() -> dict[str, Any]:
    table, _, _ = read_table("black_thursday")
    table = copy.deepcopy(table)
    table["prices"] = table["prices"].pop("fallback")
    table["network"]["gas"] = table["network"].pop("gas_fallback")
    return table


def test_estimate_is_the_documented_sum() -> None:
    sc = load_scenario("black_thursday", {"data_dir": "/nonexistent"})
    est = estimate(sc.spec, sc.horizon)
    blocks = 50 * 3600 // 60 + 1
    assets = 2  # USDC, ETH
    per_block = BYTES_PER_BLOCK + assets * BYTES_PER_BLOCK_ASSET
    expected = BASE_BYTES + 2000 * BYTES_PER_ACCOUNT + blocks * per_block
    assert est.total == expected and est.blocks == blocks == sc.n_blocks
    assert est.field == "population.accounts"
    two = estimate(sc.spec, sc.horizon, paths=2)
    assert two.total == min(2, os.cpu_count() or 1) * expected


def test_limit_is_a_fraction_of_physical_memory_or_the_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    limit, how = memory_limit()
    phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert limit == int(phys * 0.8) and "physical memory" in how
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1.5G")
    assert memory_limit() == (int(1.5 * 2**30), f"${MEMORY_LIMIT_ENV}")
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ScenarioError, match="must be a byte count"):
        memory_limit()


def test_huge_horizon_refused_naming_file_field_estimate_and_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    t = base()
    t["horizon"] = "100000d"
    with pytest.raises(ScenarioError) as info:
        validate(t, "scenario.toml")
    msg = str(info.value)
    assert msg.startswith("scenario.toml: horizon makes the run too large: estimated ")
    assert "144,000,001 blocks" in msg and "exceeds the limit" in msg and "\n" not in msg


def test_huge_population_refused_before_the_price_files_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The estimate runs first: a replay file that does not exist is never opened."""
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    t = base()
    t["population"]["accounts"] = 100_000_000
    series = [{"asset": "ETH", "file": "missing.csv", "format": "mark6_close"}]
    t["prices"] = {"model": "replay", "series": series}
    with pytest.raises(ScenarioError, match=r"^scenario\.toml: population\.accounts makes the run too large"):
        validate(t, "scenario.toml", tmp_path)
    t["population"]["accounts"] = 2000
    with pytest.raises(ScenarioError, match="file not found"):
        validate(t, "scenario.toml", tmp_path)


def test_paths_count_in_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario("black_thursday", {"data_dir": "/nonexistent"})
    one = estimate(sc.spec, sc.horizon).total
    monkeypatch.setenv(MEMORY_LIMIT_ENV, str(one + 1))
    load_scenario("black_thursday", {"data_dir": "/nonexistent"}, paths=1)
    if (os.cpu_count() or 1) > 1:
        with pytest.raises(ScenarioError, match=r"for 2 path\(s\)"):
            load_scenario("black_thursday", {"data_dir": "/nonexistent"}, paths=2)


def test_simulate_cli_refuses_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clearhouse.cli.main import app

    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    out = tmp_path / "out"
    args = ["simulate", "black_thursday", "--accounts", "100000000", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "population.accounts makes the run too large" in text and "Traceback" not in text
    assert not out.exists() or not any(out.iterdir())


def test_a_toml_float_population_is_refused_for_its_size_not_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    t = base()
    t["population"]["accounts"] = 1e8  # `accounts = 1e8` in TOML is a float
    with pytest.raises(ScenarioError, match=r"population\.accounts makes the run too large: .*100,000,000"):
        validate(t, "scenario.toml")
    t["population"]["accounts"] = 2000.0  # a float that fits is still a type error, named
    with pytest.raises(ScenarioError, match=r"population\.accounts"):
        validate(t, "scenario.toml")
