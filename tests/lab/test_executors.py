"""The same seeds give the same per-path summaries on every executor: in-process, local processes
(spawn) and a Dask LocalCluster with 2 workers; batches come back in seed order; progress is
reported per finished batch; the CLI's summary.json is byte-equal across executors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from clearhouse.cli.simulate import simulate
from clearhouse.lab.executors import (
    DaskExecutor,
    InProcessExecutor,
    ProcessExecutor,
    chunk_size,
    make_batches,
    make_executor,
)
from clearhouse.lab.runner import PathTask, run_paths

TINY = {"population.accounts": 40, "horizon": "150m"}  # mango: the x24 pump starts at 2 h
SEEDS = [11, 12, 13, 14, 15]


def _summaries(executor: Any, source: str = "mango") -> list[str]:
    outcomes = list(run_paths(source, SEEDS, overrides=TINY, executor=executor, keep_tables=1))
    assert [o.seed for o in outcomes] == SEEDS
    assert outcomes[0].timeseries is not None and outcomes[0].events is not None
    assert all(o.timeseries is None and o.events is None for o in outcomes[1:])
    return [json.dumps(o.summary, sort_keys=True) for o in outcomes]


@pytest.fixture(scope="module")
def reference() -> list[str]:
    calls: list[tuple[int, int]] = []
    out = _summaries(InProcessExecutor(on_batch=lambda d, t: calls.append((d, t))))
    assert calls == [(i, len(SEEDS)) for i in range(1, len(SEEDS) + 1)]
    # the tiny scenario is not trivial: the manipulation liquidates someone on some path
    assert any(json.loads(s)["liquidations"]["positions"] > 0 for s in out)
    assert len({json.loads(s)["state_root"] for s in out}) == len(SEEDS)
    return out


def test_batching_sizes_and_shipped_scenario_text(tmp_path: Path) -> None:
    assert chunk_size(100, 2) == 13 and chunk_size(3, 8) == 1 and chunk_size(0, 2) == 1
    toml = tmp_path / "s.toml"
    toml.write_text("name = 'x'\n")
    tasks = [PathTask(str(toml), (), s) for s in range(5)] + [PathTask("mango", (), 9)]
    batches = make_batches(tasks, 2)
    assert [len(b.tasks) for b in batches] == [2, 2, 2]
    assert [b.index for b in batches] == [0, 1, 2]
    assert batches[0].sources[0][1].text == "name = 'x'\n"
    assert [n for n, _ in batches[2].sources] == [str(toml)]  # built-in names travel by name


def test_processes_equal_in_process(reference: list[str], tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    with ProcessExecutor(2, on_batch=lambda d, t: calls.append((d, t)), batch_size=2) as ex:
        assert _summaries(ex) == reference
        # a scenario *file* goes out as its TOML text; same paths as the built-in it copies
        text = (Path(__file__).resolve().parents[2] / "src/clearhouse/lab/builtin/mango.toml").read_text()
        (tmp_path / "copy.toml").write_text(text)
        assert _summaries(ex, str(tmp_path / "copy.toml")) == reference
    # batches of 2, 2, 1 seeds: three reports per run, cumulative, ending at 5 of 5
    assert len(calls) == 6 and {t for _, t in calls} == {5}
    for run in (calls[:3], calls[3:]):
        done = [d for d, _ in run]
        assert done == sorted(done) and done[-1] == 5


def test_dask_local_cluster_two_workers_equals_in_process(reference: list[str]) -> None:
    pytest.importorskip("distributed")
    calls: list[tuple[int, int]] = []
    with DaskExecutor(workers=2, on_batch=lambda d, t: calls.append((d, t))) as ex:
        assert ex.workers == 2
        assert _summaries(ex) == reference
    # ceil(5 / (4 x 2)) = 1 seed per batch -> one progress report per path
    assert [d for d, _ in calls] == [1, 2, 3, 4, 5]


def test_make_executor_defaults_and_errors() -> None:
    assert isinstance(make_executor(None, paths=1), InProcessExecutor)
    with make_executor(None, paths=4, workers=8) as ex:
        assert isinstance(ex, ProcessExecutor) and ex.workers == 4  # never more workers than paths
    with pytest.raises(ValueError, match="--scheduler needs --executor dask"):
        make_executor("processes", paths=2, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="--workers"):
        make_executor("processes", paths=2, workers=0)


def test_cli_summary_json_byte_equal_across_executors(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(simulate)
    app.command("noop")(lambda: None)
    docs = []
    for kind in ("inprocess", "processes"):
        out = tmp_path / kind
        args = ["simulate", "mango", "--accounts", "40", "--horizon", "150m", "--paths", "3"]
        res = CliRunner().invoke(app, [*args, "--executor", kind, "--workers", "2", "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert "3/3" in res.output
        docs.append((out / "summary.json").read_bytes())
    assert docs[0] == docs[1]
    res = CliRunner().invoke(
        app, ["simulate", "mango", "--executor", "threads", "--out", str(tmp_path / "x")]
    )
    assert res.exit_code == 2 and "--executor" in res.output
