"""A keeper's close-out decision, shared by the lab's simulated keepers and the node's keeper process.

Per target (an account's cross bucket or one isolated position), in exact integers where the engine
is exact: the notional, the penalty due (``notional x liquidation_fee``, rounded up) and the initial
margin of what the keeper takes over. The expected reward is ``min(penalty, max(equity, 0)) x
liquidator_share`` (the engine caps the penalty at the equity left); the keeper sends when the reward
minus its cost reaches its threshold and its free margin covers the initial margin it takes over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from clearhouse.core.fixedpoint import WAD, wmul_up
from clearhouse.ledger.enforcement import Target
from clearhouse.ledger.model import Account, MarketSpec

Decision = Literal["send", "unprofitable", "capital"]


@dataclass(frozen=True, slots=True)
class TargetTerms:
    notional: int
    penalty: int
    initial_margin: int
    #: The first market (by id) of the bucket: its liquidator share and mechanism apply.
    first_market: str | None


def target_terms(account: Account, target: Target, specs: Mapping[str, MarketSpec],
                 prices: Mapping[str, int]) -> TargetTerms:
    """(notional, penalty due, initial margin, first market) of a target, exact integers."""
    mid = target[1]
    notional = penalty = im = 0
    first: str | None = None
    for m in sorted(account.positions):
        pos = account.positions[m]
        if not pos.size or (mid is None and pos.isolated) or (mid is not None and m != mid):
            continue
        spec = specs[m]
        n = abs(pos.size) * prices[spec.oracle] // WAD
        notional += n
        penalty += wmul_up(n, spec.liquidation_fee)
        im += wmul_up(n, spec.initial_margin)
        if first is None:
            first = m
    return TargetTerms(notional, penalty, im, first)


def expected_reward(penalty: int, equity: int, liquidator_share: int) -> float:
    """The caller's share of the penalty the engine will charge, in settlement units (a float: a
    keeper's estimate, never a ledger amount)."""
    return min(penalty, max(equity, 0)) * liquidator_share // WAD / WAD


def decide(reward: float, cost: float, threshold: float, free_margin: int, committed: int,
           initial_margin: int) -> Decision:
    """Send only when profitable after costs and when the keeper can carry what it takes over."""
    if reward - cost < threshold:
        return "unprofitable"
    if free_margin - committed < initial_margin:
        return "capital"
    return "send"
