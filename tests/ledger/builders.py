"""Named fixtures and block builders for ledger tests (in the spirit of nautilus_trader's ``test_kit``).

Everything here is deterministic: no clock, no randomness. Typical use::

    from .builders import ETH_PERP_ID, W, apply_txs, assert_ledger_invariants, genesis_engine, rejection_codes
    from clearhouse.ledger import commands as c

    engine = genesis_engine()                         # height 1 at T0, ETH = 2000, accounts funded
    result = apply_txs(engine, [c.Trade(ETH_PERP_ID, "alice", "bob", W(1), W(2000))])
    assert rejection_codes(result) == []
    assert_ledger_invariants(engine)                  # conservation, open interest, PnL pool, root

The genesis block (:func:`genesis_block`) sets the ledger parameters (USDC settles, prices stale after
:data:`MAX_PRICE_AGE` seconds), lists USDC (6 decimals, haircut 1) and ETH (18 decimals, haircut 0.9),
lists ETH-PERP (IM 10%, MM 5%, taker 0.05%, maker 0.02%, close-out fee 1% split 50/50, step 0.001,
no funding interest), opens :data:`ACCOUNTS` with owner keys from :func:`owner_key`, seeds the insurance
fund with :data:`INSURANCE_SEED` USDC and makes :data:`GENESIS_DEPOSITS`. Every argument can be
overridden; pass ``deposits=()`` for empty accounts.

All amounts are WAD integers; write them with :func:`W` (``W(2000)``, ``W("0.001")``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.conservation import conservation_gap
from clearhouse.ledger.engine import BlockResult, Engine
from clearhouse.ledger.fixedpoint import RAY, WAD, to_fixed
from clearhouse.ledger.model import AssetSpec, LedgerParams, LedgerState, MarketSpec, Position
from clearhouse.ledger.state_root import full_state_root

#: Time of the genesis block (seconds).
T0 = 1_700_000_000
#: Default spacing of :func:`next_block` (seconds).
BLOCK_DT = 60
#: Prices older than this are stale (ledger parameter set at genesis).
MAX_PRICE_AGE = 3600


def W(value: str | int | float | Decimal) -> int:
    """A human number as a WAD integer: ``W(2000) == 2000 * 10**18``, ``W("0.001") == 10**15``."""
    return to_fixed(value)


def owner_key(name: str) -> str:
    """A deterministic 32-byte owner public key (64 hex chars) for account ``name``."""
    return hashlib.sha256(f"clearhouse-test/{name}".encode()).hexdigest()


SETTLEMENT = "USDC"
USDC = AssetSpec("USDC", decimals=6, haircut=WAD)
ETH = AssetSpec("ETH", decimals=18, haircut=W("0.9"))
PARAMS = LedgerParams(settlement_asset=SETTLEMENT, max_price_age=MAX_PRICE_AGE)

ETH_PERP_ID = "ETH-PERP"
ETH_PERP = MarketSpec(
    id=ETH_PERP_ID,
    oracle="ETH",
    initial_margin=W("0.10"),
    maintenance_margin=W("0.05"),
    taker_fee=W("0.0005"),
    maker_fee=W("0.0002"),
    liquidation_fee=W("0.01"),
    liquidator_share=W("0.5"),
    step_size=W("0.001"),
)

#: Oracle prices published in the genesis block.
GENESIS_PRICES: Mapping[str, int] = {"ETH": W(2000)}
#: Accounts opened at genesis, in this order (account index 0, 1, ...). ``keeper`` is the deep-pocketed
#: liquidator / counterparty.
ACCOUNTS: tuple[str, ...] = ("alice", "bob", "carol", "dave", "keeper")
KEEPER = "keeper"
#: (account, asset, amount) deposits made at genesis. ``dave`` holds only ETH collateral.
GENESIS_DEPOSITS: tuple[tuple[str, str, int], ...] = (
    ("alice", "USDC", W(10_000)),
    ("bob", "USDC", W(10_000)),
    ("carol", "USDC", W(2_000)),
    ("dave", "ETH", W(5)),
    ("keeper", "USDC", W(1_000_000)),
)
INSURANCE_SEED = W(10_000)


def genesis_txs(
    *,
    accounts: Sequence[str] = ACCOUNTS,
    deposits: Iterable[tuple[str, str, int]] = GENESIS_DEPOSITS,
    insurance: int = INSURANCE_SEED,
    assets: Sequence[AssetSpec] = (USDC, ETH),
    markets: Sequence[MarketSpec] = (ETH_PERP,),
    params: LedgerParams = PARAMS,
) -> tuple[c.AnyCommand, ...]:
    """The transactions of the genesis block (see the module docstring)."""
    txs: list[c.AnyCommand] = [c.SetLedgerParams(params)]
    txs += [c.ListAsset(a) for a in assets]
    txs += [c.ListMarket(m) for m in markets]
    txs += [c.OpenAccount(name, owner_key(name)) for name in accounts]
    if insurance:
        txs.append(c.DepositInsurance(params.settlement_asset, insurance))
    txs += [c.Deposit(acct, asset, amount) for acct, asset, amount in deposits]
    return tuple(txs)


def genesis_block(
    *,
    time: int = T0,
    prices: Mapping[str, int] = GENESIS_PRICES,
    accounts: Sequence[str] = ACCOUNTS,
    deposits: Iterable[tuple[str, str, int]] = GENESIS_DEPOSITS,
    insurance: int = INSURANCE_SEED,
    assets: Sequence[AssetSpec] = (USDC, ETH),
    markets: Sequence[MarketSpec] = (ETH_PERP,),
    params: LedgerParams = PARAMS,
) -> Block:
    """Block 1: :func:`genesis_txs` with ``prices`` published at ``time``."""
    txs = genesis_txs(
        accounts=accounts,
        deposits=deposits,
        insurance=insurance,
        assets=assets,
        markets=markets,
        params=params,
    )
    return Block(1, time, dict(prices), txs)


def genesis_engine(
    *,
    time: int = T0,
    prices: Mapping[str, int] = GENESIS_PRICES,
    accounts: Sequence[str] = ACCOUNTS,
    deposits: Iterable[tuple[str, str, int]] = GENESIS_DEPOSITS,
    insurance: int = INSURANCE_SEED,
    assets: Sequence[AssetSpec] = (USDC, ETH),
    markets: Sequence[MarketSpec] = (ETH_PERP,),
    params: LedgerParams = PARAMS,
) -> Engine:
    """A fresh :class:`Engine` with :func:`genesis_block` (same arguments) applied. Fails loudly if any
    genesis transaction is rejected, so a bad override cannot silently produce a different ledger."""
    block = genesis_block(
        time=time,
        prices=prices,
        accounts=accounts,
        deposits=deposits,
        insurance=insurance,
        assets=assets,
        markets=markets,
        params=params,
    )
    engine = Engine()
    bad = rejections(engine.apply_block(block))
    if bad:
        raise AssertionError(f"genesis transactions rejected: {bad}")
    return engine


def next_block(
    engine: Engine,
    txs: Iterable[c.AnyCommand] = (),
    prices: Mapping[str, int] | None = None,
    dt: int = BLOCK_DT,
) -> Block:
    """The block that follows ``engine``'s head: height + 1, time + ``dt``, ``prices`` (none by
    default: the previous prices stay and age). The block is only built, not applied."""
    state = engine.state
    return Block(state.height + 1, state.time + dt, dict(prices or {}), tuple(txs))


def apply_txs(
    engine: Engine,
    txs: Iterable[c.AnyCommand] = (),
    prices: Mapping[str, int] | None = None,
    dt: int = BLOCK_DT,
) -> BlockResult:
    """Build :func:`next_block` and apply it; returns the engine's :class:`BlockResult`."""
    return engine.apply_block(next_block(engine, txs, prices, dt))


