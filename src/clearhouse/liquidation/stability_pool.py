"""Liquity's stability pool, exact in integers: per-depositor accounting by a running product ``P`` and a
running sum ``S`` per collateral, with Liquity v1's scale factor and epochs.

Depositors put the settlement asset (Liquity's LUSD, Maker's DAI) into the pool. When a vault of a type
whose disposal is :class:`StabilityPool` is liquidated, its whole debt ``D`` is cancelled against the
pool (the settlement asset is burned) and its whole collateral ``C`` goes to the pool, shared pro rata to
the deposits at that moment. Nobody's deposit is touched at liquidation time: the pool only updates

* ``P`` -- the product of ``(1 - D_k / T_k)`` over all liquidations ``k`` (``T_k`` = deposits before it),
  so a deposit ``d0`` made when the product was ``P_snap`` is now worth ``d0 x P / P_snap``;
* ``S[asset]`` -- the sum of ``C_k / T_k x P_k`` over the liquidations of that collateral, so the same
  deposit has earned ``d0 x (S - S_snap) / P_snap`` of it.

Both are 18-decimal fixed point (``DECIMAL_PRECISION``). When ``P`` would fall below ``SCALE_FACTOR``
(1e9) it is multiplied by 1e9 and ``scale`` increases; a liquidation that empties the pool starts a new
``epoch`` with ``P = 1`` (every older deposit is then 0). Liquity's ``StabilityPool.sol`` (v1.0):
``_computeRewardsPerUnitStaked``, ``_updateRewardSumAndProduct``, ``_getETHGainFromSnapshots``,
``_getCompoundedStakeFromSnapshots`` -- same operations, same order, same rounding, with two documented
differences:

1. **No error feedback on the debt loss.** Liquity rounds the loss per unit staked up
   (``floor(D x 1e18 / T) + 1``) and carries the overcharge into the next liquidation
   (``lastLUSDLossError_Offset``). With the feedback a later liquidation can charge *less* than its share,
   and the sum of the compounded deposits may then exceed the pool's total by a few wei (the known "last
   withdrawer cannot withdraw" issue). Without it, by induction over liquidations, deposits and
   withdrawals, ``sum(d0 x P / P_snap) <= deposits`` always holds, and so (collateral error feedback kept,
   as in Liquity: ``lastETHError_Offset`` per collateral) ``sum(gains) <= collateral``. Every claim is
   therefore payable; the pool keeps at most ``T / 1e18 + 1`` wei of extra debt loss per liquidation.
2. **Several collaterals.** ``S`` is kept per collateral asset (Liquity v1 has ETH only); ``P``, ``scale``
   and ``epoch`` are shared, since a deposit is consumed by every liquidation whatever its collateral.

What the flooring leaves in the pool (``deposits - sum(compounded)``, ``collateral - sum(gains)``, both
>= 0) is **dust**: it belongs to no depositor. The ledger sweeps it into the insurance fund when the last
depositor leaves (``StabilityPoolDustSwept``), so it is never lost from the conservation identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import msgspec

from clearhouse.core.errors import ClearhouseError, InsufficientBalance

__all__ = [
    "DECIMAL_PRECISION",
    "SCALE_FACTOR",
    "Offset",
    "SpDeposit",
    "StabilityPoolInsufficient",
    "StabilityPoolPrecisionLoss",
    "StabilityPoolState",
    "collateral_gain",
    "collateral_gains",
    "compounded_deposit",
    "compute_offset",
    "snapshot",
]

#: Liquity's ``DECIMAL_PRECISION``: ``P``, ``S`` and the per-unit rewards are 18-decimal fixed point.
DECIMAL_PRECISION: Final = 10**18
#: ``SCALE_FACTOR``: ``P`` is rescaled by this when it would fall below it.
SCALE_FACTOR: Final = 10**9


class StabilityPoolInsufficient(InsufficientBalance):
    """The pool holds less than the vault's debt and the vault type has no fallback disposal path."""

    code = "stability_pool_insufficient"


