"""The engine lab of option writers (benchmarks/options_engine.py) on a tiny population: the engine's
own numbers are deterministic, conserved and ordered as the grids' parameters say."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from benchmarks import options_engine as lab  # noqa: E402


def test_a_late_keeper_in_a_crash_leaves_bad_debt_and_the_runs_are_deterministic() -> None:
    books = lab.population(6, 13)
    span = lab.run("SPAN-16", "crash", books, 30, 12)
    again = lab.run("SPAN-16", "crash", books, 30, 12)
    deribit = lab.run("Deribit-style", "crash", books, 30, 12)
    prompt = lab.run("SPAN-16", "crash", books, 30, 1)
    assert span.root == again.root and span.bad_debt == again.bad_debt
    assert span.rejected_trades == deribit.rejected_trades == 0
    puts = {b.account for b in books if b.kind == "puts"}
    assert puts <= span.liquidated and puts <= deribit.liquidated  # a −56 % crash liquidates every put seller
    assert deribit.posted > span.posted  # Deribit-style's extended moves cost collateral ...
    assert span.bad_debt > deribit.bad_debt >= 0  # ... and leave less bad debt when the keeper is late
    assert prompt.bad_debt == 0  # an hourly keeper closes every book before it is underwater


def test_one_block_settles_every_position_of_the_expiry() -> None:
    seconds, settled, dust = lab.expiry_benchmark(400)
    assert settled == 400 and dust >= 0 and seconds > 0
