"""The close-out hot path written out (issue 10, step 6) gives the same integers as the helpers it
replaces, and a close-out the liquidator cannot margin still changes nothing.

References below are the helpers as they were before being written out: ``cross_summary`` through
``position_terms`` and ``collateral_value``; ``kernel.fill`` through ``settle_funding`` and
``credit_bucket``.
"""

from __future__ import annotations

import dataclasses

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.core.fixedpoint import WAD
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.block import Block
from clearhouse.ledger.enforcement import Confirmed, _make_confirmed
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.margin import (
    MarginSummary,
    MarginTable,
    PriceLookup,
    collateral_value,
    cross_summary,
    cross_totals,
    fresh_price_lookup,
    funding_owed,
    make_summary,
    position_terms,
)
from clearhouse.ledger.margin_models import (
    AnyMarginModel,
    FixedMargin,
    OpenInterestMargin,
    Tier,
    TieredMargin,
    VolatilityMargin,
)
from clearhouse.ledger.model import (
    Account,
    AssetSpec,
    LedgerParams,
    LedgerState,
    MarketSpec,
    MarketState,
    Position,
)
from clearhouse.ledger.unit_of_work import BlockUndo, TxContext

from .builders import ETH_PERP_ID, PARAMS, T0, W, assert_ledger_invariants, genesis_block

MODELS: list[AnyMarginModel] = [
    FixedMargin(),
    TieredMargin((Tier(W(50_000), W("0.2"), W("0.1")),)),
    OpenInterestMargin(W(100_000), W(1_000_000)),
    VolatilityMargin(W("0.5")),
]

sizes = st.integers(-(10**24), 10**24)
amounts = st.integers(-(10**25), 10**25)


def _state(model: AnyMarginModel, funding_index: int, open_interest: int, vol: int) -> LedgerState:
    state = LedgerState(params=LedgerParams("USDC", max_price_age=3600), time=T0)
    state.assets = {"USDC": AssetSpec("USDC", 6), "ETH": AssetSpec("ETH", 18, haircut=W("0.9"))}
    for mid, key in (("ETH-PERP", "ETH"), ("BTC-PERP", "BTC")):
        spec = MarketSpec(mid, key, W("0.1"), W("0.05"), margin_model=model)
        state.markets[mid] = MarketState(
            spec, funding_index=funding_index, open_interest=open_interest, vol_multiplier=vol
        )
    state.prices = {"ETH": (W(1987), T0), "BTC": (W(61_003), T0)}
    return state


def _reference_summary(state: LedgerState, account: Account, price_of: PriceLookup) -> MarginSummary:
    equity = collateral_value(account.balances, state, price_of)
    initial = maintenance = 0
    for pos in account.positions.values():
        if pos.isolated or pos.size == 0:
            continue
        market = state.markets[pos.market]
        value, im, mm = position_terms(pos, market, price_of(market.spec.oracle))
        equity += value
        initial += im
        maintenance += mm
    return MarginSummary(equity, initial, maintenance)


@settings(max_examples=150, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    index=st.integers(-(10**30), 10**30),
    snapshots=st.tuples(st.integers(-(10**30), 10**30), st.integers(-(10**30), 10**30)),
    eth=st.tuples(sizes, amounts),
    btc=st.tuples(sizes, amounts),
    isolated=st.booleans(),
    balances=st.tuples(amounts, st.integers(-(10**22), 10**22)),
    open_interest=st.integers(0, 10**24),
    vol=st.integers(WAD, 3 * WAD),
)
def test_cross_summary_is_position_terms_written_out(
    model: AnyMarginModel,
    index: int,
    snapshots: tuple[int, int],
    eth: tuple[int, int],
    btc: tuple[int, int],
    isolated: bool,
    balances: tuple[int, int],
    open_interest: int,
    vol: int,
) -> None:
    state = _state(model, index, open_interest, vol)
    account = Account("a", "00", 0, {"USDC": balances[0], "ETH": balances[1]})
    account.positions["ETH-PERP"] = Position("ETH-PERP", eth[0], eth[1], snapshots[0])
    account.positions["BTC-PERP"] = Position("BTC-PERP", btc[0], btc[1], snapshots[1], isolated, 7)
    price_of = fresh_price_lookup(state)
    expected = _reference_summary(state, account, price_of)
    assert cross_summary(state, account, price_of) == expected
    assert cross_totals(state, account, price_of) == (
        expected.equity,
        expected.initial,
        expected.maintenance,
    )


