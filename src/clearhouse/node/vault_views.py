"""JSON views of the vaults and their auctions for the API (``/v1/vaults``, ``/v1/auctions``), installed
by :func:`install` on the app :mod:`clearhouse.node.api` builds.

A vault is ``unsafe`` by the engine's own ``Bark`` trigger at the ledger's price and the rate as stored
(:func:`clearhouse.risk.vault_keeper_decision.vault_unsafe`; fees only raise the rate, so a vault shown
unsafe is barkable). A Dutch auction shows its current price at the chain time of the last block and
whether it needs a redo. Exact integers: amounts WAD, ``debt`` and ``tab`` rad, prices RAY.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Query
from prometheus_client import CollectorRegistry, Gauge

from clearhouse.ledger.model import LedgerState
from clearhouse.liquidation.vault import DutchAuction
from clearhouse.risk.vault_keeper_decision import dutch_price, vault_unsafe

if TYPE_CHECKING:
    from clearhouse.node.service import NodeService


def vaults_view(state: LedgerState, unsafe_only: bool = False) -> list[dict[str, Any]]:
    """Every vault (account, type), ordered by account then type."""
    out = []
    for aid in sorted(state.accounts):
        acct = state.accounts[aid]
        for tid in sorted(acct.vaults):
            v = acct.vaults[tid]
            vt = state.vault_types.get(tid)
            if vt is None:
                continue
            price = state.prices.get(vt.spec.price_key)
            unsafe = price is not None and vault_unsafe(v, vt, price[0])
            if unsafe_only and not unsafe:
                continue
            out.append({
                "account": aid, "vault_type": tid, "ink": v.ink, "art": v.art, "debt": v.art * vt.rate,
                "price": price[0] if price else None, "mat": vt.spec.mat, "unsafe": unsafe,
            })
    return out


def auctions_view(state: LedgerState) -> list[dict[str, Any]]:
    """Every open auction, by id; Dutch ones with their current price and redo state."""
    out = []
    for aid in sorted(state.debt.auctions):
        a = state.debt.auctions[aid]
        row: dict[str, Any] = {
            "id": a.id, "kind": a.kind, "vault_type": a.vault_type, "owner": a.owner, "lot": a.lot,
            "tab": a.tab, "debt": a.debt, "tic": a.tic, "top": a.top, "price": None, "needs_redo": None,
        }
        vt = state.vault_types.get(a.vault_type)
        if vt is not None and isinstance(vt.spec.disposal, DutchAuction):
            done, price = dutch_price(a, vt.spec.disposal, state.time)
            row["price"], row["needs_redo"] = price, done
        out.append(row)
    return out


class VaultMetrics:
    """Prometheus gauges of the vaults, read from the state at each scrape: unsafe vaults, open auctions,
    auctions kicked since genesis (one per Dutch ``Bark``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.unsafe = Gauge("clearhouse_vaults_unsafe", "Vaults a Bark would liquidate now", registry=r)
        self.open = Gauge("clearhouse_auctions_open", "Open collateral auctions", registry=registry)
        self.kicks = Gauge("clearhouse_auctions_kicked", "Auctions started since genesis", registry=registry)

    def render(self, state: LedgerState) -> None:
        self.unsafe.set(len(vaults_view(state, True)))
        self.open.set(len(state.debt.auctions))
        self.kicks.set(state.debt.kicks)


def install(app: FastAPI, svc: NodeService) -> None:
    @app.get("/v1/vaults")
    async def vaults(unsafe: bool = Query(False, description="Only vaults a Bark would liquidate now")
                     ) -> list[dict[str, Any]]:
        """Vaults (Maker-style debt positions) and whether each is unsafe."""
        return vaults_view(svc.engine.state, unsafe)

    @app.get("/v1/auctions")
    async def auctions() -> list[dict[str, Any]]:
        """Open collateral auctions, with a Dutch auction's current price (RAY)."""
        return auctions_view(svc.engine.state)
