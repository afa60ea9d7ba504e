"""The lab comparison of grid specs (benchmarks/options_lab.py) on a tiny population: sanity of its books."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _lab() -> ModuleType:
    sys.path.insert(0, str(ROOT))  # the lab imports benchmarks.portfolio_margin
    try:
        spec = importlib.util.spec_from_file_location("_options_lab", ROOT / "benchmarks" / "options_lab.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT))
    return module


def test_flat_path_flags_nobody_and_a_crash_flags_the_short_puts() -> None:
    lab = _lab()
    rng = np.random.default_rng(1)
    books = lab.population(rng, 2)
    buffers = [0.0] * len(books)
    flat = lab.run_path("flat", [3000.0] * 3, [1.0] * 3, books, buffers)
    for model, r in flat.items():
        # every book starts at its initial requirement (>= maintenance); two hours of decay are small
        assert r["flagged"] == 0, model
        assert r["held_shortfall"] == 0
    crash = lab.run_path("crash", [3000.0, 2400.0, 1800.0, 1500.0], [1.0, 1.3, 1.7, 2.0], books, buffers)
    for model, r in crash.items():
        assert r["flagged_by_archetype"]["short puts"] == 2, model
        assert sum(r["flagged_by_archetype"].values()) == r["flagged"]
        # closing at some hour never leaves more than holding to the worst hour
        for delay in lab.DELAYS:
            assert 0 <= r[f"shortfall_{delay}h"] <= r["held_shortfall"]
    # the same books post the same capital on every path
    assert all(flat[m]["posted"] == crash[m]["posted"] for m in lab.MODELS)
