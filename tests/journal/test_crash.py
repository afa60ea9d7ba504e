"""Crash safety of the SQLite journal: SIGKILL a writing process, reopen, lose nothing it reported committed.

The child prints a height only after ``append`` returned, so every printed height was committed; the
kill lands while it is in the middle of the next append. Several rounds, each child resuming from the
head the previous one left, also show that a killed journal stays appendable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from clearhouse.journal import open_store

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

SRC = Path(__file__).resolve().parents[2] / "src"

# Runs in the child. ``batch`` appends 5 rows per transaction (append_many) and reports the last one.
CHILD = r"""
import hashlib, sys
from clearhouse.journal.rows import GENESIS_HASH, make_row
from clearhouse.journal import open_store

path, batch = sys.argv[1], int(sys.argv[2])

def row(height, prev):
    block = hashlib.sha256(b"block %d" % height).digest() * 256  # 8 KiB, derived from the height
    return make_row(height, block, b"events %d" % height, hashlib.sha256(block).hexdigest(), prev)

store = open_store(path)
head = store.head()
height, prev = (0, GENESIS_HASH) if head is None else (head.height, head.row_hash)
print("start", height, flush=True)
while True:
    rows = []
    for _ in range(batch):
        height += 1
        rows.append(row(height, prev))
        prev = rows[-1].row_hash
    if batch == 1:
        store.append(rows[0])
    else:
        store.append_many(rows)
    print(height, flush=True)
"""

ROUNDS = 3
COMMITS_BEFORE_KILL = 30
DEADLINE_S = 20.0


def expected_block(height: int) -> bytes:
    import hashlib

    return hashlib.sha256(b"block %d" % height).digest() * 256


def run_and_kill(path: Path, batch: int) -> tuple[int, list[int]]:
    """Start a writer, SIGKILL it after some commits; return its starting head and the heights it reported."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watchdog = threading.Timer(DEADLINE_S, proc.kill)  # never hang the suite on a stuck child
    watchdog.start()
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        assert first[:1] == ["start"], (
            f"child failed to start: {first} {proc.stderr.read() if proc.stderr else ''}"
        )
        start = int(first[1])
        reported: list[int] = []
        while len(reported) < COMMITS_BEFORE_KILL:
            line = proc.stdout.readline()
            if not line:
                err = proc.stderr.read() if proc.stderr else ""
                pytest.fail(f"writer exited early (rc={proc.poll()}): {err}")
            reported.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)
        # Lines printed before the kill are still in the pipe: those heights were committed too.
        rest, _ = proc.communicate(timeout=DEADLINE_S)
        reported += [int(x) for x in rest.split()]
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return start, reported


@pytest.mark.parametrize("batch", [1, 5], ids=["append", "append_many"])
def test_sigkill_loses_nothing_committed(tmp_path: Path, batch: int) -> None:
    path = tmp_path / "journal.sqlite"
    committed = 0
    for _ in range(ROUNDS):
        start, reported = run_and_kill(path, batch)
        assert start >= committed, "a restarted writer found fewer rows than were reported committed"
        assert reported == list(range(start + batch, reported[-1] + 1, batch))
        committed = reported[-1]

        with open_store(str(path)) as store:  # verify=True: opening checks the chain and head record
            report = store.verify_chain()
            assert report.ok, report
            assert report.count >= committed
            assert report.count % batch == 0, "a batch was partly committed"
            assert report.head_hash == store.head().row_hash  # type: ignore[union-attr]
            heights = [row.height for row in store.rows()]
            assert heights == list(range(1, report.count + 1))
            for height in (1, committed, report.count):
                row = store.get(height)
                assert row is not None and row.block == expected_block(height)
    assert committed >= ROUNDS * COMMITS_BEFORE_KILL
