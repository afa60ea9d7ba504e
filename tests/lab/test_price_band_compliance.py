"""Lab agents trade inside the markets' price bands (issue 9 item 8).

Keepers unwind what they took over against the market maker. The unwind used to be priced at the index
the keeper saw when it decided, several blocks before it landed; in the 2025-10-10 cascade the index
falls faster than 5 % over that latency and 15 unwinds were refused with ``price_out_of_band``. Keepers
now re-quote queued unwinds at the latest index before each block.
"""

from __future__ import annotations

import json

from clearhouse.lab.runner import run_path
from clearhouse.lab.scenario import load_scenario


def band_rejections(name: str) -> list[str]:
    events = run_path(load_scenario(name)).events
    out = []
    for kind, payload in zip(
        events.column("type").to_pylist(), events.column("json").to_pylist(), strict=True
    ):
        if kind == "TransactionRejected":
            data = json.loads(payload)
            if data["code"] == "price_out_of_band":
                out.append(data["message"])
    return out


def test_cascade_keepers_unwind_inside_the_band() -> None:
    assert band_rejections("cascade_2025_10_10") == []