@settings(max_examples=150, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    index=st.integers(-(10**30), 10**30),
    accounts=st.lists(
        st.tuples(
            st.tuples(sizes, amounts, st.integers(-(10**30), 10**30)),  # ETH-PERP, cross
            st.tuples(sizes, amounts, st.integers(-(10**30), 10**30), st.booleans()),  # BTC-PERP
            st.tuples(amounts, st.integers(-(10**22), 10**22)),  # USDC, ETH
        ),
        min_size=1,
        max_size=4,
    ),
    stale=st.sampled_from([None, "ETH", "BTC"]),
    open_interest=st.integers(0, 10**24),
)
def test_a_margin_table_gives_cross_totals(
    model: AnyMarginModel,
    index: int,
    accounts: list[tuple[tuple[int, int, int], tuple[int, int, int, bool], tuple[int, int]]],
    stale: str | None,
    open_interest: int,
) -> None:
    """The same totals, account after account from one table (its lookups reused), and the same
    refusal where a price is stale."""
    state = _state(model, index, open_interest, WAD)
    if stale is not None:  # that price is now older than max_price_age
        state.prices = {**state.prices, stale: (state.prices[stale][0], T0 - 3601)}
    price_of = fresh_price_lookup(state)
    table = MarginTable(state, price_of)
    for _ in range(2):  # the second round reads the table's lookups
        for i, (eth, btc, (usdc, eth_balance)) in enumerate(accounts):
            account = Account(f"a{i}", "00", i, {"USDC": usdc, "ETH": eth_balance})
            account.positions["ETH-PERP"] = Position("ETH-PERP", *eth)
            account.positions["BTC-PERP"] = Position("BTC-PERP", *btc, 7 if btc[3] else 0)
            try:
                expected: tuple[int, int, int] | str = cross_totals(state, account, price_of)
            except Exception as err:
                expected = type(err).__name__
            try:
                got: tuple[int, int, int] | str = table.cross_totals(account)
            except Exception as err:
                got = type(err).__name__
            assert got == expected
            if isinstance(expected, tuple):
                value = collateral_value(account.balances, state, price_of)
                assert table.collateral(account.balances) == value
    assert table.price("USDC") == WAD


def test_summaries_and_confirmations_built_through_slots_are_the_frozen_objects() -> None:
    summary = make_summary(-3, 20, 10)
    assert summary == MarginSummary(-3, 20, 10)
    assert hash(summary) == hash(MarginSummary(-3, 20, 10))
    assert summary.liquidatable and not summary.meets_initial and summary.health == -3 * WAD // 10
    try:
        summary.equity = 0  # type: ignore[misc]
    except AttributeError:  # dataclasses.FrozenInstanceError
        pass
    else:  # pragma: no cover
        raise AssertionError("a summary must stay frozen")
    account = Account("a", "00", 0)
    confirmed = _make_confirmed(("a", None), -3, 10, 20, account)
    assert confirmed == Confirmed(("a", None), -3, 10, 20, account)
    assert confirmed.summary == summary and confirmed.account is account
    assert Confirmed(("a", None), -3, 10).summary is None
    assert confirmed.health == -3 * WAD // 10


def _reference_fill(
    tx: TxContext, acct: Account, market: MarketState, delta: int, notional: int
) -> tuple[Position, int]:
    mid = market.spec.id
    pos = acct.positions.get(mid)
    if pos is None:
        pos = acct.positions[mid] = Position(mid, funding_snapshot=market.funding_index)
    else:
        kernel.settle_funding(tx, acct, pos, market)
    old = pos.size
    sign = 1 if delta > 0 else -1
    realised = 0
    if old == 0 or (old > 0) == (delta > 0):
        pos.entry_value += sign * notional
    else:
        closed = min(abs(delta), abs(old))
        closed_notional = notional if closed == abs(delta) else notional * closed // abs(delta)
        basis = pos.entry_value * closed // abs(old)
        realised = -sign * closed_notional - basis
        pos.entry_value += sign * (notional - closed_notional) - basis
        market.pnl_pool -= realised
        kernel.credit_bucket(tx, acct, pos, realised)
    pos.size = old + delta
    market.open_interest += max(pos.size, 0) - max(old, 0)
    return pos, realised


@settings(max_examples=300, deadline=None)
@given(
    held=st.one_of(st.none(), st.tuples(sizes, amounts, st.integers(-(10**30), 10**30), st.booleans())),
    delta=sizes.filter(bool),
    notional=st.integers(0, 10**26),
    index=st.integers(-(10**30), 10**30),
    balance=st.one_of(st.none(), amounts),
)
def test_fill_gives_the_reference_integers_and_events(
    held: tuple[int, int, int, bool] | None,
    delta: int,
    notional: int,
    index: int,
    balance: int | None,
) -> None:
    results = []
    for fill in (kernel.fill, _reference_fill):
        state = _state(FixedMargin(), index, 10**24, WAD)
        acct = Account("a", "00", 0, {} if balance is None else {"USDC": balance})
        if held is not None:
            size, entry, snapshot, isolated = held
            acct.positions["ETH-PERP"] = Position("ETH-PERP", size, entry, snapshot, isolated, 5)
        state.accounts["a"] = acct
        tx = TxContext(state, BlockUndo())
        clone, market = tx.account("a"), tx.market("ETH-PERP")
        pos, realised = fill(tx, clone, market, delta, notional)
        results.append(
            (
                pos,
                realised,
                dict(clone.balances),
                market.pnl_pool,
                market.open_interest,
                tx.events,
            )
        )
    assert results[0] == results[1]
    assert funding_owed(Position("x", 1, 0, index), index) == 0  # the skipped settlement owes nothing


