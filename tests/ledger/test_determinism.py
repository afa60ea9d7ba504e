"""Same journal -> same state root, in any process and under any ``PYTHONHASHSEED``; plus a golden file.

The golden file ``tests/golden/demo_session_roots.txt`` pins the state root after every block of the
demo session (``clearhouse.demo.session``). It must only change when the state encoding or the rules
change *on purpose*. To regenerate it then (and review the diff in the same change)::

    CLEARHOUSE_REGENERATE_GOLDEN=1 pytest tests/ledger/test_determinism.py -k golden
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clearhouse.demo.session import session_blocks
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.state_root import full_state_root

from .test_properties import run_random_history

HERE = Path(__file__).resolve().parent
#: The directory to put on sys.path so that this test package imports under its own name in a child
#: process (``ledger`` when tests/ is not a package, ``tests.ledger`` if it becomes one).
PACKAGE = __package__ or "ledger"
IMPORT_ROOT = HERE.parents[PACKAGE.count(".")]
GOLDEN = HERE.parent / "golden" / "demo_session_roots.txt"
HASH_SEEDS = ("0", "1", "12345")

#: Run in a child process: prints ``<height> <root>`` per demo block, then the root of a seeded random
#: history from test_properties (many accounts, two markets, close-outs, bad debt, rejections).
CHILD = f"""
import sys
sys.path.insert(0, {str(IMPORT_ROOT)!r})
from clearhouse.demo.session import session_blocks
from clearhouse.ledger.engine import Engine
engine = Engine()
for block in session_blocks():
    print(block.height, engine.apply_block(block).state_root)
from {PACKAGE}.test_properties import run_random_history
print("random", run_random_history(7, blocks=40).engine.state_root())
"""


def demo_roots() -> list[tuple[int, str]]:
    """``(height, root)`` after each block of the demo session, in this process."""
    engine = Engine()
    roots = []
    for block in session_blocks():
        result = engine.apply_block(block)
        assert result.state_root == full_state_root(engine.state)
        roots.append((block.height, result.state_root))
    return roots


def run_child(hash_seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")


def test_same_journal_gives_the_same_roots_under_every_hash_seed() -> None:
    in_process = [f"{h} {r}" for h, r in demo_roots()]
    in_process.append(f"random {run_random_history(7, blocks=40).engine.state_root()}")
    outputs = {seed: [line for line in run_child(seed) if line] for seed in HASH_SEEDS}
    for seed, lines in outputs.items():
        assert lines == in_process, f"PYTHONHASHSEED={seed} gave different roots"
    assert len(in_process) == 10  # 9 demo blocks and the random history


def read_golden() -> list[tuple[int, str]]:
    rows = []
    for line in GOLDEN.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            height, root = line.split()
            rows.append((int(height), root))
    return rows


def test_demo_session_roots_match_the_golden_file() -> None:
    # If this fails after an intentional change of the state encoding or of the rules, regenerate with
    # `CLEARHOUSE_REGENERATE_GOLDEN=1 pytest tests/ledger/test_determinism.py -k golden` and commit the
    # reviewed diff of tests/golden/demo_session_roots.txt. Never regenerate to silence an unexplained change.
    if os.environ.get("CLEARHOUSE_REGENERATE_GOLDEN") == "1":
        write_golden()
        pytest.skip(f"regenerated {GOLDEN}")
    golden = read_golden()
    assert [h for h, _ in golden] == list(range(1, 10))
    assert all(len(root) == 64 and int(root, 16) >= 0 for _, root in golden)
    actual = demo_roots()
    for (height, expected), (_, root) in zip(golden, actual, strict=True):
        assert root == expected, f"state root after demo block {height} changed"
    assert actual[-1][1] == golden[-1][1]  # the final root


def write_golden() -> None:
    lines = [
        "# <height> <state root> after each block of clearhouse.demo.session; the last row is the final.",
        "# Regenerate only on an intentional change: see tests/ledger/test_determinism.py",
        *(f"{height} {root}" for height, root in demo_roots()),
    ]
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text("\n".join(lines) + "\n")
