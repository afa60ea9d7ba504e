"""Shared helpers for the lab tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

#: Shared historical data (never copied into the repo): $CLEARHOUSE_DATA_DIR, else <repo>/../shared/data
DATA_DIR = Path(
    os.environ.get("CLEARHOUSE_DATA_DIR") or Path(__file__).resolve().parents[2].parent / "shared" / "data"
)
GAS_CSV = "eth_gasprice_percentiles_10m_2020-03-12.csv"


def data_file(name: str) -> Path:
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"historical data file {name} not available at {DATA_DIR}")
    return path


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())
