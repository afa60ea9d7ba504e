"""Ctrl-C during a multi-path run (issue 9 item 16): exit 130 promptly, one line, no worker tracebacks,
no output folder. The signal goes to the whole process group, as a terminal's Ctrl-C does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import clearhouse

#: Old behaviour: 13-16 s (the pool waited for running batches); now the workers are stopped.
PROMPT_S = 10.0


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_ctrl_c_stops_workers_at_once_and_quietly(tmp_path: Path, executor: str) -> None:
    if executor == "dask":
        pytest.importorskip("distributed")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(clearhouse.__file__).resolve().parents[1])}
    # the hand-drawn luna path (an empty data folder): the real file covers 7 days, not 60
    env["CLEARHOUSE_DATA_DIR"] = str(tmp_path / "no-data")
    args = ["simulate", "luna", "--paths", "4", "--horizon", "60d", "--accounts", "300"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "clearhouse.cli.main", *args, "-e", executor, "-w", "2", "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: the signal reaches the workers too
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("executor:"):
                break
        time.sleep(4)  # workers are importing or running paths (60 days take far longer)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert took < PROMPT_S, f"exit took {took:.1f} s"
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["error: interrupted: no outputs written"], err
    assert not out.exists()
