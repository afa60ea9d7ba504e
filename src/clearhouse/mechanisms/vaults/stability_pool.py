"""The Liquity stability pool: ``offset`` on bark (with its fallback), ``ProvideToSP`` and
``WithdrawFromSP``; running product and sums in :mod:`clearhouse.liquidation.stability_pool`.
"""

from __future__ import annotations

from clearhouse.core.errors import (
    InsufficientBalance,
)
from clearhouse.core.fixedpoint import WAD
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.kernel import Handlers
from clearhouse.ledger.model import Account, Vault, VaultType
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.liquidation.stability_pool import (
    StabilityPoolInsufficient,
    StabilityPoolPrecisionLoss,
    StabilityPoolState,
    collateral_gains,
    compounded_deposit,
    compute_offset,
    snapshot,
)
from clearhouse.liquidation.vault import (
    StabilityPool,
    vault_debt,
)
from clearhouse.mechanisms.vaults.common import Disposal, keep_cross_margin


def bark_stability_pool(
    ctx: TxContext,
    cfg: StabilityPool,
    vt: VaultType,
    acct: Account,
    keeper: Account,
    vault: Vault,
    price: int,
    sp: int,
    amount: int,
    dispose: Disposal,
) -> None:
    """Liquity ``offset``: cancel the vault's whole debt against the pool's deposits (burned) and move its
    whole collateral (less ``keeper_share``) to the pool. A pool holding less than the debt, or an offset
    that would lose ``P``'s precision, hands the vault to ``cfg.fallback`` (through ``dispose``) or is
    refused."""
    settle = kernel.settle(ctx)
    rate = vt.rate
    debt = vault_debt(vault.art, rate)
    pool = ctx.stability_pool()
    reward = vault.ink * cfg.keeper_share // WAD
    coll = vault.ink - reward
    try:
        if pool.deposits < debt:
            raise StabilityPoolInsufficient(
                f"stability pool holds {pool.deposits} {settle}, less than the {debt} debt of "
                f"{acct.id} {vt.spec.id}"
            )
        offset = compute_offset(pool, vt.spec.collateral, debt, coll)
    except (StabilityPoolInsufficient, StabilityPoolPrecisionLoss) as err:
        if cfg.fallback is None:
            raise
        ctx.emit(ev.StabilityPoolBypassed(acct.id, vt.spec.id, debt, pool.deposits, err.code))
        dispose(ctx, cfg.fallback, vt, acct, keeper, vault, price, sp, amount)
        return
    offset.apply(pool)
    ctx.burn(settle, debt)
    acct.own_vaults().pop(vt.spec.id)
    vt.art -= vault.art
    kernel.credit_balance(keeper, vt.spec.collateral, reward)
    ctx.emit(
        ev.VaultBarked(
            acct.id, vt.spec.id, keeper.id, "stability_pool", vault.ink, vault.art, vault.art * rate, 0
        )
    )
    ctx.emit(
        ev.StabilityPoolOffset(
            acct.id,
            vt.spec.id,
            keeper.id,
            debt,
            coll,
            reward,
            pool.deposits,
            pool.p,
            pool.scale,
            pool.epoch,
            offset.new_s,
        )
    )


def _sp_claim(ctx: TxContext, acct: Account) -> tuple[StabilityPoolState, int]:
    """Pay a depositor's collateral gains; return the pool and the compounded deposit."""
    pool = ctx.stability_pool()
    dep = acct.sp
    if dep is None:
        return pool, 0
    for asset, gain in collateral_gains(pool, dep):
        held = pool.collateral.get(asset, 0)
        paid = min(gain, held)  # never binds: the sum of gains is at most what the pool holds
        pool.collateral[asset] = held - paid
        kernel.credit_balance(acct, asset, paid)
        ctx.emit(ev.StabilityPoolGainPaid(acct.id, asset, paid))
    return pool, compounded_deposit(pool, dep)


def _sp_restart(pool: StabilityPoolState, acct: Account, deposit: int) -> None:
    """``_updateDepositAndSnapshots``: the deposit restarts at ``deposit`` from the current P and S."""
    had = acct.sp is not None
    acct.sp = snapshot(pool, deposit)
    pool.depositors += (acct.sp is not None) - had


def provide_to_sp(ctx: TxContext, c: cmd.ProvideToSP) -> None:
    settle = kernel.settle(ctx)
    kernel.asset(ctx, settle, c.amount)
    acct = ctx.account(c.account)
    kernel.pay_balance(acct, settle, c.amount, "a stability pool deposit")
    keep_cross_margin(ctx, acct, f"depositing {c.amount} into the stability pool")
    pool, compounded = _sp_claim(ctx, acct)
    pool.deposits += c.amount
    _sp_restart(pool, acct, compounded + c.amount)
    ctx.emit(ev.StabilityPoolProvided(c.account, c.amount, compounded, compounded + c.amount))


def withdraw_from_sp(ctx: TxContext, c: cmd.WithdrawFromSP) -> None:
    settle = kernel.settle(ctx)
    kernel.asset(ctx, settle, c.amount)
    acct = ctx.account(c.account)
    if acct.sp is None:
        raise InsufficientBalance(f"account {c.account} has no stability pool deposit")
    pool, compounded = _sp_claim(ctx, acct)
    amount = min(c.amount, compounded, pool.deposits)  # the last bound never binds (see _sp_claim)
    pool.deposits -= amount
    kernel.credit_balance(acct, settle, amount)
    _sp_restart(pool, acct, compounded - amount)
    ctx.emit(ev.StabilityPoolWithdrawn(c.account, amount, compounded, compounded - amount))
    if pool.depositors == 0:
        _sweep_dust(ctx, pool)


def _sweep_dust(ctx: TxContext, pool: StabilityPoolState) -> None:
    """No deposit is left: what the pool still holds is rounding no one can claim -> insurance fund."""
    settle = kernel.settle(ctx)
    leftovers = [(settle, pool.deposits), *sorted(pool.collateral.items())]
    for asset, amount in leftovers:
        if amount:
            kernel.to_insurance(ctx, asset, amount)
            ctx.emit(ev.StabilityPoolDustSwept(asset, amount))
    pool.deposits = 0
    pool.collateral = {}


#: The commands this mechanism handles (merged and checked by ``clearhouse.engine.registry``).
HANDLERS: Handlers = {
    cmd.ProvideToSP: provide_to_sp,
    cmd.WithdrawFromSP: withdraw_from_sp,
}
