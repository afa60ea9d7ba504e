"""Dated futures and European options in the engine (issue 13).

One module per part: ``listing`` (ListContract, SetScenarioTable), ``trading`` (TradeContract: premium
at trade for options, perp-like fills without funding for futures), ``expiry`` (the block hook that
records the settlement feed and settles every position of an expired instrument atomically, or makes
it wait), ``liquidation`` (LiquidateContracts and the enforcement hook: riskiest legs first by keeper
takeover) and ``instrument`` (:class:`ContractInstrument`, the ledger's instrument interface). The pure
arithmetic is the options library's (``clearhouse.options``); margin is ``ledger.contract_margin``.
"""

from __future__ import annotations

from clearhouse.ledger.kernel import Handlers
from clearhouse.mechanisms.options import liquidation, listing, trading

#: Every dated-contract command (``clearhouse.engine.registry`` checks the union).
HANDLERS: Handlers = {**listing.HANDLERS, **trading.HANDLERS, **liquidation.HANDLERS}
