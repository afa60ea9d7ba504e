"""The liquidation queue: every bucket below maintenance at the ledger's prices, most underwater
first, with the exact figures (the scan nominates, :func:`confirm` decides, as in the engine)."""

from __future__ import annotations

from clearhouse.ledger.enforcement import Confirmed, ExactScanner, confirm
from clearhouse.ledger.margin import fresh_price_lookup
from clearhouse.ledger.model import LedgerState


def liquidation_queue(state: LedgerState) -> list[Confirmed]:
    candidates = ExactScanner().candidates(state, ())
    confirmed = confirm(state, candidates, fresh_price_lookup(state))
    return sorted(confirmed, key=lambda c: (c.health, c.target[0], c.target[1] or ""))
