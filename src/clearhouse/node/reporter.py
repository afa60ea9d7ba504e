"""``clearhouse reporter``: sign and post one source's oracle reports, from a CSV column or a price path.

Each report's ``observed_at`` is the wall clock in whole seconds, strictly increasing (the oracle refuses
a source's report that is not after its last one), so the reporter posts at most one report per second.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from clearhouse.auth.keys import KeyPair
from clearhouse.client import Client, NodeError
from clearhouse.ledger.fixedpoint import to_fixed

log = logging.getLogger("clearhouse.reporter")


def csv_prices(path: Path, column: str, scale: Decimal = Decimal(1), start: int = 0) -> Iterator[Decimal]:
    """Prices of ``column`` in a CSV with a header row (e.g. ``close`` in /work/shared/data), from row
    ``start``, multiplied by ``scale``."""
    with path.open(newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i >= start and row.get(column):
                yield Decimal(row[column]) * scale


def path_prices(values: list[Decimal]) -> Iterator[Decimal]:
    """The given prices in turn, then the last one forever (a step path: "2000,2000,1700")."""
    yield from values
    while True:
        yield values[-1]


def run(url: str, key: KeyPair, source: str, asset: str, prices: Iterator[Decimal], *,
        interval: float = 1.0, count: int | None = None) -> int:
    """Post reports until ``count`` are accepted (None: forever); returns how many were accepted."""
    posted = 0
    last = 0
    with Client(url, key) as client:
        for price in prices:
            if count is not None and posted >= count:
                break
            now = int(time.time())
            if now <= last:
                time.sleep(last + 1 - time.time())
                now = last + 1
            try:
                h = client.report(key, source, asset, to_fixed(price), now)
                posted += 1
                last = now
                log.info("report", extra={"source": source, "asset": asset, "price": str(price),
                                          "observed_at": now, "hash": h})
            except NodeError as err:
                log.warning("report_refused", extra={"source": source, "code": err.code, "error": str(err)})
            except OSError as err:  # node down: keep trying (it may be restarting)
                log.warning("node_unreachable", extra={"error": str(err)})
            time.sleep(interval)
    return posted
