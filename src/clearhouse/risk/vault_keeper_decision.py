"""A vault keeper's Dutch-auction decisions, shared by the lab's vault keepers and the node's keeper.

* **Bark** an unsafe vault (``ink x spot < art x rate``, the engine's exact check at the rate as stored)
  when the kick incentive ``tip + chip x tab`` minus the keeper's cost reaches its threshold.
* **Redo** a Dutch auction that needs a reset (past ``tail`` or below ``cusp``) when the redo incentive
  minus cost reaches ``min(threshold, 0)`` (a keeper restarts a stuck sale even at a small loss).
* **Take** from a Dutch auction when its current price is at most the keeper's valuation
  ``external x (1 - discount)`` (sent with ``max_price`` = the valuation, so a later landing never pays
  more), as much collateral as the keeper's free capital buys, when the expected gain
  ``amount x external - ceil(owe / RAY)`` minus cost reaches the threshold.

Exact integers where the engine is exact (prices RAY inside an auction, amounts WAD); gains are floats
in settlement units (a keeper's estimate, never a ledger amount).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from clearhouse.core.fixedpoint import RAY, WAD, ceil_div
from clearhouse.ledger.model import Auction, Vault, VaultType, VaultTypeSpec
from clearhouse.liquidation.maker.clipper import kick_incentive, redo_incentive, sale_status
from clearhouse.liquidation.vault import DutchAuction, spot

TakeDecision = Literal["send", "expensive", "capital", "unprofitable"]


def vault_unsafe(vault: Vault, vt: VaultType, price: int) -> bool:
    """The engine's ``Bark`` trigger: ``ink x spot < art x rate`` (a vault without debt is never unsafe)."""
    if not vault.art:
        return False
    sp = spot(price, vt.spec.mat)
    return sp > 0 and vault.ink * sp < vault.art * vt.rate


def dutch_bark_gain(vault: Vault, vt: VaultType, cfg: DutchAuction) -> float:
    """The kick incentive a ``Bark`` of ``vault`` pays its caller (``tip + chip x tab``), settlement units."""
    due = vault.art * vt.rate  # rad
    tab = due * vt.spec.chop // WAD
    _, coin = kick_incentive(cfg.tip * RAY, cfg.chip, tab)
    return coin / RAY / WAD


def bark_profitable(gain: float, cost: float, threshold: float) -> bool:
    return gain - cost >= threshold


def dutch_price(a: Auction, cfg: DutchAuction, now: int) -> tuple[bool, int]:
    """``(needs redo, current price RAY)`` of a Dutch auction at chain time ``now`` (clip.sol ``status``)."""
    return sale_status(cfg.calc(), a.tic, a.top, now, cfg.tail, cfg.cusp)


def dutch_redo_gain(a: Auction, spec: VaultTypeSpec, cfg: DutchAuction, oracle: int) -> float:
    """The incentive a ``RedoAuction`` pays (none for a dusty sale), settlement units; ``oracle`` WAD."""
    chost = spec.dust * RAY * spec.chop // WAD
    _, coin = redo_incentive(cfg.tip * RAY, cfg.chip, chost, a.tab, a.lot, oracle * 10**9)
    return coin / RAY / WAD


def redo_profitable(gain: float, cost: float, threshold: float) -> bool:
    return gain - cost >= min(threshold, 0.0)


def valuation(external: int, discount: int) -> int:
    """What a keeper pays at most per unit of collateral (WAD): the external price less its discount."""
    return external * (WAD - discount) // WAD


@dataclass(frozen=True, slots=True)
class TakeTerms:
    decision: TakeDecision
    #: Collateral to buy (WAD), the ``max_price`` to send (RAY), what it pays (settlement WAD).
    amount: int = 0
    max_price: int = 0
    paid: int = 0
    gain: float = 0.0


def dutch_take(a: Auction, price: int, external: int, discount: int, free: int, cost: float,
               threshold: float) -> TakeTerms:
    """Whether and how much to take of auction ``a`` at its current ``price`` (RAY, > 0)."""
    val_ray = valuation(external, discount) * 10**9
    if price > val_ray:
        return TakeTerms("expensive")
    amount = min(a.lot, max(free, 0) * RAY // price)
    if amount <= 0:
        return TakeTerms("capital")
    owe = min(amount * price, a.tab)
    paid = ceil_div(owe, RAY)
    gain = (amount * external // WAD - paid) / WAD
    if gain - cost < threshold:
        return TakeTerms("unprofitable", amount, val_ray, paid, gain)
    return TakeTerms("send", amount, val_ray, paid, gain)
