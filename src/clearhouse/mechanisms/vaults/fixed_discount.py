"""The fixed-discount takeover: the keeper repays (part of) the debt and takes collateral at a bonus.
"""

from __future__ import annotations

from clearhouse.core.errors import (
    InvalidValue,
)
from clearhouse.core.fixedpoint import RAY, WAD
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.model import Account, Vault, VaultType
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.liquidation.vault import (
    FixedDiscount,
    fixed_discount_amounts,
    vault_debt,
)
from clearhouse.mechanisms.vaults.common import check_dust, keep_cross_margin, store_vault, write_off


def take_over(
    ctx: TxContext,
    cfg: FixedDiscount,
    vt: VaultType,
    acct: Account,
    keeper: Account,
    vault: Vault,
    price: int,
    sp: int,
    amount: int,
) -> None:
    """Fixed discount: the keeper repays debt and receives collateral at ``price x (1 - bonus)``."""
    settle = kernel.settle(ctx)
    rate = vt.rate
    debt = vault_debt(vault.art, rate)
    repay, seize = fixed_discount_amounts(
        cfg, vault.ink, debt, price, (vault.ink * sp, vault.art * rate), amount
    )
    dart = vault.art if repay >= debt else repay * RAY // rate
    if dart == 0 or repay == 0:
        raise InvalidValue(f"a takeover of {repay} repays no debt of {vt.spec.id} for {acct.id}")
    left = Vault(vault.ink - seize, vault.art - dart)
    if left.ink:
        check_dust(left, rate, vt, f"taking over {repay}")
    kernel.pay_balance(keeper, settle, repay, f"taking over {acct.id} {vt.spec.id}")
    keep_cross_margin(ctx, keeper, f"taking over {acct.id} {vt.spec.id}")
    ctx.burn(settle, repay)
    kernel.credit_balance(keeper, vt.spec.collateral, seize)
    vt.art -= dart
    ctx.emit(ev.VaultBarked(acct.id, vt.spec.id, keeper.id, "fixed_discount", seize, dart, dart * rate, 0))
    ctx.emit(
        ev.VaultTakenOver(acct.id, vt.spec.id, keeper.id, repay, seize, price * (WAD - cfg.bonus) // WAD)
    )
    if left.ink == 0 and left.art:
        write_off(ctx, acct.id, left.art * rate)  # no collateral left: the rest is bad debt
        vt.art -= left.art
        left = Vault()
    store_vault(acct, vt.spec.id, left)
