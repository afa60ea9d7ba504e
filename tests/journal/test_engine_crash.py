"""Crash safety end to end: SIGKILL an engine writing blocks to SQLite, then replay what survived.

The child drives the real engine (trades, price moves, funding) and prints each height after
``apply_block`` returned, i.e. after the block's database transaction committed. After the kill the
journal must open, replay through a fresh engine with every state root matching, and hold at least
every height the child reported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from clearhouse.journal import open_store
from clearhouse.journal.replay import verify_journal

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

CHILD = r"""
import sys
from clearhouse.demo.session import session_blocks
from clearhouse.journal import open_store
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine

E = 10**18
engine = Engine(journal=open_store(sys.argv[1]))
for block in session_blocks():
    engine.apply_block(block)
    print(block.height, flush=True)
height, t = engine.state.height, engine.state.time
while True:
    height += 1
    t += 60
    price = (1800 + (height % 40)) * E
    side = ("alice", "bob") if height % 2 else ("bob", "alice")
    txs = (c.Trade("ETH-PERP", side[0], side[1], E // 100, price),)
    engine.apply_block(Block(height, t, {"ETH": price}, txs))
    print(height, flush=True)
"""


def test_sigkill_mid_stream_loses_no_committed_block(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    reported = 0
    try:
        for line in child.stdout:
            reported = int(line)
            if reported >= 60:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert reported >= 60
    with open_store(str(path)) as store:
        report, engine = verify_journal(store)
    assert report.ok, report
    assert report.blocks >= reported
    assert engine.state.height == report.blocks
