"""The lab's direct close-out measure runs end to end on a book large enough for compact tree levels
(it deep-copies the engine; a memoryview level once made that fail only in the benchmark)."""

from __future__ import annotations

from benchmarks import lab

from clearhouse.ledger.state_root import MerkleTree


def test_direct_close_out_measure_runs_on_compact_tree_levels() -> None:
    n = MerkleTree.compact_width + 1_000  # the leaf level is compact
    out = lab.closeout_engine(lab.inputs(n, 1, 0.002, 7), k=200, repeat=1)
    assert out["close_outs"] > 0
    assert out["close_out_s"] > 0.0
    assert len(out["block_with_s"]) == len(out["block_without_s"]) == 1
