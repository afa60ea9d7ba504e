"""``clearhouse bench NAME --help`` shows the benchmark's own flags, not the bench command's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench_help(name: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = "from clearhouse.cli.main import app; app()"
    return subprocess.run(
        [sys.executable, "-c", code, "bench", name, "--help"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_bench_scan_help_lists_the_benchmarks_flags() -> None:
    out = _bench_help("scan")
    assert out.returncode == 0, out.stderr
    assert "--accounts" in out.stdout and "--baseline-accounts" in out.stdout
    assert "usage: clearhouse bench scan" in out.stdout


def test_bench_options_help_lists_the_benchmarks_flags() -> None:
    out = _bench_help("options")
    assert out.returncode == 0, out.stderr
    assert "usage: clearhouse bench options" in out.stdout
    for flag in ("--accounts", "--legs", "--spec", "--sample", "--positions", "--quick", "--lab", "--out"):
        assert flag in out.stdout, flag
