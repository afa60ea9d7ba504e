"""Atomicity: a transaction works on clones and commits them only if it raised nothing.

:class:`TxContext` hands out clones of the accounts, markets and pools a transaction touches. On
success :meth:`TxContext.commit` swaps them into the state in one step; on an error the clones are
dropped and the state is exactly as before. :class:`BlockUndo` remembers, for the whole block, what
each committed object replaced, so a block whose journal write fails can be rolled back too.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from clearhouse.core.errors import UnknownAccount, UnknownMarket, UnknownVaultType
from clearhouse.ledger.contracts import ContractBook
from clearhouse.ledger.events import Event
from clearhouse.ledger.model import (
    Account,
    AssetSpec,
    DebtState,
    LedgerParams,
    LedgerState,
    MarketState,
    Pools,
    VaultType,
)
from clearhouse.liquidation.stability_pool import StabilityPoolState
from clearhouse.oracle.feed import OracleFeed
from clearhouse.steward.state import StewardState

_MISSING = object()


@dataclass(slots=True)
class BlockUndo:
    """Originals of everything a block replaced, to restore the state if the block must be dropped."""

    accounts: dict[str, object] = field(default_factory=dict)
    markets: dict[str, object] = field(default_factory=dict)
    assets: dict[str, object] = field(default_factory=dict)
    vault_types: dict[str, object] = field(default_factory=dict)
    debt: DebtState | None = None
    drawn: dict[str, int] | None = None
    repaid: dict[str, int] | None = None
    pools: Pools | None = None
    deposited: dict[str, int] | None = None
    withdrawn: dict[str, int] | None = None
    prices: dict[str, tuple[int, int]] | None = None
    oracles: dict[str, OracleFeed] | None = None
    header: tuple[object, int, int, bool, int] | None = None
    stability_pool: StabilityPoolState | None = None
    #: Liquidations enforced so far in this block, against ``max_liquidations_per_block`` (the block's
    #: tally; every handler counts as its last fallible statement, so a refused transaction never counts).
    liquidations: int = 0
    #: Insurance paid per liquidated account so far in this block (``insurance_cap_per_account``).
    #: Block scratch like the tally above, not state: it starts empty with every block.
    insurance_by_account: dict[str, int] = field(default_factory=dict)
    #: ``(state.auth,)`` at the block's start, once a block changes it (mechanisms.signing).
    auth: tuple[Any] | None = None
    steward: StewardState | None = None
    #: The contract book (listings, tables, prints) at the block's start, once a block changes it.
    contracts: ContractBook | None = None

    def restore(self, state: LedgerState) -> tuple[list[Account], int]:
        """Put every original back.

        Returns the restored accounts (whose leaves must be rehashed) and the number of accounts
        that exist afterwards (the state tree is cut back to it).
        """
        restored = [a for a in self.accounts.values() if isinstance(a, Account)]
        tables: tuple[tuple[dict[str, Any], dict[str, object]], ...] = (
            (state.accounts, self.accounts),
            (state.markets, self.markets),
            (state.assets, self.assets),
            (state.vault_types, self.vault_types),
        )
        for table, originals in tables:
            for key, original in originals.items():
                if original is _MISSING:
                    del table[key]
                else:
                    table[key] = original
        if self.pools is not None:
            state.pools = self.pools
        if self.debt is not None:
            state.debt = self.debt
        if self.stability_pool is not None:
            state.stability_pool = self.stability_pool
        if self.steward is not None:
            state.steward = self.steward
        if self.drawn is not None:
            state.drawn = self.drawn
        if self.repaid is not None:
            state.repaid = self.repaid
        if self.deposited is not None:
            state.deposited = self.deposited
        if self.withdrawn is not None:
            state.withdrawn = self.withdrawn
        if self.prices is not None:
            state.prices = self.prices
        if self.oracles is not None:
            state.oracles = self.oracles
        if self.auth is not None:
            state.auth = self.auth[0]
        if self.contracts is not None:
            state.contracts = self.contracts
        if self.header is not None:
            params, state.height, state.time, state.sequencer_up, state.sequencer_up_since = self.header
            state.params = params  # type: ignore[assignment]
        return restored, len(state.accounts)


class TxContext:
    """The scratch view one transaction works on."""

    __slots__ = (
        "_accounts",
        "_assets",
        "_contracts",
        "_debt",
        "_markets",
        "_oracles",
        "_params",
        "_pools",
        "_sp",
        "_steward",
        "_vault_types",
        "deposited",
        "drawn",
        "events",
        "insurance_by_account",
        "repaid",
        "state",
        "undo",
        "withdrawn",
    )

    def __init__(self, state: LedgerState, undo: BlockUndo) -> None:
        self.state = state
        self.undo = undo
        self._accounts: dict[str, Account] = {}
        self._markets: dict[str, MarketState] = {}
        self._pools: Pools | None = None
        self._assets: dict[str, AssetSpec] = {}
        self._params: LedgerParams | None = None
        self._oracles: dict[str, OracleFeed] | None = None
        self.events: list[Event] = []
        #: Changes to the conservation totals, applied on commit.
        self.deposited: dict[str, int] = {}
        self.withdrawn: dict[str, int] = {}
        self.drawn: dict[str, int] = {}
        self.repaid: dict[str, int] = {}
        self._vault_types: dict[str, VaultType] = {}
        self._debt: DebtState | None = None
        self._sp: StabilityPoolState | None = None
        self._contracts: ContractBook | None = None
        #: Insurance this transaction paid per account, added to the block's tally on commit.
        self.insurance_by_account: dict[str, int] = {}
        self._steward: StewardState | None = None

    def account(self, account_id: str) -> Account:
        acct = self._accounts.get(account_id)
        if acct is None:
            committed = self.state.accounts.get(account_id)
            if committed is None:
                raise UnknownAccount(f"unknown account {account_id!r}")
            acct = self._accounts[account_id] = committed.clone()
        return acct

    def account_except(self, account_id: str, markets: Container[str]) -> Account | None:
        """:meth:`account` for a close-out that drops the positions in ``markets``: the clone leaves
        them out (``Account.clone_except``); the caller reads them from the committed account. None
        when the account is unknown or this transaction already holds its clone (use :meth:`account`)."""
        if account_id in self._accounts:
            return None
        committed = self.state.accounts.get(account_id)
        if committed is None:
            return None
        acct = self._accounts[account_id] = committed.clone_except(markets)
        return acct

    def new_account(self, account: Account) -> None:
        self._accounts[account.id] = account

    def market(self, market_id: str) -> MarketState:
        market = self._markets.get(market_id)
        if market is None:
            committed = self.state.markets.get(market_id)
            if committed is None:
                raise UnknownMarket(f"unknown market {market_id!r}")
            market = self._markets[market_id] = committed.clone()
        return market

    def vault_type(self, type_id: str) -> VaultType:
        vt = self._vault_types.get(type_id)
        if vt is None:
            committed = self.state.vault_types.get(type_id)
            if committed is None:
                raise UnknownVaultType(f"unknown vault type {type_id!r}")
            vt = self._vault_types[type_id] = committed.clone()
        return vt

    def put_vault_type(self, vt: VaultType) -> None:
        self._vault_types[vt.spec.id] = vt

    def debt(self) -> DebtState:
        if self._debt is None:
            self._debt = self.state.debt.clone()
        return self._debt

    def contracts(self) -> ContractBook:
        """The transaction's copy of the contract book (mechanisms.options)."""
        if self._contracts is None:
            self._contracts = self.state.contracts.clone()
        return self._contracts

    def stability_pool(self) -> StabilityPoolState:
        if self._sp is None:
            self._sp = self.state.stability_pool.clone()
        return self._sp

    def steward(self) -> StewardState:
        """The steward state as this transaction sees it (immutable; replace it with ``set_steward``)."""
        return self._steward if self._steward is not None else self.state.steward

    def set_steward(self, steward: StewardState) -> None:
        self._steward = steward

    def mint(self, asset: str, amount: int) -> None:
        """Record ``amount`` of ``asset`` created (drawn) for the conservation identity."""
        if amount:
            self.drawn[asset] = self.drawn.get(asset, 0) + amount

    def burn(self, asset: str, amount: int) -> None:
        """Record ``amount`` of ``asset`` destroyed (repaid)."""
        if amount:
            self.repaid[asset] = self.repaid.get(asset, 0) + amount

    def put_market(self, market: MarketState) -> None:
        self._markets[market.spec.id] = market

    def put_asset(self, asset: AssetSpec) -> None:
        self._assets[asset.id] = asset

    def put_oracle(self, key: str, feed: OracleFeed) -> None:
        if self._oracles is None:
            self._oracles = dict(self.state.oracles)
        self._oracles[key] = feed

    def set_params(self, params: LedgerParams) -> None:
        self._params = params

    def pools(self) -> Pools:
        if self._pools is None:
            self._pools = self.state.pools.clone()
        return self._pools

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def commit(self) -> list[str]:
        """Swap the clones into the state; return the ids of the accounts written."""
        state, undo = self.state, self.undo
        for aid, acct in self._accounts.items():
            if aid not in undo.accounts:
                undo.accounts[aid] = state.accounts.get(aid, _MISSING)
            state.accounts[aid] = acct
        for mid, market in self._markets.items():
            if mid not in undo.markets:
                undo.markets[mid] = state.markets.get(mid, _MISSING)
            state.markets[mid] = market
        for asset_id, asset in self._assets.items():
            if asset_id not in undo.assets:
                undo.assets[asset_id] = state.assets.get(asset_id, _MISSING)
            state.assets[asset_id] = asset
        for type_id, vt in self._vault_types.items():
            if type_id not in undo.vault_types:
                undo.vault_types[type_id] = state.vault_types.get(type_id, _MISSING)
            state.vault_types[type_id] = vt
        if self._debt is not None:
            if undo.debt is None:
                undo.debt = state.debt
            state.debt = self._debt
        if self._contracts is not None:
            if undo.contracts is None:
                undo.contracts = state.contracts
            state.contracts = self._contracts
        if self._sp is not None:
            if undo.stability_pool is None:
                undo.stability_pool = state.stability_pool
            state.stability_pool = self._sp
        if self._steward is not None:
            if undo.steward is None:
                undo.steward = state.steward
            state.steward = self._steward
        if self.drawn:
            if undo.drawn is None:
                undo.drawn = state.drawn
            state.drawn = _add(state.drawn, self.drawn)
        if self.repaid:
            if undo.repaid is None:
                undo.repaid = state.repaid
            state.repaid = _add(state.repaid, self.repaid)
        if self._oracles is not None:
            state.oracles = self._oracles  # the block undo holds the dict from the block's start
        if self._params is not None:
            state.params = self._params  # the block's header undo restores the old params
        if self._pools is not None:
            if undo.pools is None:
                undo.pools = state.pools
            state.pools = self._pools
        if self.deposited:
            if undo.deposited is None:
                undo.deposited = state.deposited
            state.deposited = _add(state.deposited, self.deposited)
        for aid, paid in self.insurance_by_account.items():
            undo.insurance_by_account[aid] = undo.insurance_by_account.get(aid, 0) + paid
        if self.withdrawn:
            if undo.withdrawn is None:
                undo.withdrawn = state.withdrawn
            state.withdrawn = _add(state.withdrawn, self.withdrawn)
        return list(self._accounts)


def _add(totals: dict[str, int], changes: dict[str, int]) -> dict[str, int]:
    out = dict(totals)
    for key, amount in changes.items():
        out[key] = out.get(key, 0) + amount
    return out
