"""Vault types and positions: ``ListVaultType``, ``UpdateVaultType``, ``SetDebtLimit``, ``Lock``, ``Free``,
``Draw`` and ``Wipe`` (dss ``vat.frob`` with ``jug.drip`` first).
"""

from __future__ import annotations

from clearhouse.core.errors import (
    AlreadyExists,
    DebtCeilingExceeded,
    InsufficientBalance,
    InvalidParameters,
    InvalidValue,
    UnknownAsset,
)
from clearhouse.core.fixedpoint import RAY, ceil_div
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.kernel import Handlers
from clearhouse.ledger.model import Vault, VaultType
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.liquidation.vault import (
    auction_config,
    vault_debt,
)
from clearhouse.mechanisms.vaults.common import (
    check_dust,
    check_safe,
    disposal_name,
    drip,
    keep_cross_margin,
    oracle_price,
    store_vault,
)
from clearhouse.oracle.errors import OracleActionRefused
from clearhouse.oracle.rules import Action


def list_vault_type(ctx: TxContext, c: cmd.ListVaultType) -> None:
    spec = c.vault_type
    state = ctx.state
    if spec.id in state.vault_types:
        raise AlreadyExists(f"vault type {spec.id} is already listed")
    for asset in (spec.collateral, state.params.settlement_asset):
        if asset not in state.assets:
            raise UnknownAsset(f"vault type {spec.id}: asset {asset} is not listed")
    if spec.collateral == state.params.settlement_asset:
        raise InvalidParameters(f"vault type {spec.id}: collateral cannot be the settlement asset")
    ctx.put_vault_type(VaultType(spec, rho=state.time))
    ctx.emit(
        ev.VaultTypeListed(
            spec.id, spec.collateral, spec.mat, spec.line, str(spec.disposal.__struct_config__.tag)
        )
    )


def update_vault_type(ctx: TxContext, c: cmd.UpdateVaultType) -> None:
    spec = c.vault_type
    vt = drip(ctx, spec.id)
    if (spec.collateral, spec.price_key) != (vt.spec.collateral, vt.spec.price_key):
        raise InvalidParameters(f"vault type {spec.id}: collateral and oracle cannot change")
    if type(auction_config(spec.disposal)) is not type(auction_config(vt.spec.disposal)) and any(
        a.vault_type == spec.id for a in ctx.state.debt.auctions.values()
    ):
        raise InvalidParameters(f"vault type {spec.id}: disposal kind cannot change while auctions are open")
    vt.spec = spec
    ctx.emit(ev.VaultTypeUpdated(spec.id, spec.mat, spec.line, disposal_name(vt)))


def set_debt_limit(ctx: TxContext, c: cmd.SetDebtLimit) -> None:
    ctx.debt().hole = c.hole * RAY
    ctx.emit(ev.DebtLimitSet(c.hole))


def lock(ctx: TxContext, c: cmd.Lock) -> None:
    vt = ctx.vault_type(c.vault_type)
    asset = vt.spec.collateral
    kernel.asset(ctx, asset, c.amount)
    acct = ctx.account(c.account)
    kernel.pay_balance(acct, asset, c.amount, f"locking into {c.vault_type}")
    keep_cross_margin(ctx, acct, f"locking {c.amount} {asset}")
    old = acct.vaults.get(c.vault_type, Vault())
    vault = Vault(old.ink + c.amount, old.art)
    acct.own_vaults()[c.vault_type] = vault
    ctx.emit(ev.CollateralLocked(c.account, c.vault_type, c.amount, vault.ink))


def free(ctx: TxContext, c: cmd.Free) -> None:
    vt = drip(ctx, c.vault_type)
    asset = vt.spec.collateral
    kernel.asset(ctx, asset, c.amount)
    acct = ctx.account(c.account)
    old = acct.vaults.get(c.vault_type, Vault())
    if old.ink < c.amount:
        raise InsufficientBalance(
            f"vault {c.vault_type} of {c.account} holds {old.ink}, cannot free {c.amount}"
        )
    vault = Vault(old.ink - c.amount, old.art)
    if vault.art:
        check_safe(vault, vt.rate, oracle_price(ctx, vt, Action.WITHDRAW), vt, f"freeing {c.amount}")
    store_vault(acct, c.vault_type, vault)
    kernel.credit_balance(acct, asset, c.amount)
    ctx.emit(ev.CollateralFreed(c.account, c.vault_type, c.amount, vault.ink))


def draw(ctx: TxContext, c: cmd.Draw) -> None:
    vt = drip(ctx, c.vault_type)
    settle = kernel.settle(ctx)
    kernel.asset(ctx, settle, c.amount)
    price = oracle_price(ctx, vt, Action.OPEN)
    if not kernel.risk_allowed(ctx):
        raise OracleActionRefused(f"{c.account} cannot draw: sequencer down or in grace period")
    acct = ctx.account(c.account)
    old = acct.vaults.get(c.vault_type, Vault())
    dart = ceil_div(c.amount * RAY, vt.rate)  # debt rounds up
    vault = Vault(old.ink, old.art + dart)
    if (vt.art + dart) * vt.rate > vt.spec.line * RAY:
        raise DebtCeilingExceeded(
            f"drawing {c.amount} from {c.vault_type} exceeds its ceiling {vt.spec.line} "
            f"(debt would be {(vt.art + dart) * vt.rate} rad)"
        )
    check_dust(vault, vt.rate, vt, f"drawing {c.amount}")
    check_safe(vault, vt.rate, price, vt, f"drawing {c.amount}")
    vt.art += dart
    acct.own_vaults()[c.vault_type] = vault
    kernel.credit_balance(acct, settle, c.amount)
    ctx.mint(settle, c.amount)
    ctx.emit(ev.DebtDrawn(c.account, c.vault_type, c.amount, dart, vault.art))


def wipe(ctx: TxContext, c: cmd.Wipe) -> None:
    vt = drip(ctx, c.vault_type)
    settle = kernel.settle(ctx)
    kernel.asset(ctx, settle, c.amount)
    acct = ctx.account(c.account)
    old = acct.vaults.get(c.vault_type, Vault())
    if not old.art:
        raise InsufficientBalance(f"vault {c.vault_type} of {c.account} has no debt to repay")
    full = vault_debt(old.art, vt.rate)
    if c.amount >= full:
        dart, charge = old.art, full
    else:
        dart = c.amount * RAY // vt.rate  # credit rounds down
        if dart == 0:
            raise InvalidValue(f"repaying {c.amount} of {c.vault_type} repays no normalised debt")
        charge = ceil_div(dart * vt.rate, RAY)
    vault = Vault(old.ink, old.art - dart)
    check_dust(vault, vt.rate, vt, f"repaying {c.amount}")
    kernel.pay_balance(acct, settle, charge, f"repaying {c.vault_type}")
    keep_cross_margin(ctx, acct, f"repaying {charge} of {c.vault_type}")
    vt.art -= dart
    store_vault(acct, c.vault_type, vault)
    ctx.burn(settle, charge)
    ctx.emit(ev.DebtRepaid(c.account, c.vault_type, charge, dart, vault.art))


#: The commands this mechanism handles (merged and checked by ``clearhouse.engine.registry``).
HANDLERS: Handlers = {
    cmd.ListVaultType: list_vault_type,
    cmd.UpdateVaultType: update_vault_type,
    cmd.SetDebtLimit: set_debt_limit,
    cmd.Lock: lock,
    cmd.Free: free,
    cmd.Draw: draw,
    cmd.Wipe: wipe,
}