def test_the_price_lookup_is_reused_only_while_prices_time_and_params_are_the_same() -> None:
    state = _state(FixedMargin(), 0, 0, WAD)
    first = fresh_price_lookup(state)
    assert fresh_price_lookup(state) is first
    assert first("ETH") == W(1987) and first("USDC") == WAD
    state.time += 10
    moved = fresh_price_lookup(state)
    assert moved is not first and moved("ETH") == W(1987)
    state.prices = {**state.prices, "ETH": (W(1990), state.time)}
    assert fresh_price_lookup(state)("ETH") == W(1990)
    state.params = msgspec.structs.replace(state.params, max_price_age=5)
    stale = fresh_price_lookup(state)
    try:
        stale("BTC")  # set 10 s ago, now older than 5 s
    except Exception as err:
        assert type(err).__name__ == "StalePrice"
    else:  # pragma: no cover
        raise AssertionError("a stale price must be refused")
    assert stale("ETH") == W(1990)


TRADERS = [f"t{i}" for i in range(5)]


def test_a_close_out_the_liquidator_cannot_margin_changes_nothing() -> None:
    """The backstop (``keeper``, 2,500 USDC, flat) takes over 10 ETH long at 1,820 from each trader
    below maintenance (worst first): the first needs 1,820 of initial margin and passes; every later
    one would need 3,640 and is refused with ``insufficient_margin``, leaving that trader, the keeper,
    the market and the pools exactly as they were."""
    params = msgspec.structs.replace(
        PARAMS, enforcement="backstop", backstop_liquidator="keeper", max_liquidations_per_block=50
    )
    engine = Engine()
    engine.apply_block(
        genesis_block(
            params=params,
            accounts=("keeper", "bob", *TRADERS),
            deposits=(
                ("keeper", "USDC", W(2_500)),
                ("bob", "USDC", W(1_000_000)),
                *((t, "USDC", W(2100 + 100 * i)) for i, t in enumerate(TRADERS)),
            ),
        )
    )
    trades = tuple(c.Trade(ETH_PERP_ID, t, "bob", W(10), W(2000)) for t in TRADERS)
    opened = engine.apply_block(Block(2, T0 + 60, {"ETH": W(2000)}, trades))
    assert not [e for e in opened.events if isinstance(e, ev.TransactionRejected)]
    state = engine.state
    before = {t: state.accounts[t].clone() for t in TRADERS}
    result = engine.apply_block(Block(3, T0 + 120, {"ETH": W(1820)}))
    closed = [e for e in result.events if isinstance(e, ev.PositionClosedOut)]
    failed = [e for e in result.events if isinstance(e, ev.EnforcementFailed)]
    assert [e.account for e in closed] == ["t0"]
    assert sorted(e.account for e in failed) == TRADERS[1:]
    assert {e.code for e in failed} == {"insufficient_margin"}
    for t in TRADERS[1:]:
        assert state.accounts[t] == before[t]
    keeper = state.accounts["keeper"]
    penalty = next(e for e in result.events if isinstance(e, ev.CloseOutPenaltyCharged))
    assert keeper.positions[ETH_PERP_ID].size == W(10)
    assert keeper.balances["USDC"] == W(2_500) + penalty.liquidator_reward
    assert state.markets[ETH_PERP_ID].open_interest == W(50)  # t1..t4 long 40 + keeper long 10
    assert_ledger_invariants(engine)


def test_clone_except_is_clone_without_those_positions() -> None:
    """``Account.clone_except`` (the close-out's clone) copies every field ``clone`` copies; a field
    added to ``Account`` must be added to both (the field list below fails first)."""
    assert [f.name for f in dataclasses.fields(Account)] == [
        "id", "owner", "index", "balances", "positions", "vaults", "sp", "contracts",
    ]  # fmt: skip
    account = Account("a", "00", 3, {"USDC": W(5), "ETH": 0})
    account.positions["ETH-PERP"] = Position("ETH-PERP", W(1), W(2000), 5)
    account.positions["BTC-PERP"] = Position("BTC-PERP", -W(1), -W(60_000), 7, True, W(100))
    full = account.clone()
    assert account.clone_except(()) == full
    kept = account.clone_except({"ETH-PERP"})
    del full.positions["ETH-PERP"]
    assert kept == full
    assert kept.positions["BTC-PERP"] is not account.positions["BTC-PERP"]  # copies, as clone makes
    assert kept.balances is not account.balances
    state = _state(FixedMargin(), 0, 0, WAD)
    state.accounts["a"] = account
    tx = TxContext(state, BlockUndo())
    assert tx.account_except("a", {"ETH-PERP"}) == kept
    assert tx.account_except("a", {"ETH-PERP"}) is None  # already cloned: use tx.account
    assert tx.account_except("nobody", ()) is None
