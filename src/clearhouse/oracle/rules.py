"""The engine's rules per oracle state, as data, plus two liquidation guards.

* :data:`ALLOWED_ACTIONS` maps each :class:`OracleState` to the actions the engine may take on a
  market or collateral asset whose feed is in that state. Deposits and repayments need no price and
  are always allowed, so they are not in the table.
* :func:`twap_divergence_ok` is Drift's guard rail: no liquidation while the oracle and its TWAP
  diverge by more than a bound (Drift's ``oracle_twap_5min_percent_divergence``).
* :class:`SequencerGrace` is Aave v3's ``PriceOracleSentinel``: after an L2 sequencer outage ends,
  for ``grace`` seconds only accounts with health below ``health_threshold`` (0.95) may be
  liquidated, and no new borrowing is allowed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import msgspec

from clearhouse.core.fixedpoint import WAD, check_non_negative, check_positive
from clearhouse.oracle.errors import InvalidOracleConfig, OracleActionRefused
from clearhouse.oracle.states import OracleState


class Action(enum.StrEnum):
    OPEN = "open"  # open or increase a position, borrow: adds risk
    REDUCE = "reduce"  # reduce or close a position: removes risk
    WITHDRAW = "withdraw"  # take collateral out
    LIQUIDATE = "liquidate"  # enforcement against an account


_ALL: Final = frozenset(Action)

#: Which actions each oracle state allows. Rationale per row in docs/oracles.md.
ALLOWED_ACTIONS: Final[Mapping[OracleState, frozenset[Action]]] = MappingProxyType(
    {
        OracleState.FRESH: _ALL,
        # Old price: no new risk, no withdrawals (they could drain value at a wrong price), and no
        # liquidation on a number the market may have left; users may still cut risk.
        OracleState.STALE: frozenset({Action.REDUCE}),
        # The market is beyond a bound (LUNA at Chainlink's minAnswer, Venus May 2022): valuing at the
        # bound overvalues a collapsing collateral, so no borrowing/withdrawing against it; liquidation
        # stays allowed because the bound errs towards fewer liquidations, not more.
        OracleState.CLAMPED: frozenset({Action.REDUCE, Action.LIQUIDATE}),
        # The candidate looks manipulated (outside the anchor band): nothing acts on it.
        OracleState.GUARDED: frozenset({Action.REDUCE}),
        # Publishers disagree (confidence too wide): same as guarded.
        OracleState.UNCERTAIN: frozenset({Action.REDUCE}),
        # Circuit breaker: everything waits for confirmation.
        OracleState.HALTED: frozenset(),
    }
)


def is_allowed(state: OracleState, action: Action) -> bool:
    """Whether ``action`` is allowed while the feed is in ``state``."""
    return action in ALLOWED_ACTIONS[state]


def require_allowed(state: OracleState, action: Action, asset: str) -> None:
    """Raise :class:`OracleActionRefused` naming the asset if ``action`` is not allowed in ``state``."""
    if action not in ALLOWED_ACTIONS[state]:
        raise OracleActionRefused(f"{action.value} refused: oracle for {asset} is {state.value}")


def twap_divergence(price: int, twap: int) -> int:
    """``|price - twap| / twap`` as a WAD fraction, rounded up (``twap > 0``)."""
    check_positive(twap, "twap")
    return -(-abs(price - twap) * WAD // twap)


def twap_divergence_ok(price: int, twap: int, max_divergence: int) -> bool:
    """Drift's rule: liquidations are allowed only if ``|price - twap| <= max_divergence * twap``."""
    check_non_negative(max_divergence, "max_divergence")
    check_positive(twap, "twap")
    return abs(price - twap) * WAD <= max_divergence * twap


def can_liquidate(state: OracleState, price: int, twap: int, max_divergence: int) -> bool:
    """The state table and Drift's divergence rule together."""
    return is_allowed(state, Action.LIQUIDATE) and twap_divergence_ok(price, twap, max_divergence)


class SequencerGrace(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Aave v3 ``PriceOracleSentinel``: a grace period after an L2 sequencer comes back up.

    ``grace`` seconds (Aave uses 3600 on its L2 markets); ``health_threshold`` in WAD (Aave's
    ``MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD`` = 0.95). Accounts below the threshold may be
    liquidated at any time; others only once the sequencer has been up for more than ``grace``.
    """

    grace: int
    health_threshold: int = 95 * WAD // 100

    def __post_init__(self) -> None:
        if type(self.grace) is not int or self.grace < 0:
            raise InvalidOracleConfig(f"grace must be an integer >= 0 seconds, got {self.grace!r}")
        if type(self.health_threshold) is not int or self.health_threshold <= 0:
            raise InvalidOracleConfig(f"health_threshold must be a WAD > 0, got {self.health_threshold!r}")

    def up_and_grace_passed(self, now: int, sequencer_up: bool, up_since: int) -> bool:
        return sequencer_up and now - up_since > self.grace

    def is_liquidation_allowed(self, now: int, sequencer_up: bool, up_since: int, health: int) -> bool:
        """Whether an account with ``health`` (WAD) may be liquidated at ``now``."""
        return health < self.health_threshold or self.up_and_grace_passed(now, sequencer_up, up_since)

    def is_borrow_allowed(self, now: int, sequencer_up: bool, up_since: int) -> bool:
        """New borrowing (``Action.OPEN``) waits for the grace period to pass."""
        return self.up_and_grace_passed(now, sequencer_up, up_since)
