"""Debt positions (Maker vaults) and their disposal paths, applied by the engine.

Handlers for ``ListVaultType``, ``UpdateVaultType``, ``SetDebtLimit``, ``Lock``, ``Free``, ``Draw``,
``Wipe``, ``Bark``, ``TakeAuction``, ``RedoAuction``, ``Tend``, ``Dent``, ``Deal``, ``Tick``,
``ProvideToSP`` and ``WithdrawFromSP`` (registered in :mod:`clearhouse.ledger.engine`). The arithmetic of
the Dutch auction is that of :mod:`clearhouse.liquidation.maker` (dss units inside the auction: ``tab``
rad, ``lot`` wad, prices ray); the English auction and the fixed discount are in
:mod:`clearhouse.liquidation.vault`; the stability pool's running product and sums in
:mod:`clearhouse.liquidation.stability_pool`; the Aave path calls :mod:`clearhouse.liquidation.aave`.

Units at the edge: every token movement is WAD. A rad amount paid by a taker is rounded up to WAD
(``ceil(owe / RAY)``); debt written off as bad debt is rounded up too; fees minted to the surplus buffer
and keeper incentives are rounded down. Conservation per asset (docs/concepts.md)::

    deposited - withdrawn + drawn - repaid = balances + pools + vault ink + auction lots (+ English bids)
                                           + stability pool deposits and collateral
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, get_args

from clearhouse.core.errors import (
    AlreadyExists,
    DebtCeilingExceeded,
    InsufficientBalance,
    InvalidParameters,
    InvalidValue,
    NotLiquidatable,
    UnknownAsset,
    VaultDusty,
    VaultUnsafe,
)
from clearhouse.core.fixedpoint import BLN, RAY, UINT256_MAX, WAD, ceil_div, rpow
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.model import Account, Auction, DebtState, Vault, VaultType
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.liquidation.aave.account import AavePool, ReserveConfig
from clearhouse.liquidation.aave.liquidation import PriceOracleSentinel, liquidation_call
from clearhouse.liquidation.maker.clipper import kick_incentive, redo_incentive, sale_status, take_amounts
from clearhouse.liquidation.maker.dog import bark_amounts
from clearhouse.liquidation.maker.errors import (
    ClipperTooExpensive,
    ClipperZeroTopPrice,
    DogLiquidationLimitHit,
)
from clearhouse.liquidation.maker.lifecycle import SaleAction, SaleState, check_allowed, check_result
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
    DUTCH,
    ENGLISH,
    AaveLiquidation,
    AnyDisposal,
    DutchAuction,
    EnglishAction,
    EnglishAuction,
    EnglishState,
    FixedDiscount,
    FlipperNotFinished,
    IllegalAuctionTransition,
    StabilityPool,
    UnknownAuction,
    WrongAuctionKind,
    auction_config,
    check_dent,
    check_english,
    check_tend,
    english_state,
    fixed_discount_amounts,
)
from clearhouse.oracle.errors import OracleActionRefused
from clearhouse.oracle.rules import Action


def spot(price: int, mat: int) -> int:
    """dss spotter ``poke`` with ``par = 1``: ``rdiv(rdiv(val x BLN, par), mat)`` [ray], rounded down."""
    return price * BLN * RAY // mat


def vault_debt(vault: Vault, rate: int) -> int:
    """The vault's debt in settlement WAD, rounded up."""
    return ceil_div(vault.art * rate, RAY)


def _disposal_name(vt: VaultType) -> str:
    tag = type(vt.spec.disposal).__struct_config__.tag
    return str(tag)


# -- helpers ------------------------------------------------------------------------------------------


def drip(ctx: TxContext, type_id: str) -> VaultType:
    """jug.drip + vat.fold: compound ``rate`` to now; mint the fee income (``Art x delta_rate``, rounded
    down to WAD) into the insurance fund, which is the surplus buffer."""
    vt = ctx.vault_type(type_id)
    now = ctx.state.time
    if now > vt.rho:
        elapsed = now - vt.rho
        new_rate = rpow(vt.spec.duty, elapsed, RAY) * vt.rate // RAY
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