class StabilityPoolPrecisionLoss(ClearhouseError):
    """The offset would drive ``P`` to 0 (Liquity v1's ``assert(newP > 0)``): refused, or the fallback
    path is used. Only reachable after a liquidation left ``P`` below ``1e9`` at a fresh scale."""

    code = "stability_pool_precision_loss"


class SpDeposit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A depositor's ``deposits[...]`` and ``depositSnapshots[...]``: the initial value ``d0`` and ``P``,
    ``scale``, ``epoch`` and every collateral's ``S`` (sorted by asset) when it was last set."""

    initial: int
    p: int
    scale: int
    epoch: int
    sums: tuple[tuple[str, int], ...] = ()

    def s_snapshot(self, asset: str) -> int:
        for a, s in self.sums:
            if a == asset:
                return s
        return 0


@dataclass(slots=True)
class StabilityPoolState:
    """The pool's globals. ``deposits`` (Liquity's ``totalLUSDDeposits``) and ``collateral`` are what the
    pool holds; the conservation identity counts both."""

    deposits: int = 0
    collateral: dict[str, int] = field(default_factory=dict)
    p: int = DECIMAL_PRECISION
    scale: int = 0
    epoch: int = 0
    #: ``epochToScaleToSum`` per collateral: asset -> (epoch, scale) -> S.
    sums: dict[str, dict[tuple[int, int], int]] = field(default_factory=dict)
    #: ``lastETHError_Offset`` per collateral (the collateral error feedback).
    coll_error: dict[str, int] = field(default_factory=dict)
    #: Accounts holding a deposit (for the dust sweep when the last one leaves).
    depositors: int = 0
    #: Liquidations absorbed (informational).
    offsets: int = 0

    def clone(self) -> StabilityPoolState:
        return StabilityPoolState(
            self.deposits,
            dict(self.collateral),
            self.p,
            self.scale,
            self.epoch,
            {a: dict(s) for a, s in self.sums.items()},
            dict(self.coll_error),
            self.depositors,
            self.offsets,
        )

    def used(self) -> bool:
        return self != StabilityPoolState()

    def sum_at(self, asset: str, epoch: int, scale: int) -> int:
        return self.sums.get(asset, {}).get((epoch, scale), 0)

    def encode(self) -> list[object]:
        """Canonical value for the state root."""
        return [
            self.deposits,
            sorted(self.collateral.items()),
            self.p,
            self.scale,
            self.epoch,
            [[a, sorted([e, s, v] for (e, s), v in self.sums[a].items())] for a in sorted(self.sums)],
            sorted(self.coll_error.items()),
            self.depositors,
            self.offsets,
        ]


def snapshot(pool: StabilityPoolState, initial: int) -> SpDeposit | None:
    """``_updateDepositAndSnapshots``: a deposit of ``initial`` from now on (``None`` when 0)."""
    if initial == 0:
        return None
    sums = ((a, pool.sum_at(a, pool.epoch, pool.scale)) for a in sorted(pool.sums))
    return SpDeposit(initial, pool.p, pool.scale, pool.epoch, tuple((a, s) for a, s in sums if s))


def compounded_deposit(pool: StabilityPoolState, dep: SpDeposit) -> int:
    """``_getCompoundedStakeFromSnapshots``: ``d0 x P / P_snap`` (``/ 1e9`` once more one scale later; 0
    two scales later, in a later epoch, or below ``d0 / 1e9``), rounded down."""
    if dep.epoch < pool.epoch:
        return 0
    scale_diff = pool.scale - dep.scale
    if scale_diff == 0:
        compounded = dep.initial * pool.p // dep.p
    elif scale_diff == 1:
        compounded = dep.initial * pool.p // dep.p // SCALE_FACTOR
    else:
        return 0
    # "If compounded deposit is less than a billionth of the initial deposit, return 0."
    if compounded < dep.initial // 10**9:
        return 0
    return compounded


def collateral_gain(pool: StabilityPoolState, dep: SpDeposit, asset: str) -> int:
    """``_getETHGainFromSnapshots`` for one collateral:
    ``d0 x (S[e][s] - S_snap + S[e][s+1] / 1e9) / P_snap / 1e18``, rounded down."""
    first = pool.sum_at(asset, dep.epoch, dep.scale) - dep.s_snapshot(asset)
    second = pool.sum_at(asset, dep.epoch, dep.scale + 1) // SCALE_FACTOR
    return dep.initial * (first + second) // dep.p // DECIMAL_PRECISION


