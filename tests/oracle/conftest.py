"""Shared helpers for the oracle tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from clearhouse.ledger.fixedpoint import WAD
from clearhouse.oracle import (
    FeedConfig,
    MedianConfig,
    OracleFeed,
    PolicyConfig,
    SourceReport,
)
from clearhouse.oracle.config import AggregatorConfig

W = WAD
#: Shared historical data (never copied into the repo): <repo>/../shared/data
DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def data_file(name: str) -> Path:
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"historical data file {name} not available at {DATA_DIR}")
    return path


def rep(source: str, price: int, t: int, conf: int | None = None, asset: str = "ETH") -> SourceReport:
    return SourceReport(source, asset, price, t, conf)


def feed(
    sources: Sequence[str] = ("a",),
    aggregator: AggregatorConfig | None = None,
    policies: Sequence[PolicyConfig] = (),
    **kw: object,
) -> OracleFeed:
    cfg = FeedConfig(
        asset="ETH",
        sources=tuple(sources),
        aggregator=aggregator or MedianConfig(),
        policies=tuple(policies),
        **kw,  # type: ignore[arg-type]
    )
    return OracleFeed(cfg)
