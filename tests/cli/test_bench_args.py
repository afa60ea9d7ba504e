"""Benchmark count arguments refuse bad values with a usage error instead of failing deep inside."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from benchmarks._common import count_arg  # noqa: E402


def test_count_arg_accepts_counts_from_its_minimum() -> None:
    assert count_arg(0)("0") == 0
    assert count_arg(1)("10000") == 10_000


@pytest.mark.parametrize(("minimum", "text"), [(0, "-3"), (1, "0"), (0, "x"), (0, "1.5"), (0, "")])
def test_count_arg_refuses_values_below_its_minimum_or_not_integers(minimum: int, text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        count_arg(minimum)(text)