def replay(blocks: Iterable[Block]) -> Engine:
    """A fresh engine with ``blocks`` applied in order (to build identical twins of a history)."""
    engine = Engine()
    for block in blocks:
        engine.apply_block(block)
    return engine


EventT = TypeVar("EventT", bound=ev.Event)

# -- reading results ------------------------------------------------------------------------------


def rejections(result: BlockResult) -> list[ev.TransactionRejected]:
    """The ``TransactionRejected`` events of a block, in transaction order."""
    return [e for e in result.events if isinstance(e, ev.TransactionRejected)]


def rejection_codes(result: BlockResult) -> list[str]:
    """Just the error codes of :func:`rejections` (e.g. ``["insufficient_margin"]``)."""
    return [e.code for e in rejections(result)]


def events_of(result: BlockResult, kind: type[EventT]) -> list[EventT]:
    """The events of one type in a block result."""
    return [e for e in result.events if isinstance(e, kind)]


def balance(engine: Engine, account: str, asset: str = SETTLEMENT) -> int:
    return engine.state.accounts[account].balances.get(asset, 0)


def position(engine: Engine, account: str, market: str = ETH_PERP_ID) -> Position | None:
    return engine.state.accounts[account].positions.get(market)


@dataclass(frozen=True)
class Snapshot:
    """What a rejected transaction must leave untouched, as plain comparable values."""

    balances: dict[str, dict[str, int]]
    positions: dict[str, dict[str, tuple[int, int, int, bool, int]]]
    insurance: dict[str, int]
    fees: dict[str, int]
    bad_debt: dict[str, int]
    deposited: dict[str, int]
    withdrawn: dict[str, int]
    markets: dict[str, tuple[int, int, int]]


