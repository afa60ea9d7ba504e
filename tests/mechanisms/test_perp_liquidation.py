"""``close_out_all`` (a block's backstop close-outs in one context, the engine's ``_close_out_together``)
gives exactly what ``close_out`` gives one transaction at a time: the same accounts, markets, pools,
events and liquidation tally, or a refusal whenever any of those transactions would be refused.

Books are built directly (no blocks), so they reach what the engine's own property test does not:
funding owed on every leg, several cross positions per account, haircut collateral and negative
balances, bankrupt accounts, a liquidator holding positions, the liquidation cap, the sequencer grace
period and a TWAP guard (the close-out's gate in full).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.core.errors import ClearhouseError, InsufficientMargin
from clearhouse.core.fixedpoint import RAY, WAD
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger import kernel
from clearhouse.ledger.enforcement import Confirmed, confirm, select_targets, still_valid
from clearhouse.ledger.margin import cross_totals, fresh_price_lookup
from clearhouse.ledger.model import (
    Account,
    AssetSpec,
    LedgerParams,
    LedgerState,
    MarketSpec,
    MarketState,
    Pools,
    Position,
)
from clearhouse.ledger.state_root import full_state_root
from clearhouse.ledger.unit_of_work import BlockUndo, TxContext
from clearhouse.mechanisms.perp_liquidation import close_out, close_out_all

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ledger.builders import T0, W

MARKETS = ("BTC-PERP", "ETH-PERP")
PRICES = {"ETH": W(1987), "BTC": W(61_003), "BTC-TWAP": W(60_000)}

leg = st.tuples(
    st.integers(-(10**20), 10**20),  # size
    st.integers(-(10**25), 10**25),  # entry value
    st.integers(-(10**28), 10**28),  # funding snapshot
    st.sampled_from([False, False, True]),  # isolated
    st.integers(-(10**21), 10**22),  # isolated margin
)
trader = st.tuples(
    st.one_of(st.none(), leg),  # ETH-PERP
    st.one_of(st.none(), leg),  # BTC-PERP
    st.integers(-(10**22), 10**23),  # USDC
    st.integers(0, 10**19),  # ETH collateral
)
Leg = tuple[int, int, int, bool, int]
Trader = tuple[Leg | None, Leg | None, int, int]


def _book(
    traders: list[Trader],
    keeper: tuple[int, int],
    index: int,
    share: int,
    cap: int,
    grace: bool,
    twap: bool,
) -> LedgerState:
    params = LedgerParams(
        "USDC",
        max_price_age=3600,
        enforcement="backstop",
        backstop_liquidator="keeper",
        max_liquidations_per_block=cap,
        sequencer_grace=600 if grace else 0,
    )
    state = LedgerState(params=params, height=5, time=T0)
    if grace:  # back up 100 s ago: only accounts below the grace threshold may be closed out
        state.sequencer_up_since = T0 - 100
    state.assets = {"USDC": AssetSpec("USDC", 6), "ETH": AssetSpec("ETH", 18, haircut=W("0.9"))}
    for mid, key in (("ETH-PERP", "ETH"), ("BTC-PERP", "BTC")):
        spec = MarketSpec(
            mid,
            key,
            W("0.1"),
            W("0.05"),
            liquidation_fee=W("0.01"),
            liquidator_share=share,
            twap_oracle="BTC-TWAP" if twap and key == "BTC" else None,
            max_twap_divergence=W("0.01"),  # BTC 61,003 vs its TWAP 60,000: refused when guarded
        )
        state.markets[mid] = MarketState(spec, funding_index=index)
    state.prices = {k: (p, T0) for k, p in PRICES.items()}
    state.pools = Pools(insurance={"USDC": W(5_000)})
    keeper_account = Account("keeper", "00", 0, {"USDC": keeper[0]})
    if keeper[1]:
        keeper_account.positions["ETH-PERP"] = Position("ETH-PERP", keeper[1], keeper[1] * 1987, index)
    state.accounts["keeper"] = keeper_account
    for i, (eth, btc, usdc, eth_collateral) in enumerate(traders):
        acct = Account(f"t{i}", "00", i + 1, {"USDC": usdc, "ETH": eth_collateral})
        for mid, held in (("ETH-PERP", eth), ("BTC-PERP", btc)):
            if held is not None:
                size, entry, snapshot, isolated, margin = held
                margin = margin if isolated else 0
                acct.positions[mid] = Position(mid, size, entry, snapshot, isolated, margin)
        state.accounts[acct.id] = acct
    return state


def _chosen(state: LedgerState, summaries: bool = True) -> list[Confirmed]:
    """What the engine would close out, one target per account (``_close_out_together``'s condition);
    without ``summaries`` the close-outs must compute their own."""
    targets = [(aid, mid) for aid in sorted(state.accounts) for mid in (None, *MARKETS)]
    found = select_targets(confirm(state, targets, fresh_price_lookup(state)), state.height, 10**6)
    seen: set[str] = set()
    out = []
    for target in found:
        if target.target[0] not in seen:
            seen.add(target.target[0])
            out.append(target if summaries else Confirmed(target.target, target.equity, target.maintenance))
    return out


def _one_at_a_time(state: LedgerState, summaries: bool = True) -> tuple[list[ev.Event], int] | None:
    """The reference: each close-out its own transaction; None if any is refused."""
    undo = BlockUndo()
    events: list[ev.Event] = []
    for target in _chosen(state, summaries):
        aid, mid = target.target
        ctx = TxContext(state, undo)
        try:
            close_out(ctx, c.CloseOut(aid, "keeper", mid), before=still_valid(state, target))
        except ClearhouseError:
            return None
        ctx.commit()
        events.extend(ctx.events)
    return events, undo.liquidations


def _together(state: LedgerState, summaries: bool = True) -> tuple[list[ev.Event], int] | None:
    undo = BlockUndo()
    ctx = TxContext(state, undo)
    try:
        close_out_all(ctx, "keeper", _chosen(state, summaries))
    except ClearhouseError:
        return None
    ctx.commit()
    return ctx.events, undo.liquidations


def _compare(state: LedgerState, summaries: bool = True) -> bool:
    """Run both on copies of ``state``; True when they closed something out."""
    reference, fast = copy.deepcopy(state), copy.deepcopy(state)
    expected = _one_at_a_time(reference, summaries)
    got = _together(fast, summaries)
    if expected is None:
        assert got is None
        return False
    assert got == expected
    assert fast.accounts == reference.accounts
    assert fast.pools == reference.pools
    assert full_state_root(fast) == full_state_root(reference)  # markets included
    return bool(expected[1])


@settings(max_examples=300, deadline=None)
@given(
    traders=st.lists(trader, min_size=1, max_size=6),
    keeper=st.tuples(
        # < 0: may be a target; a few thousand: runs short of initial margin part way
        st.sampled_from([-W(100), W(2_000), W(5_000), W(20_000), W(100_000), W(10**7), W(10**9)]),
        st.integers(-(10**20), 10**20),
    ),
    index=st.integers(-(10**28), 10**28),
    share=st.sampled_from([0, WAD // 2, WAD]),
    cap=st.integers(1, 8),
    grace=st.sampled_from([False, False, True]),
    twap=st.sampled_from([False, False, True]),
    summaries=st.booleans(),
)
def test_close_out_all_is_one_transaction_each(
    traders: list[Trader],
    keeper: tuple[int, int],
    index: int,
    share: int,
    cap: int,
    grace: bool,
    twap: bool,
    summaries: bool,
) -> None:
    _compare(_book(traders, keeper, index, share, cap, grace, twap), summaries)


def test_two_cross_legs_with_funding_owed_and_a_bankrupt_account() -> None:
    """t0: 1 ETH long entered at 2,400 and 0.1 BTC short entered at 55,000, 250 USDC and 0.05 ETH
    collateral (89.415 after the 0.9 haircut), funding 10 USDC per unit above both snapshots (the long
    owes 10, the short receives 1). At ETH 1,987 / BTC 61,003 its equity is
    339.415 - 413 - 10 - 600.3 + 1 = -682.885: no penalty, its ETH is seized and the insurance fund
    covers the 772.3 USDC deficit. t1: 2 ETH long entered at 2,400 with 1,000 USDC: equity
    1,000 - 826 - 20 = 154 < maintenance 198.7; penalty 1 % of 3,974 = 39.74, half to the keeper."""
    eth, btc = (W(1), W(2400), 0, False, 0), (-W("0.1"), -W(5_500), 0, False, 0)
    t1_eth = (W(2), W(4800), 0, False, 0)
    traders: list[Trader] = [(eth, btc, W(250), W("0.05")), (t1_eth, None, W(1000), 0)]
    state = _book(traders, (W(1_000_000), 0), 10 * RAY, WAD // 2, 10, False, False)
    assert [t.target for t in _chosen(state)] == [("t0", None), ("t1", None)]
    assert _compare(state)
    result = _together(state)
    assert result is not None and result[1] == 2
    assert result[0] == [
        ev.FundingSettled("t0", "BTC-PERP", -W(1)),
        ev.PositionClosedOut("t0", "keeper", "BTC-PERP", -W("0.1"), W(61_003), W("6100.3"), -W("600.3")),
        ev.FundingSettled("t0", "ETH-PERP", W(10)),
        ev.PositionClosedOut("t0", "keeper", "ETH-PERP", W(1), W(1987), W(1987), -W(413)),
        ev.CollateralSeized("t0", "ETH", W("0.05")),
        ev.InsuranceFundUsed("t0", "USDC", W("772.3")),
        ev.FundingSettled("t1", "ETH-PERP", W(20)),
        ev.PositionClosedOut("t1", "keeper", "ETH-PERP", W(2), W(1987), W(3974), -W(826)),
        ev.CloseOutPenaltyCharged("t1", "keeper", W("39.74"), W("19.87"), W("19.87")),
    ]
    assert state.accounts["t0"].positions == {} and state.accounts["t0"].balances == {"USDC": 0, "ETH": 0}
    assert state.accounts["t1"].balances == {"USDC": W(1000) - W(20) - W(826) - W("39.74"), "ETH": 0}
    keeper = state.accounts["keeper"]
    assert keeper.positions["ETH-PERP"].size == W(3) and keeper.positions["BTC-PERP"].size == -W("0.1")
    assert keeper.balances["USDC"] == W(1_000_000) + W("19.87")
    assert state.pools.insurance == {"USDC": W(5_000) - W("772.3") + W("19.87"), "ETH": W("0.05")}
    assert state.markets["ETH-PERP"].open_interest == 0  # 3 long closed, the keeper now 3 long


def test_a_liquidator_short_of_initial_margin_refuses_the_whole_batch() -> None:
    traders: list[Trader] = [((W(10), W(20_000), 0, False, 0), None, W(1000), 0)] * 2
    state = _book(traders, (W(2_500), 0), 0, WAD // 2, 10, False, False)
    before = copy.deepcopy(state)
    ctx = TxContext(state, BlockUndo())
    with pytest.raises(InsufficientMargin):
        close_out_all(ctx, "keeper", _chosen(state))
    assert state.accounts == before.accounts and state.pools == before.pools  # nothing committed
    assert _one_at_a_time(copy.deepcopy(state)) is None


@settings(max_examples=400, deadline=None)
@given(
    held=st.one_of(
        st.none(),
        st.tuples(
            st.integers(-(10**21), 10**21), st.integers(-(10**26), 10**26), st.integers(-(10**29), 10**29)
        ),
    ),
    other=st.tuples(st.integers(-(10**21), 10**21), st.integers(-(10**26), 10**26)),  # BTC-PERP, untouched
    balance=st.integers(-(10**24), 10**26),
    taken=st.integers(-(10**21), 10**21).filter(bool),
    index=st.integers(-(10**29), 10**29),
    price=st.integers(10**15, 10**23),
)
def test_the_liquidators_margin_falls_by_at_most_the_bound(
    held: tuple[int, int, int] | None,
    other: tuple[int, int],
    balance: int,
    taken: int,
    index: int,
    price: int,
) -> None:
    """The bound ``close_out_all`` uses instead of the liquidator's totals: taking over ``taken`` at
    notional ``N = floor(|taken| x price)`` (a fill through ``kernel.fill``, funding settled first)
    lowers cross equity - initial by at most ``(N + 1) x initial fraction + 2``."""
    state = _book([], (balance, 0), index, WAD // 2, 10, False, False)
    state.prices = {**state.prices, "ETH": (price, T0)}
    keeper = state.accounts["keeper"]
    if held is not None:
        keeper.positions["ETH-PERP"] = Position("ETH-PERP", *held)
    keeper.positions["BTC-PERP"] = Position("BTC-PERP", *other, index)
    price_of = fresh_price_lookup(state)
    equity, initial, _ = cross_totals(state, keeper, price_of)
    ctx = TxContext(state, BlockUndo())
    liq, market = ctx.account("keeper"), ctx.market("ETH-PERP")
    notional = abs(taken) * price // WAD
    liq_pos, _ = kernel.fill(ctx, liq, market, taken, notional)
    kernel.drop_if_empty(liq, liq_pos)
    after_equity, after_initial, _ = cross_totals(state, liq, price_of)
    need = (notional + 1) * market.spec.initial_margin // WAD + 2
    if held is not None and not held[0] and held[1]:
        return  # a sizeless position with an entry value: close_out_all computes the totals then
    assert (after_equity - after_initial) - (equity - initial) >= -need
