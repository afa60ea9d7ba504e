"""The node keeper's vault side: which ``Bark`` and ``TakeAuction`` to send after a block, decided on the
keeper's replica with the lab's vault keepers' code (:mod:`clearhouse.risk.vault_keeper_decision`).

* ``Bark`` every unsafe vault (the engine's exact trigger) whose kick incentive ``tip + chip x tab``
  minus the keeper's cost reaches its threshold, while the vault's price feed is fresh (a stale feed
  makes the engine refuse liquidations).
* ``TakeAuction`` from every open Dutch auction whose current price is at most the keeper's valuation:
  the node has no external market, so the keeper values collateral at the oracle price less its
  ``discount``; ``max_price`` is that valuation, so the take never pays more even when it lands later.
  It buys as much as its free capital (settlement balance, capped by its free cross margin) allows and
  sends when ``amount x valuation price - paid`` minus cost reaches the threshold.

* ``RedoAuction`` a Dutch auction that needs a reset (past ``tail`` or below ``cusp``) when the redo
  incentive minus cost reaches ``min(threshold, 0)``, as the lab's keepers do.

Intent targets are ``("vault:<account>", <vault type>)``, ``("auction:<id>", None)`` (take) and
``("auction:<id>", "redo")``, so the
keeper's intent log (:class:`clearhouse.node.keeper.IntentLog`) keeps one open send per vault and per
auction across restarts, exactly as for close-outs.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearhouse.ledger import commands as c
from clearhouse.ledger.enforcement import Target
from clearhouse.ledger.model import LedgerState
from clearhouse.liquidation.vault import DutchAuction
from clearhouse.risk.vault_keeper_decision import (
    bark_profitable,
    dutch_bark_gain,
    dutch_price,
    dutch_redo_gain,
    dutch_take,
    redo_profitable,
    vault_unsafe,
)


@dataclass(frozen=True, slots=True)
class VaultAction:
    kind: str  # "bark", "take" or "redo"
    target: Target
    command: c.AnyCommand
    #: Expected gain (settlement units) and, for a take, the settlement it pays (WAD).
    gain: float
    commit: int = 0


def bark_target(account: str, vault_type: str) -> Target:
    return (f"vault:{account}", vault_type)


def auction_target(auction: int) -> Target:
    return (f"auction:{auction}", None)


def redo_target(auction: int) -> Target:
    return (f"auction:{auction}", "redo")


def _fresh(state: LedgerState, key: str) -> bool:
    feed = state.oracles.get(key)
    return feed is None or feed.state.value == "fresh"


def vault_actions(state: LedgerState, me: str, free: int, cost: float, threshold: float, discount: int,
                  busy: set[Target]) -> tuple[list[VaultAction], list[tuple[Target, str]]]:
    """The sends this keeper wants after the replica's last block, and the declined ``(target, why)``.

    ``free`` is the settlement capital it may spend on takes; ``busy`` the targets with an open intent."""
    actions: list[VaultAction] = []
    declined: list[tuple[Target, str]] = []
    for aid in sorted(state.accounts):
        if aid == me:
            continue
        for tid in sorted(state.accounts[aid].vaults):
            v = state.accounts[aid].vaults[tid]
            vt = state.vault_types[tid]
            cfg = vt.spec.disposal
            price = state.prices.get(vt.spec.price_key)
            target = bark_target(aid, tid)
            if (price is None or not isinstance(cfg, DutchAuction) or target in busy
                    or not vault_unsafe(v, vt, price[0])):
                continue
            if not _fresh(state, vt.spec.price_key):
                declined.append((target, "stale_price"))
                continue
            gain = dutch_bark_gain(v, vt, cfg)
            if not bark_profitable(gain, cost, threshold):
                declined.append((target, "unprofitable"))
                continue
            actions.append(VaultAction("bark", target, c.Bark(aid, tid, me), gain))
    for auction_id in sorted(state.debt.auctions):
        a = state.debt.auctions[auction_id]
        avt = state.vault_types.get(a.vault_type)
        if avt is None or a.owner == me:
            continue
        cfg = avt.spec.disposal
        price = state.prices.get(avt.spec.price_key)
        if not isinstance(cfg, DutchAuction) or price is None:
            continue
        done, now_price = dutch_price(a, cfg, state.time)
        target = redo_target(auction_id) if done else auction_target(auction_id)
        if target in busy:
            continue
        if done:
            if not _fresh(state, avt.spec.price_key):
                declined.append((target, "stale_price"))
                continue
            gain = dutch_redo_gain(a, avt.spec, cfg, price[0])
            if redo_profitable(gain, cost, threshold):
                actions.append(VaultAction("redo", target, c.RedoAuction(auction_id, me), gain))
            else:
                declined.append((target, "unprofitable"))
            continue
        if now_price <= 0:
            continue
        t = dutch_take(a, now_price, price[0], discount, free, cost, threshold)
        if t.decision != "send":
            if t.decision != "expensive":
                declined.append((target, t.decision))
            continue
        actions.append(VaultAction("take", target, c.TakeAuction(auction_id, t.amount, t.max_price, me),
                                   t.gain, t.paid))
        free -= t.paid
    return actions, declined