def snapshot(engine: Engine) -> Snapshot:
    """Copy balances, positions, pools, totals and market state (for before/after comparisons)."""
    s = engine.state
    return Snapshot(
        balances={a: dict(acct.balances) for a, acct in s.accounts.items()},
        positions={
            a: {
                m: (p.size, p.entry_value, p.funding_snapshot, p.isolated, p.margin)
                for m, p in acct.positions.items()
            }
            for a, acct in s.accounts.items()
        },
        insurance=dict(s.pools.insurance),
        fees=dict(s.pools.fees),
        bad_debt=dict(s.pools.bad_debt),
        deposited=dict(s.deposited),
        withdrawn=dict(s.withdrawn),
        markets={m: (ms.open_interest, ms.pnl_pool, ms.funding_index) for m, ms in s.markets.items()},
    )


# -- invariants ------------------------------------------------------------------------------------


def market_positions(state: LedgerState, market: str) -> list[Position]:
    return [a.positions[market] for a in state.accounts.values() if market in a.positions]


def funding_surplus_ray(state: LedgerState, market: str) -> int:
    """The market's funding rounding surplus, scaled by RAY (exact integer).

    ``pnl_pool + sum(entry_value)`` is the funding settled so far (trades are zero-sum in it). Funding
    settles lazily, so one side may have been paid before the other paid: add what every position
    still owes exactly, ``size x (index - snapshot) / RAY``. Because sizes sum to zero, the exact
    total is zero, and what remains is the rounding of settled funding, which is always upwards:
    ``0 <= surplus < number of settlements`` (in units), i.e. this value is in ``[0, n x RAY)``.
    """
    m = state.markets[market]
    positions = market_positions(state, market)
    settled = m.pnl_pool + sum(p.entry_value for p in positions)
    unsettled = sum(p.size * (m.funding_index - p.funding_snapshot) for p in positions)
    return settled * RAY + unsettled


def assert_ledger_invariants(engine: Engine) -> None:
    """Assert the ledger-wide invariants that must hold after every block:

    * conservation of every asset to the last unit (:func:`conservation_gap` == 0);
    * per market: open interest == sum of long sizes == -sum of short sizes, sizes on the step grid,
      funding surplus (:func:`funding_surplus_ray`) >= 0;
    * no empty positions kept, cross positions hold no margin, only the settlement asset may go
      negative, pools are non-negative;
    * the incremental state root equals the root recomputed from scratch.
    """
    state = engine.state
    settle = state.params.settlement_asset
    assets = set(state.assets) | set(state.deposited) | set(state.withdrawn)
    for asset in sorted(assets):
        assert conservation_gap(state, asset) == 0, (
            f"{asset} not conserved: gap {conservation_gap(state, asset)}"
        )
    for mid in sorted(state.markets):
        market = state.markets[mid]
        sizes = [p.size for p in market_positions(state, mid)]
        longs = sum(s for s in sizes if s > 0)
        shorts = -sum(s for s in sizes if s < 0)
        assert market.open_interest == longs == shorts, (mid, market.open_interest, longs, shorts)
        assert all(s % market.spec.step_size == 0 for s in sizes), (mid, sizes)
        assert funding_surplus_ray(state, mid) >= 0, (mid, funding_surplus_ray(state, mid))
    for acct in state.accounts.values():
        for mid, pos in acct.positions.items():
            assert pos.market == mid and mid in state.markets, (acct.id, mid)
            assert not pos.is_empty, f"empty position {mid} kept on {acct.id}"
            if not pos.isolated:
                assert pos.margin == 0, (acct.id, mid, pos)
        for asset, amount in acct.balances.items():
            assert asset in state.assets, (acct.id, asset)
            assert asset == settle or amount >= 0, (acct.id, asset, amount)
    for pool in (state.pools.insurance, state.pools.fees, state.pools.bad_debt):
        assert all(v >= 0 for v in pool.values()), pool
    root = engine.state_root()
    assert root == full_state_root(state), "incremental state root differs from the full recomputation"
