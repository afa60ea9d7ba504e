"""The close-out decision shared by the lab's keepers and the node's keeper: worked numbers."""

from __future__ import annotations

from clearhouse.demo.session import ETH_PERP
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.model import Account, Position
from clearhouse.risk.keeper_decision import decide, expected_reward, target_terms


def test_terms_reward_and_decision_worked_example() -> None:
    # 45 ETH long at an index of 1850: notional 83,250; penalty 1 % = 832.5; IM 10 % = 8,325
    acct = Account("alice", "00" * 32, 0, positions={"ETH-PERP": Position("ETH-PERP", 45 * WAD)})
    t = target_terms(acct, ("alice", None), {"ETH-PERP": ETH_PERP}, {"ETH": 1850 * WAD})
    assert (t.notional, t.penalty, t.initial_margin, t.first_market) == (
        83_250 * WAD, 832_500_000_000_000_000_000, 8_325 * WAD, "ETH-PERP"
    )
    # equity 3,205 left: the whole penalty is charged, the liquidator gets half
    assert expected_reward(t.penalty, 3_205 * WAD, ETH_PERP.liquidator_share) == 416.25
    # equity 100 left: the penalty is capped at the equity
    assert expected_reward(t.penalty, 100 * WAD, ETH_PERP.liquidator_share) == 50.0
    assert expected_reward(t.penalty, -5 * WAD, ETH_PERP.liquidator_share) == 0.0
    assert decide(416.25, 16.0, 400.0, 10_000 * WAD, 0, t.initial_margin) == "send"
    assert decide(416.25, 17.0, 400.0, 10_000 * WAD, 0, t.initial_margin) == "unprofitable"
    assert decide(416.25, 0.0, 0.0, 10_000 * WAD, 2_000 * WAD, t.initial_margin) == "capital"


def test_isolated_target_counts_only_its_market() -> None:
    acct = Account("bob", "00" * 32, 0, positions={
        "ETH-PERP": Position("ETH-PERP", -2 * WAD, isolated=True),
    })
    cross = target_terms(acct, ("bob", None), {"ETH-PERP": ETH_PERP}, {"ETH": 2000 * WAD})
    iso = target_terms(acct, ("bob", "ETH-PERP"), {"ETH-PERP": ETH_PERP}, {"ETH": 2000 * WAD})
    assert cross.notional == 0 and cross.first_market is None
    assert iso.notional == 4000 * WAD and iso.penalty == 40 * WAD