def collateral_gains(pool: StabilityPoolState, dep: SpDeposit) -> list[tuple[str, int]]:
    """Every collateral's gain of a deposit, sorted by asset, zeros omitted."""
    gains = [(a, collateral_gain(pool, dep, a)) for a in sorted(pool.sums)]
    return [(a, g) for a, g in gains if g]


@dataclass(frozen=True, slots=True)
class Offset:
    """What :func:`compute_offset` decided (nothing is applied until :meth:`apply`)."""

    asset: str
    debt: int
    coll: int
    coll_gain_per_unit: int
    debt_loss_per_unit: int
    coll_error: int
    new_s: int
    new_p: int
    new_scale: int
    new_epoch: int

    def apply(self, pool: StabilityPoolState) -> None:
        """``_updateRewardSumAndProduct`` + ``_moveOffsetCollAndDebt`` on the pool's books."""
        pool.sums.setdefault(self.asset, {})[(pool.epoch, pool.scale)] = self.new_s
        pool.coll_error[self.asset] = self.coll_error
        pool.p, pool.scale, pool.epoch = self.new_p, self.new_scale, self.new_epoch
        pool.deposits -= self.debt
        pool.collateral[self.asset] = pool.collateral.get(self.asset, 0) + self.coll
        pool.offsets += 1


def compute_offset(pool: StabilityPoolState, asset: str, debt: int, coll: int) -> Offset:
    """``StabilityPool.offset(debt, coll)`` for a pool holding ``deposits >= debt > 0``.

    ``_computeRewardsPerUnitStaked`` (without the debt error feedback, see the module docstring)::

        collNumerator = coll x 1e18 + lastCollError[asset]
        lossPerUnit   = 1e18                                  if debt == T   (the pool is emptied)
                        floor(debt x 1e18 / T) + 1            otherwise      (rounded up)
        gainPerUnit   = floor(collNumerator / T);  lastCollError = collNumerator - gainPerUnit x T

    ``_updateRewardSumAndProduct``::

        S[epoch][scale] += gainPerUnit x P
        factor = 1e18 - lossPerUnit
        factor == 0                       -> epoch + 1, scale 0, P = 1e18
        P x factor / 1e18 < 1e9           -> P = P x factor x 1e9 / 1e18, scale + 1
        otherwise                         -> P = P x factor / 1e18
    """
    total = pool.deposits
    if not 0 < debt <= total:
        raise StabilityPoolInsufficient(f"stability pool holds {total}, cannot absorb a debt of {debt}")
    coll_numerator = coll * DECIMAL_PRECISION + pool.coll_error.get(asset, 0)
    loss_per_unit = DECIMAL_PRECISION if debt == total else debt * DECIMAL_PRECISION // total + 1
    gain_per_unit = coll_numerator // total
    coll_error = coll_numerator - gain_per_unit * total

    current_p = pool.p
    new_s = pool.sum_at(asset, pool.epoch, pool.scale) + gain_per_unit * current_p
    factor = DECIMAL_PRECISION - loss_per_unit
    new_scale, new_epoch = pool.scale, pool.epoch
    if factor == 0:
        new_epoch, new_scale, new_p = pool.epoch + 1, 0, DECIMAL_PRECISION
    elif current_p * factor // DECIMAL_PRECISION < SCALE_FACTOR:
        new_p = current_p * factor * SCALE_FACTOR // DECIMAL_PRECISION
        new_scale = pool.scale + 1
    else:
        new_p = current_p * factor // DECIMAL_PRECISION
    if new_p <= 0:
        raise StabilityPoolPrecisionLoss(
            f"offsetting {debt} against {total} would set P to 0 (P {current_p}, factor {factor})"
        )
    return Offset(
        asset, debt, coll, gain_per_unit, loss_per_unit, coll_error, new_s, new_p, new_scale, new_epoch
    )
