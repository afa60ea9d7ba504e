from __future__ import annotations

import pytest

from clearhouse.oracle import (
    ALLOWED_ACTIONS,
    Action,
    InvalidOracleConfig,
    OracleActionRefused,
    OracleState,
    SequencerGrace,
    can_liquidate,
    is_allowed,
    require_allowed,
    twap_divergence,
    twap_divergence_ok,
)

from .conftest import W


def test_rule_table_is_total_and_as_documented() -> None:
    assert set(ALLOWED_ACTIONS) == set(OracleState)
    table = {state: sorted(a.value for a in actions) for state, actions in ALLOWED_ACTIONS.items()}
    assert table == {
        OracleState.FRESH: ["liquidate", "open", "reduce", "withdraw"],
        OracleState.STALE: ["reduce"],
        OracleState.CLAMPED: ["liquidate", "reduce"],
        OracleState.GUARDED: ["reduce"],
        OracleState.UNCERTAIN: ["reduce"],
        OracleState.HALTED: [],
    }
    assert is_allowed(OracleState.FRESH, Action.WITHDRAW)
    assert not is_allowed(OracleState.STALE, Action.OPEN)
    with pytest.raises(OracleActionRefused, match="withdraw refused: oracle for ETH is stale"):
        require_allowed(OracleState.STALE, Action.WITHDRAW, "ETH")
    require_allowed(OracleState.STALE, Action.REDUCE, "ETH")


def test_drift_twap_divergence_rule() -> None:
    bound = W // 10  # 10 %
    assert twap_divergence(110 * W, 100 * W) == W // 10
    assert twap_divergence(1, 3) == 666_666_666_666_666_667  # rounded up
    assert twap_divergence_ok(110 * W, 100 * W, bound)  # exactly at the bound
    assert not twap_divergence_ok(110 * W + 1, 100 * W, bound)
    assert twap_divergence_ok(90 * W, 100 * W, bound) and not twap_divergence_ok(90 * W - 1, 100 * W, bound)
    assert can_liquidate(OracleState.FRESH, 105 * W, 100 * W, bound)
    assert not can_liquidate(OracleState.FRESH, 120 * W, 100 * W, bound)
    assert not can_liquidate(OracleState.GUARDED, 100 * W, 100 * W, bound)


def test_aave_sequencer_grace_period() -> None:
    sentinel = SequencerGrace(grace=3600)
    healthy, unhealthy = 96 * W // 100, 94 * W // 100
    # sequencer back up at t=1000: for 3600 s only health < 0.95 may be liquidated
    assert sentinel.is_liquidation_allowed(2000, True, 1000, unhealthy)
    assert not sentinel.is_liquidation_allowed(2000, True, 1000, healthy)
    assert not sentinel.is_liquidation_allowed(4600, True, 1000, healthy)  # Aave: strictly more than grace
    assert sentinel.is_liquidation_allowed(4601, True, 1000, healthy)
    # while down: the same threshold applies, and no new borrowing
    assert not sentinel.is_liquidation_allowed(9000, False, 1000, healthy)
    assert sentinel.is_liquidation_allowed(9000, False, 1000, unhealthy)
    assert not sentinel.is_borrow_allowed(2000, True, 1000) and sentinel.is_borrow_allowed(4601, True, 1000)
    with pytest.raises(InvalidOracleConfig, match="grace"):
        SequencerGrace(grace=-1)