def _keep_cross_margin(ctx: TxContext, acct: Account, what: str) -> None:
    """A balance that backs perp positions may only shrink while the cross bucket keeps initial margin."""
    kernel.require_cross_initial(
        ctx,
        acct,
        lambda after: (
            f"{what} leaves account {acct.id} with cross equity {after.equity} below initial {after.initial}"
        ),
    )


def _price(ctx: TxContext, vt: VaultType, action: Action) -> int:
    key = vt.spec.price_key
    kernel.require(ctx, action, [key])
    return kernel.prices(ctx)(key)


def _check_safe(vault: Vault, rate: int, price: int, vt: VaultType, what: str) -> None:
    if vault.art and vault.ink * spot(price, vt.spec.mat) < vault.art * rate:
        raise VaultUnsafe(
            f"{what}: vault {vt.spec.id} with ink {vault.ink} and art {vault.art} at rate {rate} is below "
            f"mat {vt.spec.mat} at price {price}"
        )


def _check_dust(vault: Vault, rate: int, vt: VaultType, what: str) -> None:
    if vault.art and vault.art * rate < vt.spec.dust * RAY:
        raise VaultDusty(f"{what}: debt {vault.art * rate} rad of {vt.spec.id} is below dust {vt.spec.dust}")


def _store(acct: Account, type_id: str, vault: Vault) -> None:
    if vault.ink == 0 and vault.art == 0:
        acct.vaults.pop(type_id, None)
    else:
        acct.vaults[type_id] = vault


def _write_off(ctx: TxContext, account: str, debt_rad: int) -> int:
    """Record unrecovered debt (rad) as bad debt, rounded up to WAD."""
    bad = ceil_div(debt_rad, RAY)
    if bad:
        kernel.record_bad_debt(ctx, account, kernel.settle(ctx), bad)
    return bad


def _settle_proceeds(ctx: TxContext, paid: int, debt_rad: int) -> tuple[int, int, int]:
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


def _pay_incentive(ctx: TxContext, auction: int, keeper: Account, amount: int) -> None:
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


# -- governance -------------------------------------------------------------------------------------


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
    ctx.emit(ev.VaultTypeUpdated(spec.id, spec.mat, spec.line, _disposal_name(vt)))


def set_debt_limit(ctx: TxContext, c: cmd.SetDebtLimit) -> None:
    ctx.debt().hole = c.hole * RAY
    ctx.emit(ev.DebtLimitSet(c.hole))


# -- vault operations -------------------------------------------------------------------------------


def lock(ctx: TxContext, c: cmd.Lock) -> None:
    vt = ctx.vault_type(c.vault_type)
    asset = vt.spec.collateral
    kernel.asset(ctx, asset, c.amount)
    acct = ctx.account(c.account)
    kernel.pay_balance(acct, asset, c.amount, f"locking into {c.vault_type}")
    _keep_cross_margin(ctx, acct, f"locking {c.amount} {asset}")
    old = acct.vaults.get(c.vault_type, Vault())
    vault = Vault(old.ink + c.amount, old.art)
    acct.vaults[c.vault_type] = vault
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
        _check_safe(vault, vt.rate, _price(ctx, vt, Action.WITHDRAW), vt, f"freeing {c.amount}")
    _store(acct, c.vault_type, vault)
    kernel.credit_balance(acct, asset, c.amount)
    ctx.emit(ev.CollateralFreed(c.account, c.vault_type, c.amount, vault.ink))


def draw(ctx: TxContext, c: cmd.Draw) -> None:
    vt = drip(ctx, c.vault_type)
    settle = kernel.settle(ctx)
    kernel.asset(ctx, settle, c.amount)
    price = _price(ctx, vt, Action.OPEN)
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
    _check_dust(vault, vt.rate, vt, f"drawing {c.amount}")
    _check_safe(vault, vt.rate, price, vt, f"drawing {c.amount}")
    vt.art += dart
    acct.vaults[c.vault_type] = vault
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
    full = vault_debt(old, vt.rate)
    if c.amount >= full:
        dart, charge = old.art, full
    else:
        dart = c.amount * RAY // vt.rate  # credit rounds down
        if dart == 0:
            raise InvalidValue(f"repaying {c.amount} of {c.vault_type} repays no normalised debt")
        charge = ceil_div(dart * vt.rate, RAY)
    vault = Vault(old.ink, old.art - dart)
    _check_dust(vault, vt.rate, vt, f"repaying {c.amount}")
    kernel.pay_balance(acct, settle, charge, f"repaying {c.vault_type}")
    _keep_cross_margin(ctx, acct, f"repaying {charge} of {c.vault_type}")
    vt.art -= dart
    _store(acct, c.vault_type, vault)
    ctx.burn(settle, charge)
    ctx.emit(ev.DebtRepaid(c.account, c.vault_type, charge, dart, vault.art))


