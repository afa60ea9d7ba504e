"""The lab's direct close-out measure runs end to end on a book whose account tree is a memory mapping
(it deep-copies the engine; a tree level that could not be copied once made it fail only in the
benchmark)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from benchmarks import lab  # noqa: E402


def test_direct_close_out_measure_runs_on_a_mapped_account_tree() -> None:
    n = 5_000  # 8,192 leaves: a 512 KiB tree buffer, mapped (state_root._buffer maps from 64 KiB)
    out = lab.closeout_engine(lab.inputs(n, 1, 0.002, 7), k=200, repeat=1)
    assert out["close_outs"] > 0
    assert out["close_out_s"] > 0.0
    assert len(out["block_with_s"]) == len(out["block_without_s"]) == 1
