"""``clearhouse bench options --help`` reaches the options benchmark and shows its flags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_options_help_lists_the_benchmarks_flags() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = "from clearhouse.cli.main import app; app()"
    out = subprocess.run(
        [sys.executable, "-c", code, "bench", "options", "--help"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "usage: clearhouse bench options" in out.stdout
    for flag in ("--accounts", "--legs", "--spec", "--sample", "--positions", "--quick", "--lab", "--out"):
        assert flag in out.stdout, flag