# -- liquidation ------------------------------------------------------------------------------------


def bark(ctx: TxContext, c: cmd.Bark) -> None:
    """Liquidate an unsafe vault (``ink x spot < art x rate``) by its type's disposal path."""
    kernel.check_liquidation_room(ctx)
    vt = drip(ctx, c.vault_type)
    acct, keeper = ctx.account(c.account), ctx.account(c.keeper)
    vault = acct.vaults.get(c.vault_type)
    if vault is None or not vault.art:
        raise NotLiquidatable(f"account {c.account} has no debt in {c.vault_type}")
    price = _price(ctx, vt, Action.LIQUIDATE)
    sp = spot(price, vt.spec.mat)
    cfg = vt.spec.disposal
    # The Aave path has its own trigger (health factor < 1 by its liquidation threshold).
    if not isinstance(cfg, AaveLiquidation) and not (sp > 0 and vault.ink * sp < vault.art * vt.rate):
        raise NotLiquidatable(
            f"Dog/not-unsafe: vault {c.vault_type} of {c.account} ink*spot {vault.ink * sp} >= "
            f"art*rate {vault.art * vt.rate}"
        )
    _dispose(ctx, cfg, vt, acct, keeper, vault, price, sp, c.amount)
    kernel.count_liquidation(ctx)


