"""The conservation identity of the ledger, per asset (ARCHITECTURE §2).

``deposited − withdrawn + drawn − repaid`` (what entered the ledger, plus what debt positions minted,
minus what they burned) equals everything the ledger holds of the asset: account balances, the
insurance fund, fee and backstop pools, collateral locked in vaults and in open auctions, the stability
pool's collateral, and for the settlement asset also the stability pool's deposits, isolated position
margins, every market's PnL pool (the counterpart of realised PnL and funding) and the bids held by open
English auctions. Tests and the stress lab check it after every block; it must be exactly zero.
"""

from __future__ import annotations

from clearhouse.ledger.model import LedgerState
from clearhouse.liquidation.vault import ENGLISH


def conservation_gap(state: LedgerState, asset: str) -> int:
    """``supply − holdings`` of ``asset``: 0 when value is conserved to the last unit."""
    held = sum(a.balances.get(asset, 0) for a in state.accounts.values())
    held += state.pools.insurance.get(asset, 0) + state.pools.fees.get(asset, 0)
    held += state.pools.backstop.get(asset, 0)
    for vid, vt in state.vault_types.items():
        if vt.spec.collateral == asset:
            held += sum(a.vaults[vid].ink for a in state.accounts.values() if vid in a.vaults)
    for auction in state.debt.auctions.values():
        if state.vault_types[auction.vault_type].spec.collateral == asset:
            held += auction.lot
    sp = state.stability_pool
    held += sp.collateral.get(asset, 0)
    if asset == state.params.settlement_asset:
        held += sp.deposits
        held += sum(p.margin for a in state.accounts.values() for p in a.positions.values())
        held += sum(m.pnl_pool for m in state.markets.values())
        held += state.contracts.pools()
        held += sum(a.bid for a in state.debt.auctions.values() if a.kind == ENGLISH)
    supply = state.deposited.get(asset, 0) - state.withdrawn.get(asset, 0)
    supply += state.drawn.get(asset, 0) - state.repaid.get(asset, 0)
    return supply - held


def conservation_gaps(state: LedgerState) -> dict[str, int]:
    """:func:`conservation_gap` for every listed asset, in id order."""
    return {asset: conservation_gap(state, asset) for asset in sorted(state.assets)}
