"""Helpers every vault mechanism shares: fee accrual (``drip``), the safety and dust checks, the cross-margin
gate on balances, the oracle price of a vault type, bad-debt write-off and auction proceeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clearhouse.core.errors import (
    VaultDusty,
    VaultUnsafe,
)
from clearhouse.core.fixedpoint import RAY, WAD, ceil_div
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.instrument import Requirement, Sensitivities
from clearhouse.ledger.model import Account, Auction, Vault, VaultType
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.liquidation.vault import (
    UnknownAuction,
    WrongAuctionKind,
    projected_rate,
    spot,
    vault_debt,
)
from clearhouse.oracle.rules import Action

#: ``(ctx, cfg, vault type, owner, keeper, vault, price, spot, amount)``: one disposal path of a barked
#: vault (see ``bark.DISPOSALS``).
Disposal = Callable[[TxContext, Any, VaultType, Account, Account, Vault, int, int, int], None]


def disposal_name(vt: VaultType) -> str:
    tag = type(vt.spec.disposal).__struct_config__.tag
    return str(tag)


def drip(ctx: TxContext, type_id: str) -> VaultType:
    """jug.drip + vat.fold: compound ``rate`` to now; mint the fee income (``Art x delta_rate``, rounded
    down to WAD) into the insurance fund, which is the surplus buffer."""
    vt = ctx.vault_type(type_id)
    now = ctx.state.time
    if now > vt.rho:
        elapsed = now - vt.rho
        new_rate = projected_rate(vt.spec.duty, vt.rho, vt.rate, now)
        delta = new_rate - vt.rate
        vt.rho = now
        if delta:
            vt.rate = new_rate
            minted = vt.art * delta // RAY
            if minted:
                settle = kernel.settle(ctx)
                kernel.to_insurance(ctx, settle, minted)
                ctx.mint(settle, minted)
            ctx.emit(ev.StabilityFeeAccrued(type_id, new_rate, delta, elapsed, minted))
    return vt


def keep_cross_margin(ctx: TxContext, acct: Account, what: str) -> None:
    """A balance that backs perp positions may only shrink while the cross bucket keeps initial margin."""
    kernel.require_cross_initial(
        ctx,
        acct,
        lambda after: (
            f"{what} leaves account {acct.id} with cross equity {after.equity} below initial {after.initial}"
        ),
    )


def oracle_price(ctx: TxContext, vt: VaultType, action: Action) -> int:
    key = vt.spec.price_key
    kernel.require(ctx, action, [key])
    return kernel.prices(ctx)(key)


def check_safe(vault: Vault, rate: int, price: int, vt: VaultType, what: str) -> None:
    if vault.art and vault.ink * spot(price, vt.spec.mat) < vault.art * rate:
        raise VaultUnsafe(
            f"{what}: vault {vt.spec.id} with ink {vault.ink} and art {vault.art} at rate {rate} is below "
            f"mat {vt.spec.mat} at price {price}"
        )


def check_dust(vault: Vault, rate: int, vt: VaultType, what: str) -> None:
    if vault.art and vault.art * rate < vt.spec.dust * RAY:
        raise VaultDusty(f"{what}: debt {vault.art * rate} rad of {vt.spec.id} is below dust {vt.spec.dust}")


def store_vault(acct: Account, type_id: str, vault: Vault) -> None:
    if vault.ink == 0 and vault.art == 0:
        acct.own_vaults().pop(type_id, None)
    else:
        acct.own_vaults()[type_id] = vault


def write_off(ctx: TxContext, account: str, debt_rad: int) -> int:
    """Record unrecovered debt (rad) as bad debt, rounded up to WAD."""
    bad = ceil_div(debt_rad, RAY)
    if bad:
        kernel.record_bad_debt(ctx, account, kernel.settle(ctx), bad)
    return bad


def settle_proceeds(ctx: TxContext, paid: int, debt_rad: int) -> tuple[int, int, int]:
    """Split ``paid`` (WAD) raised against ``debt_rad``: burn what repays debt, the rest (penalty) to the
    insurance fund. Returns ``(recovered_rad, burned, surplus)``."""
    recovered = min(paid * RAY, debt_rad)
    burned = min(paid, ceil_div(recovered, RAY))
    surplus = paid - burned
    settle = kernel.settle(ctx)
    ctx.burn(settle, burned)
    if surplus:
        kernel.to_insurance(ctx, settle, surplus)
    return recovered, burned, surplus


def pay_incentive(ctx: TxContext, auction: int, keeper: Account, amount: int) -> None:
    """clip.sol's ``suck``: the insurance fund pays; what it lacks is minted and recorded as bad debt."""
    if not amount:
        return
    settle = kernel.settle(ctx)
    pools = ctx.pools()
    from_fund = min(pools.insurance.get(settle, 0), amount)
    kernel.to_insurance(ctx, settle, -from_fund)
    minted = amount - from_fund
    if minted:
        ctx.mint(settle, minted)
        kernel.record_bad_debt(ctx, keeper.id, settle, minted)
    kernel.credit_balance(keeper, settle, amount)
    ctx.emit(ev.KeeperIncentivePaid(auction, keeper.id, amount, from_fund, minted))


def find_auction(
    ctx: TxContext, auction_id: int, kind: str
) -> tuple[Auction | None, VaultType | None]:
    debt = ctx.debt()
    a = debt.auctions.get(auction_id)
    if a is None:
        if not 0 < auction_id <= debt.kicks:
            raise UnknownAuction(f"no auction {auction_id}")
        return None, None
    if a.kind != kind:
        raise WrongAuctionKind(f"auction {auction_id} is a {a.kind} auction, not {kind}")
    return a, ctx.vault_type(a.vault_type)


@dataclass(frozen=True, slots=True)
class DebtInstrument:
    """A debt position (vault) of type ``vault_type``: collateral ``ink`` against normalised debt ``art``.

    Its value is the collateral at the price less the debt; it owes its debt at ``rate`` (rounded up);
    its requirement is collateral worth ``mat x debt`` at both levels (dss has no separate initial
    ratio: ``Draw`` and ``Free`` must leave the vault safe, ``Bark`` needs it unsafe)."""

    vault_type: VaultType

    def value(self, position: Vault, price: int) -> int:
        return position.ink * price // WAD - self.settlement_owed(position)

    def settlement_owed(self, position: Vault) -> int:
        return vault_debt(position.art, self.vault_type.rate)

    def requirement(self, position: Vault, price: int) -> Requirement:
        required = ceil_div(position.art * self.vault_type.rate * self.vault_type.spec.mat, RAY * RAY)
        return Requirement(required, required)

    def sensitivities(self, position: Vault, price: int) -> Sensitivities:
        return Sensitivities(delta=position.ink)