def _dispose(
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


def _bark_dutch(
    ctx: TxContext,
    cfg: DutchAuction,
    vt: VaultType,
    acct: Account,
    keeper: Account,
    vault: Vault,
    price: int,
) -> None:
    """dog.sol ``bark`` then clip.sol ``kick``."""
    debt = ctx.debt()
    spec, rate = vt.spec, vt.rate
    whole = ceil_div(vault.art * rate * spec.chop, WAD)  # room enough for the whole vault
    hole_total = debt.hole if debt.hole else debt.dirt + whole
    hole = cfg.hole * RAY if cfg.hole else vt.dirt + whole
    if not (hole_total > debt.dirt and hole > vt.dirt):
        raise DogLiquidationLimitHit(
            f"Hole={debt.hole} Dirt={debt.dirt} hole={cfg.hole * RAY} dirt={vt.dirt}"
        )
    room = min(hole_total - debt.dirt, hole - vt.dirt)
    dart, dink = bark_amounts(vault.ink, vault.art, rate, spec.dust * RAY, spec.chop, room)
    due = dart * rate
    tab = due * spec.chop // WAD
    feed = price * BLN
    top = feed * cfg.buf // RAY
    if top == 0:
        raise ClipperZeroTopPrice(f"feed_price={feed} buf={cfg.buf}")
    _store(acct, spec.id, Vault(vault.ink - dink, vault.art - dart))
    vt.art -= dart
    vt.dirt += tab
    debt.dirt += tab
    now = ctx.state.time
    auction_id = debt.kicks + 1
    check_allowed(SaleState.ABSENT, SaleAction.KICK, auction_id)
    debt.kicks = auction_id
    auction = Auction(auction_id, DUTCH, spec.id, acct.id, dink, tab, due, now, top=top)
    debt.auctions[auction_id] = auction
    ctx.emit(ev.VaultBarked(acct.id, spec.id, keeper.id, "dutch_auction", dink, dart, due, auction_id))
    ctx.emit(ev.AuctionKicked(auction_id, DUTCH, spec.id, acct.id, dink, tab, top, 0))
    _, coin = kick_incentive(cfg.tip * RAY, cfg.chip, tab)
    _pay_incentive(ctx, auction_id, keeper, coin // RAY)
    after = _dutch_state(ctx, debt, auction_id, cfg)
    check_result(SaleState.ABSENT, SaleAction.KICK, after, auction_id)
    ctx.emit(ev.AuctionTransition(auction_id, SaleAction.KICK.value, SaleState.ABSENT.value, after.value))


def _bark_english(
    ctx: TxContext,
    cfg: EnglishAuction,
    vt: VaultType,
    acct: Account,
    keeper: Account,
    vault: Vault,
) -> None:
    """cat.sol ``bite`` (the whole vault) then flip.sol ``kick``: ``tab = art x rate x chop``."""
    debt = ctx.debt()
    due = vault.art * vt.rate
    tab = ceil_div(due * vt.spec.chop, WAD * RAY)
    acct.vaults.pop(vt.spec.id)
    vt.art -= vault.art
    auction_id = debt.kicks + 1
    check_english(EnglishState.ABSENT, EnglishAction.KICK, auction_id)
    debt.kicks = auction_id
    end = ctx.state.time + cfg.tau
    debt.auctions[auction_id] = Auction(
        auction_id, ENGLISH, vt.spec.id, acct.id, vault.ink, tab, due, 0, end=end
    )
    ctx.emit(
        ev.VaultBarked(
            acct.id, vt.spec.id, keeper.id, "english_auction", vault.ink, vault.art, due, auction_id
        )
    )
    ctx.emit(ev.AuctionKicked(auction_id, ENGLISH, vt.spec.id, acct.id, vault.ink, tab, 0, end))
    ctx.emit(
        ev.AuctionTransition(
            auction_id, EnglishAction.KICK.value, EnglishState.ABSENT.value, EnglishState.OPEN.value
        )
    )


def _take_over(
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
    debt = vault_debt(vault, rate)
    repay, seize = fixed_discount_amounts(
        cfg, vault.ink, debt, price, (vault.ink * sp, vault.art * rate), amount
    )
    dart = vault.art if repay >= debt else repay * RAY // rate
    if dart == 0 or repay == 0:
        raise InvalidValue(f"a takeover of {repay} repays no debt of {vt.spec.id} for {acct.id}")
    left = Vault(vault.ink - seize, vault.art - dart)
    if left.ink:
        _check_dust(left, rate, vt, f"taking over {repay}")
    kernel.pay_balance(keeper, settle, repay, f"taking over {acct.id} {vt.spec.id}")
    _keep_cross_margin(ctx, keeper, f"taking over {acct.id} {vt.spec.id}")
    ctx.burn(settle, repay)
    kernel.credit_balance(keeper, vt.spec.collateral, seize)
    vt.art -= dart
    ctx.emit(ev.VaultBarked(acct.id, vt.spec.id, keeper.id, "fixed_discount", seize, dart, dart * rate, 0))
    ctx.emit(
        ev.VaultTakenOver(acct.id, vt.spec.id, keeper.id, repay, seize, price * (WAD - cfg.bonus) // WAD)
    )
    if left.ink == 0 and left.art:
        _write_off(ctx, acct.id, left.art * rate)  # no collateral left: the rest is bad debt
        vt.art -= left.art
        left = Vault()
    _store(acct, vt.spec.id, left)


# -- Dutch auction ------------------------------------------------------------------------------------


def _dutch_state(ctx: TxContext, debt: DebtState, auction_id: int, cfg: DutchAuction) -> SaleState:
    a = debt.auctions.get(auction_id)
    if a is None:
        return SaleState.DONE if 0 < auction_id <= debt.kicks else SaleState.ABSENT
    done, _ = sale_status(cfg.calc(), a.tic, a.top, ctx.state.time, cfg.tail, cfg.cusp)
    return SaleState.NEEDS_REDO if done else SaleState.ACTIVE


def _auction(
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


def _dutch_cfg(vt: VaultType | None, auction_id: int) -> DutchAuction:
    cfg = auction_config(vt.spec.disposal) if vt is not None else DutchAuction(tail=1, tau=1)
    if not isinstance(cfg, DutchAuction):
        raise WrongAuctionKind(f"auction {auction_id}: its vault type no longer uses a Dutch auction")
    return cfg


def take_auction(ctx: TxContext, c: cmd.TakeAuction) -> None:
    """clip.sol ``take`` through :func:`take_amounts`; the taker pays ``ceil(owe / RAY)``."""
    a, vt = _auction(ctx, c.auction, DUTCH)
    cfg = _dutch_cfg(vt, c.auction)
    debt = ctx.debt()
    before = _dutch_state(ctx, debt, c.auction, cfg)
    check_allowed(before, SaleAction.TAKE, c.auction)
    assert a is not None and vt is not None
    now = ctx.state.time
    _, price = sale_status(cfg.calc(), a.tic, a.top, now, cfg.tail, cfg.cusp)
    if c.max_price < price:
        raise ClipperTooExpensive(f"price={price} > max={c.max_price}")
    chost = vt.spec.dust * RAY * vt.spec.chop // WAD
    owe, slice_ = take_amounts(a.lot, a.tab, c.amount, price, chost)
    paid = ceil_div(owe, RAY)
    settle = kernel.settle(ctx)
    taker = ctx.account(c.taker)
    kernel.pay_balance(taker, settle, paid, f"auction {c.auction}")
    kernel.credit_balance(taker, vt.spec.collateral, slice_)
    _keep_cross_margin(ctx, taker, f"paying {paid} in auction {c.auction}")
    recovered, _, surplus = _settle_proceeds(ctx, paid, a.debt)
    tab, lot, left = a.tab - owe, a.lot - slice_, a.debt - recovered
    dug = tab + owe if lot == 0 else owe
    debt.dirt -= dug
    vt.dirt -= dug
    ctx.emit(ev.AuctionTaken(c.auction, c.taker, price, owe, paid, slice_, tab, lot))
    if lot == 0 or tab == 0:
        owner = ctx.account(a.owner)
        refund = lot if tab == 0 else 0
        kernel.credit_balance(owner, vt.spec.collateral, refund)
        bad = _write_off(ctx, a.owner, left)
        del debt.auctions[c.auction]
        ctx.emit(ev.AuctionEnded(c.auction, DUTCH, c.taker, slice_, refund, recovered, surplus, bad))
        after = SaleState.DONE
    else:
        debt.auctions[c.auction] = Auction(a.id, a.kind, a.vault_type, a.owner, lot, tab, left, a.tic, a.top)
        after = _dutch_state(ctx, debt, c.auction, cfg)
    check_result(before, SaleAction.TAKE, after, c.auction)
    ctx.emit(ev.AuctionTransition(c.auction, "take", before.value, after.value))


def redo_auction(ctx: TxContext, c: cmd.RedoAuction) -> None:
    """clip.sol ``redo``: restart from ``top = feed x buf``; incentive only for a non-dusty sale."""
    a, vt = _auction(ctx, c.auction, DUTCH)
    cfg = _dutch_cfg(vt, c.auction)
    debt = ctx.debt()
    before = _dutch_state(ctx, debt, c.auction, cfg)
    check_allowed(before, SaleAction.REDO, c.auction)
    assert a is not None and vt is not None
    keeper = ctx.account(c.keeper)
    feed = _price(ctx, vt, Action.LIQUIDATE) * BLN
    top = feed * cfg.buf // RAY
    if top == 0:
        raise ClipperZeroTopPrice(f"feed_price={feed} buf={cfg.buf}")
    chost = vt.spec.dust * RAY * vt.spec.chop // WAD
    _, coin = redo_incentive(cfg.tip * RAY, cfg.chip, chost, a.tab, a.lot, feed)
    now = ctx.state.time
    debt.auctions[c.auction] = Auction(a.id, a.kind, a.vault_type, a.owner, a.lot, a.tab, a.debt, now, top)
    ctx.emit(ev.AuctionRedone(c.auction, c.keeper, top, coin // RAY))
    _pay_incentive(ctx, c.auction, keeper, coin // RAY)
    after = _dutch_state(ctx, debt, c.auction, cfg)
    check_result(before, SaleAction.REDO, after, c.auction)
    ctx.emit(ev.AuctionTransition(c.auction, "redo", before.value, after.value))


# -- English auction ----------------------------------------------------------------------------------


def _english(
    ctx: TxContext, auction_id: int
) -> tuple[Auction | None, EnglishAuction, EnglishState]:
    a, vt = _auction(ctx, auction_id, ENGLISH)
    if a is None or vt is None:
        return None, EnglishAuction(), EnglishState.DEALT
    cfg = auction_config(vt.spec.disposal)
    if not isinstance(cfg, EnglishAuction):
        raise WrongAuctionKind(f"auction {auction_id}: its vault type no longer uses an English auction")
    state = english_state(True, a.bid, a.tab, bool(a.guy), a.tic, a.end, ctx.state.time)
    return a, cfg, state


def _english_after(ctx: TxContext, a: Auction) -> EnglishState:
    return english_state(True, a.bid, a.tab, bool(a.guy), a.tic, a.end, ctx.state.time)


def _transition(
    ctx: TxContext, a_id: int, action: EnglishAction, before: EnglishState, after: EnglishState
) -> None:
    if after not in check_english(before, action, a_id):
        raise IllegalAuctionTransition(f"auction {a_id}: {action} from {before} reached {after}")
    ctx.emit(ev.AuctionTransition(a_id, action.value, before.value, after.value))


def tend(ctx: TxContext, c: cmd.Tend) -> None:
    a, cfg, before = _english(ctx, c.auction)
    check_english(before, EnglishAction.TEND, c.auction)
    assert a is not None
    check_tend(cfg, a.lot, a.tab, a.bid, bool(a.guy), c.lot, c.bid)
    settle = kernel.settle(ctx)
    refunded = a.bid if a.guy else 0
    if a.guy:
        kernel.credit_balance(ctx.account(a.guy), settle, refunded)
    bidder = ctx.account(c.bidder)
    kernel.pay_balance(bidder, settle, c.bid, f"bidding in auction {c.auction}")
    _keep_cross_margin(ctx, bidder, f"bidding {c.bid} in auction {c.auction}")
    new = Auction(a.id, a.kind, a.vault_type, a.owner, a.lot, a.tab, a.debt, ctx.state.time + cfg.ttl,
                  end=a.end, bid=c.bid, guy=c.bidder)  # fmt: skip
    ctx.debt().auctions[c.auction] = new
    ctx.emit(ev.AuctionBid(c.auction, c.bidder, "tend", c.lot, c.bid, refunded, 0))
    _transition(ctx, c.auction, EnglishAction.TEND, before, _english_after(ctx, new))


def dent(ctx: TxContext, c: cmd.Dent) -> None:
    a, cfg, before = _english(ctx, c.auction)
    check_english(before, EnglishAction.DENT, c.auction)
    assert a is not None
    check_dent(cfg, a.lot, a.tab, a.bid, c.lot, c.bid)
    settle = kernel.settle(ctx)
    kernel.credit_balance(ctx.account(a.guy), settle, a.bid)
    bidder = ctx.account(c.bidder)
    kernel.pay_balance(bidder, settle, c.bid, f"bidding in auction {c.auction}")
    _keep_cross_margin(ctx, bidder, f"bidding {c.bid} in auction {c.auction}")
    returned = a.lot - c.lot
    vt = ctx.vault_type(a.vault_type)
    kernel.credit_balance(ctx.account(a.owner), vt.spec.collateral, returned)
    new = Auction(a.id, a.kind, a.vault_type, a.owner, c.lot, a.tab, a.debt, ctx.state.time + cfg.ttl,
                  end=a.end, bid=c.bid, guy=c.bidder)  # fmt: skip
    ctx.debt().auctions[c.auction] = new
    ctx.emit(ev.AuctionBid(c.auction, c.bidder, "dent", c.lot, c.bid, a.bid, returned))
    _transition(ctx, c.auction, EnglishAction.DENT, before, _english_after(ctx, new))


def deal(ctx: TxContext, c: cmd.Deal) -> None:
    """flip.sol ``deal``: the winner takes the lot; the bid repays debt, the rest is penalty income."""
    a, _, before = _english(ctx, c.auction)
    check_english(before, EnglishAction.DEAL, c.auction)
    assert a is not None
    now = ctx.state.time
    if not (a.tic < now or a.end < now):
        raise FlipperNotFinished(f"auction {c.auction}: tic {a.tic} and end {a.end} are not before {now}")
    vt = ctx.vault_type(a.vault_type)
    ctx.account(c.keeper)
    kernel.credit_balance(ctx.account(a.guy), vt.spec.collateral, a.lot)
    recovered, _, surplus = _settle_proceeds(ctx, a.bid, a.debt)
    bad = _write_off(ctx, a.owner, a.debt - recovered)
    del ctx.debt().auctions[c.auction]
    ctx.emit(ev.AuctionEnded(c.auction, ENGLISH, a.guy, a.lot, 0, recovered, surplus, bad))
    _transition(ctx, c.auction, EnglishAction.DEAL, before, EnglishState.DEALT)


def tick(ctx: TxContext, c: cmd.Tick) -> None:
    a, cfg, before = _english(ctx, c.auction)
    check_english(before, EnglishAction.TICK, c.auction)
    assert a is not None
    now = ctx.state.time
    if not a.end < now:
        raise FlipperNotFinished(f"auction {c.auction}: end {a.end} is not before {now}")
    ctx.account(c.keeper)
    new = Auction(a.id, a.kind, a.vault_type, a.owner, a.lot, a.tab, a.debt, 0, end=now + cfg.tau)
    ctx.debt().auctions[c.auction] = new
    ctx.emit(ev.AuctionRestarted(c.auction, new.end))
    _transition(ctx, c.auction, EnglishAction.TICK, before, _english_after(ctx, new))


# -- stability pool (Liquity) -------------------------------------------------------------------------


def _bark_stability_pool(
    ctx: TxContext,
    cfg: StabilityPool,
    vt: VaultType,
    acct: Account,
    keeper: Account,
    vault: Vault,
    price: int,
    sp: int,
    amount: int,
) -> None:
    """Liquity ``offset``: cancel the vault's whole debt against the pool's deposits (burned) and move its
    whole collateral (less ``keeper_share``) to the pool. A pool holding less than the debt, or an offset
    that would lose ``P``'s precision, hands the vault to ``cfg.fallback`` or is refused."""
    settle = kernel.settle(ctx)
    rate = vt.rate
    debt = vault_debt(vault, rate)
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
        _dispose(ctx, cfg.fallback, vt, acct, keeper, vault, price, sp, amount)
        return
    offset.apply(pool)
    ctx.burn(settle, debt)
    acct.vaults.pop(vt.spec.id)
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
    _keep_cross_margin(ctx, acct, f"depositing {c.amount} into the stability pool")
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


# -- Aave v3 ------------------------------------------------------------------------------------------


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
    pool.set_position(owner, settle, scaled_variable_debt=vault_debt(vault, vt.rate), borrowing=True)
    return pool


def _bark_aave(
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
    debt = vault_debt(vault, rate)
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
    _keep_cross_margin(ctx, keeper, f"liquidating {acct.id} {vt.spec.id}")
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
        _write_off(ctx, acct.id, left.art * rate)  # no collateral left: the rest is bad debt
        vt.art -= left.art
        left = Vault()
    _store(acct, vt.spec.id, left)


# -- the disposal table -------------------------------------------------------------------------------

#: ``(ctx, cfg, vault type, owner, keeper, vault, price, sp amount, amount)``: one disposal path.
Disposal = Callable[[TxContext, Any, VaultType, Account, Account, Vault, int, int, int], None]

#: Disposal config class -> its path. Checked at import to cover exactly ``AnyDisposal``.
DISPOSALS: Mapping[type, Disposal] = MappingProxyType(
    {
        DutchAuction: lambda ctx, cfg, vt, acct, keeper, vault, price, sp, amount: _bark_dutch(
            ctx, cfg, vt, acct, keeper, vault, price
        ),
        EnglishAuction: lambda ctx, cfg, vt, acct, keeper, vault, price, sp, amount: _bark_english(
            ctx, cfg, vt, acct, keeper, vault
        ),
        FixedDiscount: _take_over,
        StabilityPool: _bark_stability_pool,
        AaveLiquidation: lambda ctx, cfg, vt, acct, keeper, vault, price, sp, amount: _bark_aave(
            ctx, cfg, vt, acct, keeper, vault, price, amount
        ),
    }
)
if set(DISPOSALS) != set(get_args(AnyDisposal)):
    raise ImportError(f"DISPOSALS {sorted(t.__name__ for t in DISPOSALS)} do not cover AnyDisposal")
