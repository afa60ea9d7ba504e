"""``Bark``: the one entry to a vault liquidation, and the table of disposal paths it dispatches to
(:data:`DISPOSALS`, checked at import against ``AnyDisposal``: an unknown kind raises).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import get_args

from clearhouse.core.errors import (
    InvalidParameters,
    NotLiquidatable,
)
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import kernel
from clearhouse.ledger.kernel import Handlers
from clearhouse.ledger.model import Account, Vault, VaultType
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.liquidation.vault import (
    AaveLiquidation,
    AnyDisposal,
    DutchAuction,
    EnglishAuction,
    FixedDiscount,
    StabilityPool,
    spot,
)
from clearhouse.mechanisms.vaults.aave import bark_aave
from clearhouse.mechanisms.vaults.common import Disposal, drip, oracle_price
from clearhouse.mechanisms.vaults.dutch import bark_dutch
from clearhouse.mechanisms.vaults.english import bark_english
from clearhouse.mechanisms.vaults.fixed_discount import take_over
from clearhouse.mechanisms.vaults.stability_pool import bark_stability_pool
from clearhouse.oracle.rules import Action


def bark(ctx: TxContext, c: cmd.Bark) -> None:
    """Liquidate an unsafe vault (``ink x spot < art x rate``) by its type's disposal path."""
    kernel.check_liquidation_room(ctx)
    vt = drip(ctx, c.vault_type)
    acct, keeper = ctx.account(c.account), ctx.account(c.keeper)
    vault = acct.vaults.get(c.vault_type)
    if vault is None or not vault.art:
        raise NotLiquidatable(f"account {c.account} has no debt in {c.vault_type}")
    price = oracle_price(ctx, vt, Action.LIQUIDATE)
    sp = spot(price, vt.spec.mat)
    cfg = vt.spec.disposal
    # The Aave path has its own trigger (health factor < 1 by its liquidation threshold).
    if not isinstance(cfg, AaveLiquidation) and not (sp > 0 and vault.ink * sp < vault.art * vt.rate):
        raise NotLiquidatable(
            f"Dog/not-unsafe: vault {c.vault_type} of {c.account} ink*spot {vault.ink * sp} >= "
            f"art*rate {vault.art * vt.rate}"
        )
    dispose(ctx, cfg, vt, acct, keeper, vault, price, sp, c.amount)
    kernel.count_liquidation(ctx)


def dispose(
    ctx: TxContext,
    cfg: AnyDisposal,
    vt: VaultType,
    acct: Account,
    keeper: Account,
    vault: Vault,
    price: int,
    sp: int,
    amount: int,
) -> None:
    """Hand the barked vault to its type's disposal path (:data:`DISPOSALS`); an unknown kind raises."""
    disposal = DISPOSALS.get(type(cfg))
    if disposal is None:
        raise InvalidParameters(f"vault type {vt.spec.id}: no disposal path for {type(cfg).__name__}")
    disposal(ctx, cfg, vt, acct, keeper, vault, price, sp, amount)


# -- the disposal table -------------------------------------------------------------------------------

#: Disposal config class -> its path. Checked at import to cover exactly ``AnyDisposal``.
DISPOSALS: Mapping[type, Disposal] = MappingProxyType(
    {
        DutchAuction: lambda ctx, cfg, vt, acct, keeper, vault, price, sp, amount: bark_dutch(
            ctx, cfg, vt, acct, keeper, vault, price
        ),
        EnglishAuction: lambda ctx, cfg, vt, acct, keeper, vault, price, sp, amount: bark_english(
            ctx, cfg, vt, acct, keeper, vault
        ),
        FixedDiscount: take_over,
        # Liquity's offset hands a pool too short to its own fallback path through this same table.
        StabilityPool: lambda ctx, cfg, vt, acct, keeper, vault, price, sp, amount: bark_stability_pool(
            ctx, cfg, vt, acct, keeper, vault, price, sp, amount, dispose
        ),
        AaveLiquidation: lambda ctx, cfg, vt, acct, keeper, vault, price, sp, amount: bark_aave(
            ctx, cfg, vt, acct, keeper, vault, price, amount
        ),
    }
)
if set(DISPOSALS) != set(get_args(AnyDisposal)):
    raise ImportError(f"DISPOSALS {sorted(t.__name__ for t in DISPOSALS)} do not cover AnyDisposal")


#: The commands this mechanism handles (merged and checked by ``clearhouse.engine.registry``).
HANDLERS: Handlers = {
    cmd.Bark: bark,
}
