"""The Aave v3 path: ``liquidationCall`` on a one-collateral, one-debt pool built from the vault
(:mod:`clearhouse.liquidation.aave`).
"""

from __future__ import annotations

from clearhouse.core.errors import (
    InvalidValue,
)
from clearhouse.core.fixedpoint import RAY, UINT256_MAX, WAD
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.model import Account, Vault, VaultType
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.liquidation.aave.account import AavePool, ReserveConfig
from clearhouse.liquidation.aave.liquidation import PriceOracleSentinel, liquidation_call
from clearhouse.liquidation.vault import (
    AaveLiquidation,
    vault_debt,
)
from clearhouse.mechanisms.vaults.common import keep_cross_margin, store_vault, write_off


def aave_prices(cfg: AaveLiquidation, price: int) -> tuple[int, int]:
    """``(collateral, settlement)`` prices in Aave's base currency (``10**base_decimals`` = 1 unit of
    settlement): the ledger's WAD price rounded down, and exactly one unit for the settlement asset."""
    base = 10**cfg.base_decimals
    return price * base // WAD, base


def aave_pool(
    cfg: AaveLiquidation, vt: VaultType, settle: str, owner: str, vault: Vault, price: int
) -> AavePool:
    """The vault as a one-user Aave pool: ``ink`` supplied (18 decimals, collateral enabled), its debt
    (``ceil(art x rate)``, WAD) borrowed variable; indices 1 RAY since the vault's ``rate`` already holds
    the interest."""
    coll_price, debt_price = aave_prices(cfg, price)
    if coll_price == 0:
        raise InvalidValue(f"{vt.spec.id}: price {price} is 0 in Aave base units (1e-{cfg.base_decimals})")
    ltv = 10**4 * RAY // vt.spec.mat
    pool = AavePool()
    pool.add_reserve(cfg.reserve(vt.spec.collateral, coll_price, ltv))
    pool.add_reserve(ReserveConfig(settle, 18, debt_price, 0, 0, 0))
    pool.set_position(owner, vt.spec.collateral, scaled_atoken=vault.ink, using_as_collateral=True)
    pool.set_position(owner, settle, scaled_variable_debt=vault_debt(vault.art, vt.rate), borrowing=True)
    return pool


def bark_aave(
    ctx: TxContext,
    cfg: AaveLiquidation,
    vt: VaultType,
    acct: Account,
    keeper: Account,
    vault: Vault,
    price: int,
    amount: int,
) -> None:
    """``Pool.liquidationCall(collateral, settlement, owner, amount or max, receiveAToken=false)`` on the
    vault seen as an Aave position: exact health factor, close factor, validation (sentinel included, from
    the ledger's sequencer grace), ``_calculateAvailableCollateralToLiquidate`` with the protocol fee.
    The keeper pays the repaid debt (burned), receives the collateral; the fee goes to the insurance fund.
    A vault left with debt and no collateral is written off as bad debt."""
    state = ctx.state
    settle = state.params.settlement_asset
    rate = vt.rate
    debt = vault_debt(vault.art, rate)
    pool = aave_pool(cfg, vt, settle, acct.id, vault, price)
    params = state.params
    sentinel = (
        PriceOracleSentinel(state.sequencer_up, state.sequencer_up_since, params.sequencer_grace)
        if params.sequencer_grace
        else None
    )
    result = liquidation_call(
        pool,
        vt.spec.collateral,
        settle,
        acct.id,
        amount if amount else UINT256_MAX,
        False,
        keeper.id,
        now=state.time,
        sentinel=sentinel,
    )
    repay, seize, fee = result.debt_repaid, result.collateral_to_liquidator, result.protocol_fee
    dart = vault.art if repay >= debt else repay * RAY // rate
    if dart == 0:
        raise InvalidValue(f"an Aave liquidation of {repay} repays no normalised debt of {vt.spec.id}")
    left = Vault(vault.ink - seize - fee, vault.art - dart)
    kernel.pay_balance(keeper, settle, repay, f"liquidating {acct.id} {vt.spec.id}")
    keep_cross_margin(ctx, keeper, f"liquidating {acct.id} {vt.spec.id}")
    ctx.burn(settle, repay)
    kernel.credit_balance(keeper, vt.spec.collateral, seize)
    if fee:
        kernel.to_insurance(ctx, vt.spec.collateral, fee)
    vt.art -= dart
    ctx.emit(ev.VaultBarked(acct.id, vt.spec.id, keeper.id, "aave", seize + fee, dart, dart * rate, 0))
    ctx.emit(
        ev.VaultLiquidatedAave(
            acct.id,
            vt.spec.id,
            keeper.id,
            result.health_factor_before,
            result.close_factor,
            repay,
            seize,
            fee,
            result.quote.insufficient_collateral,
        )
    )
    if left.ink == 0 and left.art:
        write_off(ctx, acct.id, left.art * rate)  # no collateral left: the rest is bad debt
        vt.art -= left.art
        left = Vault()
    store_vault(acct, vt.spec.id, left)
