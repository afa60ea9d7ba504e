"""Debt positions (Maker vaults) and their disposal paths.

One module per part: ``positions`` (types, Lock/Free/Draw/Wipe), ``bark`` (the entry to a liquidation
and the disposal table), ``dutch`` (clip.sol), ``english`` (flip.sol), ``fixed_discount``,
``stability_pool`` (Liquity) and ``aave`` (Aave v3); ``common`` holds what they share.

Units at the edge: every token movement is WAD. A rad amount paid by a taker is rounded up to WAD
(``ceil(owe / RAY)``); debt written off as bad debt is rounded up too; fees minted to the surplus buffer
and keeper incentives are rounded down. Conservation per asset (docs/concepts.md)::

    deposited - withdrawn + drawn - repaid = balances + pools + vault ink + auction lots (+ English bids)
                                           + stability pool deposits and collateral
"""

from __future__ import annotations

from clearhouse.ledger.kernel import Handlers
from clearhouse.mechanisms.vaults import bark, dutch, english, positions, stability_pool

#: Every vault command (the parts' tables are disjoint; ``clearhouse.engine.registry`` checks the union).
HANDLERS: Handlers = {
    **positions.HANDLERS,
    **bark.HANDLERS,
    **dutch.HANDLERS,
    **english.HANDLERS,
    **stability_pool.HANDLERS,
}
