"""Accounts and reference data: ``SetLedgerParams``, ``ListAsset``, ``ConfigureOracle``, ``ConfirmOracle``,
``OpenAccount``, ``Deposit``, ``DepositInsurance`` and ``Withdraw``.
"""

from __future__ import annotations

from clearhouse.core.errors import (
    AlreadyExists,
    InsufficientBalance,
    UnknownAsset,
    WithdrawalsGated,
)
from clearhouse.core.fixedpoint import check_range
from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.kernel import Handlers
from clearhouse.ledger.model import Account
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.oracle.feed import OracleFeed


def set_params(ctx: TxContext, c: cmd.SetLedgerParams) -> None:
    ctx.set_params(c.params)
    ctx.emit(ev.LedgerParamsSet(c.params.settlement_asset, c.params.max_price_age))


def list_asset(ctx: TxContext, c: cmd.ListAsset) -> None:
    if c.asset.id in ctx.state.assets:
        raise AlreadyExists(f"asset {c.asset.id} is already listed")
    ctx.put_asset(c.asset)
    ctx.emit(ev.AssetListed(c.asset.id, c.asset.decimals, c.asset.haircut))


def configure_oracle(ctx: TxContext, c: cmd.ConfigureOracle) -> None:
    feed = OracleFeed(c.feed)
    ctx.put_oracle(c.feed.asset, feed)
    ctx.emit(
        ev.OracleConfigured(c.feed.asset, c.feed.aggregator.name, tuple(p.name for p in c.feed.policies))
    )


def confirm_oracle(ctx: TxContext, c: cmd.ConfirmOracle) -> None:
    feed = ctx.state.oracles.get(c.asset)
    if feed is None:
        raise UnknownAsset(f"no oracle feed for {c.asset!r}")
    feed = feed.copy()
    old = feed.state
    feed.confirm(ctx.state.time)
    ctx.put_oracle(c.asset, feed)
    ctx.emit(ev.OracleStateChanged(c.asset, old.value, feed.state.value, "confirmed"))


def open_account(ctx: TxContext, c: cmd.OpenAccount) -> None:
    if c.account in ctx.state.accounts:
        raise AlreadyExists(f"account {c.account} already exists")
    owner = c.owner.lower()  # one string for the account and its event (not two copies)
    ctx.new_account(Account(c.account, owner, len(ctx.state.accounts)))
    ctx.emit(ev.AccountOpened(c.account, owner))


def deposit(ctx: TxContext, c: cmd.Deposit) -> None:
    kernel.asset(ctx, c.asset, c.amount)
    acct = ctx.account(c.account)
    acct.balances[c.asset] = check_range(
        acct.balances.get(c.asset, 0) + c.amount, f"balance of {c.asset} in {c.account}"
    )
    ctx.deposited[c.asset] = c.amount
    ctx.emit(ev.Deposited(c.account, c.asset, c.amount))


def deposit_insurance(ctx: TxContext, c: cmd.DepositInsurance) -> None:
    kernel.asset(ctx, c.asset, c.amount)
    pools = ctx.pools()
    pools.insurance[c.asset] = check_range(
        pools.insurance.get(c.asset, 0) + c.amount, f"insurance fund balance of {c.asset}"
    )
    ctx.deposited[c.asset] = c.amount
    ctx.emit(ev.InsuranceDeposited(c.asset, c.amount))


def withdraw(ctx: TxContext, c: cmd.Withdraw) -> None:
    kernel.asset(ctx, c.asset, c.amount)
    gate = ctx.state.pools.withdrawals_gated_until
    if ctx.state.height <= gate:
        raise WithdrawalsGated(f"withdrawals are paused until block {gate} after a socialised loss")
    acct = ctx.account(c.account)
    kernel.settle_all_funding(ctx, acct)
    balance = acct.balances.get(c.asset, 0)
    if balance < c.amount:
        raise InsufficientBalance(
            f"account {c.account} holds {balance} {c.asset}, cannot withdraw {c.amount}"
        )
    acct.balances[c.asset] = balance - c.amount
    kernel.require_cross_initial(
        ctx,
        acct,
        lambda after: (
            f"withdrawing {c.amount} {c.asset} would leave account {c.account} with equity "
            f"{after.equity} below its initial requirement {after.initial}"
        ),
    )
    ctx.withdrawn[c.asset] = c.amount
    ctx.emit(ev.Withdrawn(c.account, c.asset, c.amount))


#: The commands this mechanism handles (merged and checked by ``clearhouse.engine.registry``).
HANDLERS: Handlers = {
    cmd.SetLedgerParams: set_params,
    cmd.ListAsset: list_asset,
    cmd.ConfigureOracle: configure_oracle,
    cmd.ConfirmOracle: confirm_oracle,
    cmd.OpenAccount: open_account,
    cmd.Deposit: deposit,
    cmd.DepositInsurance: deposit_insurance,
    cmd.Withdraw: withdraw,
}
