"""Dated futures and options through the engine: worked examples of trading, margin, expiry
settlement (TWAP, intrinsic, a stale feed that waits then heals) and liquidation riskiest leg first."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.conservation import conservation_gap
from clearhouse.ledger.margin import cross_summary, fresh_price_lookup
from clearhouse.ledger.state_root import full_state_root
from clearhouse.options.portfolio_margin import LinearPosition, OptionPosition, Portfolio, portfolio_margin

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from options_fixtures import GRID, E, W, options_engine, run_to, table

from ledger.builders import PARAMS, balance, events_of, rejection_codes

USDC = "USDC"


def _twap_blocks(engine, prices=(2000, 2000, 2000, 2100, 2100, 2100)):  # type: ignore[no-untyped-def]
    """Prints every 300 s over the window ending at expiry: TWAP of the example = 2050."""
    for i, p in enumerate(prices):
        run_to(engine, E - 1800 + 300 * i, [], W(p))


def _conserved(engine) -> None:  # type: ignore[no-untyped-def]
    state = engine.state
    for asset in sorted(state.assets):
        assert conservation_gap(state, asset) == 0, asset
    assert engine.state_root() == full_state_root(state)
    for iid, listing in state.contracts.instruments.items():
        sizes = [a.contracts[iid].size for a in state.accounts.values() if iid in a.contracts]
        assert sum(sizes) == 0 and listing.open_interest == sum(s for s in sizes if s > 0), iid


def test_a_future_settles_at_the_twap_of_the_last_30_minutes() -> None:
    engine = options_engine()
    trade = c.TradeContract("ETH-F", "alice", "bob", W(2), W(2000))
    r = run_to(engine, engine.state.time + 60, [trade], W(2000))
    assert rejection_codes(r) == []
    assert engine.state.contracts.instruments["ETH-F"].open_interest == W(2)
    _twap_blocks(engine)
    alice, bob = balance(engine, "alice"), balance(engine, "bob")
    r = run_to(engine, E, [], W(2300))  # the print at expiry carries no seconds of the window
    settled = {e.account: e.amount for e in events_of(r, ev.ContractSettled)}
    assert settled == {"alice": W(100), "bob": W(-100)}  # (2050 - 2000) x 2
    (done,) = [e for e in events_of(r, ev.ExpirySettled) if e.instrument == "ETH-F"]
    assert (done.price, done.window_start, done.window_end, done.positions) == (W(2050), E - 1800, E, 2)
    assert balance(engine, "alice") - alice == W(100) and balance(engine, "bob") - bob == W(-100)
    listing = engine.state.contracts.instruments["ETH-F"]
    assert (listing.status, listing.open_interest, listing.settlement_price) == ("settled", 0, W(2050))
    assert "ETH-F" not in engine.state.accounts["alice"].contracts
    _conserved(engine)


def test_a_call_and_a_put_settle_at_intrinsic_value_with_the_premium_paid_at_trade() -> None:
    engine = options_engine()
    before = {a: balance(engine, a) for a in ("alice", "bob", "carol", "keeper")}
    r = run_to(engine, engine.state.time + 60, [
        c.TradeContract("ETH-C1900", "alice", "bob", W(1), W(150)),
        c.TradeContract("ETH-P2100", "carol", "keeper", W(2), W("170.5")),
    ], W(2000))  # fmt: skip
    assert rejection_codes(r) == []
    # premium moves at the trade: alice pays 150, carol pays 2 x 170.5
    assert balance(engine, "alice") == before["alice"] - W(150)
    assert balance(engine, "bob") == before["bob"] + W(150)
    assert balance(engine, "carol") == before["carol"] - W(341)
    _twap_blocks(engine)
    r = run_to(engine, E + 30, [], W(2100))
    settled = {(e.instrument, e.account): e.amount for e in events_of(r, ev.ContractSettled)}
    assert settled == {
        ("ETH-C1900", "alice"): W(150), ("ETH-C1900", "bob"): W(-150),  # 2050 - 1900
        ("ETH-P2100", "carol"): W(100), ("ETH-P2100", "keeper"): W(-100),  # (2100 - 2050) x 2
    }  # fmt: skip
    assert balance(engine, "alice") == before["alice"]  # paid 150, received 150
    _conserved(engine)


def test_an_expiry_waits_on_a_stale_feed_then_settles_once_a_fresh_window_has_passed() -> None:
    engine = options_engine()
    run_to(engine, engine.state.time + 60, [c.TradeContract("ETH-F", "alice", "bob", W(1), W(2000))], W(2000))
    run_to(engine, E - 2400, [], W(2000))  # the last print before the feed goes silent
    r = run_to(engine, E + 60)  # expiry passes with no print in 40 minutes
    waits = [e for e in events_of(r, ev.ExpiryWaiting) if e.instrument == "ETH-F"]
    assert [w.reason for w in waits] == ["stale"] and events_of(r, ev.ContractSettled) == []
    assert engine.state.contracts.instruments["ETH-F"].status == "waiting"
    assert "ETH-F" in engine.state.accounts["alice"].contracts
    # an expired instrument no longer trades
    r = run_to(engine, E + 120, [c.TradeContract("ETH-F", "alice", "bob", W(1), W(2000))], W(2200))
    assert rejection_codes(r) == ["instrument_expired"]
    # the feed is back: prints every 300 s from E + 120; the window [t - 1800, t] is fresh at E + 1920
    for k in range(1, 6):
        r = run_to(engine, E + 120 + 300 * k, [], W(2200))
        assert events_of(r, ev.ContractSettled) == [] and events_of(r, ev.ExpiryWaiting) == []
    r = run_to(engine, E + 1920, [], W(2200))
    (done,) = [e for e in events_of(r, ev.ExpirySettled) if e.instrument == "ETH-F"]
    assert (done.price, done.window_start, done.window_end) == (W(2200), E + 120, E + 1920)
    settled = {e.account: e.amount for e in events_of(r, ev.ContractSettled)}
    assert settled == {"alice": W(200), "bob": W(-200)}
    _conserved(engine)


def test_covered_call_premium_and_portfolio_margin_equal_the_library() -> None:
    engine = options_engine()
    alice0, bob0 = balance(engine, "alice"), balance(engine, "bob")
    r = run_to(engine, engine.state.time + 60, [
        c.Trade("ETH-PERP", "alice", "keeper", W(1), W(2000)),
        c.TradeContract("ETH-C2200", "keeper", "alice", W(1), W("80.5")),  # alice writes the call
    ], W(2000))  # fmt: skip
    assert rejection_codes(r) == []
    state = engine.state
    tbl = state.contracts.tables["ETH"].table
    summary = cross_summary(state, state.accounts["alice"], fresh_price_lookup(state))
    expected = portfolio_margin(GRID, tbl, Portfolio(
        (OptionPosition("ETH-C2200", -W(1)),), (LinearPosition("ETH-PERP", W(1), W(2000)),)
    ))  # fmt: skip
    assert (summary.maintenance, summary.initial) == (expected.maintenance, expected.initial)
    mark = tbl.row("ETH-C2200").mark
    fee = W(2000) * W("0.0005") // 10**18  # alice was the perp's taker
    assert balance(engine, "alice") == alice0 + W("80.5") - fee
    assert summary.equity == balance(engine, "alice") + (-W(1) * mark) // 10**18  # perp at 2000: 0 P&L
    # the covered call needs less than the perp and the naked call margined apart
    naked = portfolio_margin(GRID, tbl, Portfolio((OptionPosition("ETH-C2200", -W(1)),)))
    perp = portfolio_margin(GRID, tbl, Portfolio((), (LinearPosition("ETH-PERP", W(1), W(2000)),)))
    assert expected.maintenance < naked.maintenance + perp.maintenance
    assert balance(engine, "bob") == bob0


def test_short_strangle_margin_and_an_undercollateralised_writer_is_refused() -> None:
    engine = options_engine()
    r = run_to(engine, engine.state.time + 60, [
        c.TradeContract("ETH-P1800", "keeper", "carol", W(1), W(40)),
        c.TradeContract("ETH-C2200", "keeper", "carol", W(1), W(80)),
        c.TradeContract("ETH-C2200", "keeper", "carol", W(40), W(80)),  # 2,000 USDC cannot carry 41 calls
    ], W(2000))  # fmt: skip
    assert rejection_codes(r) == ["insufficient_margin"]
    state = engine.state
    summary = cross_summary(state, state.accounts["carol"], fresh_price_lookup(state))
    tbl = state.contracts.tables["ETH"].table
    expected = portfolio_margin(GRID, tbl, Portfolio(
        (OptionPosition("ETH-C2200", -W(1)), OptionPosition("ETH-P1800", -W(1)))
    ))  # fmt: skip
    assert summary.maintenance == expected.maintenance > 0
    assert expected.contingency == 2 * W(2000) // 100  # 1 % of spot per net short strike
    assert balance(engine, "carol") == W(2000) + W(120)
    _conserved(engine)


def test_an_option_writer_cannot_withdraw_the_margin_of_its_shorts() -> None:
    engine = options_engine()
    trade = c.TradeContract("ETH-P2000", "keeper", "carol", W(4), W(40))
    run_to(engine, engine.state.time + 60, [trade], W(2000))
    state = engine.state
    summary = cross_summary(state, state.accounts["carol"], fresh_price_lookup(state))
    free = (summary.equity - summary.initial) // 10**12 * 10**12  # USDC has 6 decimals
    assert summary.initial > 0 and free > 0
    r = run_to(engine, engine.state.time + 60, [c.Withdraw("carol", USDC, free + 10**12)], W(2000))
    assert rejection_codes(r) == ["insufficient_margin"]  # one micro-USDC too many
    r = run_to(engine, engine.state.time + 60, [c.Withdraw("carol", USDC, free)], W(2000))
    assert rejection_codes(r) == []
    _conserved(engine)


def test_liquidation_takes_over_the_riskiest_leg_first() -> None:
    engine = options_engine()
    r = run_to(engine, engine.state.time + 60, [
        c.TradeContract("ETH-P1800", "keeper", "carol", W(5), W(40)),
        c.TradeContract("ETH-C2200", "keeper", "carol", W(1), W(80)),
    ], W(2000))  # fmt: skip
    assert rejection_codes(r) == []
    # a crash: the publisher's new table at 1650 with vol up; carol's short puts are deep in the money
    t = engine.state.time + 60
    r = run_to(engine, t, [c.SetScenarioTable("ETH", GRID, table(W(1650), t, vol=0.9)),
                           c.LiquidateContracts("carol", "keeper")], W(1650))
    assert rejection_codes(r) == []
    legs = events_of(r, ev.ContractLegLiquidated)
    assert legs[0].instrument == "ETH-P1800" and legs[0].size == -W(5)
    assert legs[0].price == engine.state.contracts.tables["ETH"].table.row("ETH-P1800").mark
    assert legs[0].penalty == W(5) * W(1650) // 10**18 // 100  # 1 % of |size| x index
    state = engine.state
    assert "ETH-P1800" not in state.accounts["keeper"].contracts  # its long 5 puts met carol's short 5
    if len(legs) == 1:  # one leg restored initial margin: the call stays with carol
        assert state.accounts["carol"].contracts["ETH-C2200"].size == -W(1)
        assert cross_summary(state, state.accounts["carol"], fresh_price_lookup(state)).meets_initial
    _conserved(engine)
    # nothing left to do: carol is not liquidatable any more (or has nothing left)
    r = run_to(engine, t + 60, [c.LiquidateContracts("carol", "keeper")], W(1650))
    assert rejection_codes(r) == ["not_liquidatable"]


def test_the_engine_enforces_an_options_account_through_the_backstop() -> None:
    params = msgspec.structs.replace(PARAMS, enforcement="backstop", backstop_liquidator="keeper")
    engine = options_engine(params)
    trade = c.TradeContract("ETH-P2000", "keeper", "carol", W(4), W(40))
    run_to(engine, engine.state.time + 60, [trade], W(2000))
    t = engine.state.time + 60
    r = run_to(engine, t, [c.SetScenarioTable("ETH", GRID, table(W(1500), t, vol=1.0))], W(1500))
    legs = events_of(r, ev.ContractLegLiquidated)
    assert [(e.account, e.liquidator, e.instrument) for e in legs] == [("carol", "keeper", "ETH-P2000")]
    assert "ETH-P2000" not in engine.state.accounts["carol"].contracts
    _conserved(engine)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=3),
    prices=st.lists(st.integers(1700, 2300), min_size=6, max_size=6),
    premium=st.integers(1, 300),
)
def test_value_is_conserved_from_trade_to_settlement(
    sizes: list[int], prices: list[int], premium: int
) -> None:
    engine = options_engine()
    txs: list[c.AnyCommand] = []
    pairs = [("alice", "bob"), ("bob", "carol"), ("keeper", "alice")]
    for (buyer, seller), n in zip(pairs, sizes, strict=False):
        size = n * W("0.01")
        txs += [c.TradeContract("ETH-F", buyer, seller, size, W(2000)),
                c.TradeContract("ETH-C2000", buyer, seller, size, W(premium)),
                c.TradeContract("ETH-P2100", seller, buyer, size, W(premium))]  # fmt: skip
    run_to(engine, engine.state.time + 60, txs, W(2000))
    _conserved(engine)
    _twap_blocks(engine, tuple(prices))
    r = run_to(engine, E, [], W(prices[-1]))
    _conserved(engine)
    done = events_of(r, ev.ExpirySettled)
    assert len(done) == len(engine.state.contracts.instruments)  # every listed instrument expired
    assert all(e.dust >= 0 for e in done)
    assert all(not a.contracts for a in engine.state.accounts.values())


def test_a_journal_with_options_replays_and_verifies() -> None:
    from clearhouse.journal.memory import MemoryJournalStore
    from clearhouse.journal.replay import verify_journal

    store = MemoryJournalStore()
    live = options_engine(journal=store)
    run_to(live, live.state.time + 60, [c.TradeContract("ETH-C2000", "alice", "bob", W(1), W(100)),
                                        c.TradeContract("ETH-F", "carol", "bob", W(1), W(2000))], W(2000))
    _twap_blocks(live)
    r = run_to(live, E, [], W(2000))
    assert len(events_of(r, ev.ContractSettled)) == 4
    report, replayed = verify_journal(store)
    assert report.ok and report.blocks == live.state.height
    assert report.final_root == live.state_root() == replayed.state_root()
    assert replayed.state.contracts == live.state.contracts


def test_contract_instrument_agrees_with_the_cross_summary_for_futures() -> None:
    from clearhouse.ledger.contracts import ContractPosition
    from clearhouse.ledger.instrument import Instrument
    from clearhouse.mechanisms.options.instrument import ContractInstrument

    engine = options_engine()
    trade = c.TradeContract("ETH-F", "dave", "bob", W(2), W(2000))  # dave: ETH collateral only, no options
    run_to(engine, engine.state.time + 60, [trade], W(2100))
    state = engine.state
    listing = state.contracts.instruments["ETH-F"]
    future: Instrument[ContractPosition] = ContractInstrument(listing, settlement_price=W(2150))
    pos = state.accounts["dave"].contracts["ETH-F"]
    summary = cross_summary(state, state.accounts["dave"], fresh_price_lookup(state))
    req = future.requirement(pos, W(2100))
    assert (req.initial, req.maintenance) == (summary.initial, summary.maintenance)
    assert future.value(pos, W(2100)) == W(200)  # (2100 - 2000) x 2
    assert future.settlement_owed(pos) == -W(300)  # it would receive (2150 - 2000) x 2
    assert future.sensitivities(pos, W(2100)).delta == W(2)
    call = ContractInstrument(state.contracts.instruments["ETH-C1900"], mark=W(150), settlement_price=W(2000))
    assert call.value(ContractPosition(-W(2)), W(2000)) == -W(300)
    assert call.settlement_owed(ContractPosition(-W(2))) == W(200)  # the writer pays (2000 - 1900) x 2


def test_report_mode_reports_an_options_account_without_touching_it() -> None:
    params = msgspec.structs.replace(PARAMS, enforcement="report", backstop_liquidator="keeper")
    engine = options_engine(params)
    trade = c.TradeContract("ETH-P2000", "keeper", "carol", W(4), W(40))
    run_to(engine, engine.state.time + 60, [trade], W(2000))
    t = engine.state.time + 60
    r = run_to(engine, t, [c.SetScenarioTable("ETH", GRID, table(W(1500), t, vol=1.0))], W(1500))
    reported = [(e.account, e.market) for e in events_of(r, ev.BelowMaintenance)]
    assert reported == [("carol", None)] and events_of(r, ev.ContractLegLiquidated) == []
    assert engine.state.accounts["carol"].contracts["ETH-P2000"].size == -W(4)


def test_an_option_without_a_table_row_cannot_be_traded_and_a_table_cannot_drop_a_held_option() -> None:
    from clearhouse.options.instruments import EuropeanOption, OptionKind

    engine = options_engine()
    late = EuropeanOption("ETH-C2500", "ETH", E, W("0.1"), W("0.01"), W("0.01"), option_kind=OptionKind.CALL,
                          strike=W(2500))  # fmt: skip
    r = run_to(engine, engine.state.time + 60, [
        c.ListContract(late),
        c.TradeContract("ETH-C2500", "alice", "bob", W(1), W(5)),  # no row in the table: cannot be margined
        c.TradeContract("ETH-C2000", "alice", "bob", W(1), W(50)),
    ], W(2000))  # fmt: skip
    assert rejection_codes(r) == ["unknown_market"]
    tbl = engine.state.contracts.tables["ETH"].table
    kept = tuple(o for o in tbl.options if o.instrument != "ETH-C2000")  # alice holds ETH-C2000
    dropped = msgspec.structs.replace(tbl, options=kept)
    r = run_to(engine, engine.state.time + 60, [c.SetScenarioTable("ETH", GRID, dropped)], W(2000))
    assert rejection_codes(r) == ["invalid_parameters"]
    _conserved(engine)


def test_a_halted_oracle_feed_holds_the_expiry_until_confirmed_and_fresh_again() -> None:
    from clearhouse.ledger.block import Block
    from clearhouse.options.instruments import DatedFuture
    from clearhouse.oracle import config as oc
    from clearhouse.oracle.reports import SourceReport

    engine = options_engine()
    sources = ("s1", "s2", "s3")
    feed = oc.FeedConfig("BTC", sources, oc.MedianConfig(), (oc.CircuitBreakerConfig(W("0.1"), 3600),),
                         report_max_age=600)  # fmt: skip
    btc = DatedFuture("BTC-F", "BTC", E, W(1), W("0.001"), W("0.001"))

    def block(t: int, price: int | None, txs: tuple[c.AnyCommand, ...] = ()):  # type: ignore[no-untyped-def]
        reports = () if price is None else tuple(SourceReport(s, "BTC", W(price), t) for s in sources)
        return engine.apply_block(Block(engine.state.height + 1, t, {"ETH": W(2000)}, txs, reports))

    t = engine.state.time + 60
    block(t, None, (c.ConfigureOracle(feed), c.ListContract(btc)))
    r = block(t + 60, 30_000, (c.TradeContract("BTC-F", "alice", "bob", W("0.1"), W(30_000)),))
    assert rejection_codes(r) == []
    for k in range(5):
        block(E - 1800 + 300 * k, 30_000)  # prints up to E - 600
    r = block(E - 300, 36_000)  # +20 %: the circuit breaker halts the feed
    assert [e.new for e in events_of(r, ev.OracleStateChanged)] == ["halted"]
    r = block(E + 60, 36_000)
    assert [(e.instrument, e.reason) for e in events_of(r, ev.ExpiryWaiting)] == [("BTC-F", "halted")]
    block(E + 120, 36_000, (c.ConfirmOracle("BTC"),))  # governance confirms the new level
    settled: list[ev.ExpirySettled] = []
    t = E + 420
    while not settled and t < E + 4 * 3600:
        r = block(t, 36_000)
        settled = [e for e in events_of(r, ev.ExpirySettled) if e.instrument == "BTC-F"]
        t += 300
    (done,) = settled
    # the expiry's own window had a halt and a stale end: it settles on the first clean window after it
    assert done.price == W(36_000) and done.window_start > E
    amounts = {e.account: e.amount for e in events_of(r, ev.ContractSettled) if e.instrument == "BTC-F"}
    assert amounts == {"alice": W(600), "bob": -W(600)}  # (36,000 - 30,000) x 0.1
    _conserved(engine)


def test_a_writer_past_bankruptcy_is_covered_by_the_insurance_fund() -> None:
    engine = options_engine()
    trade = c.TradeContract("ETH-P2000", "keeper", "carol", W(4), W(40))
    run_to(engine, engine.state.time + 60, [trade], W(2000))
    insurance = engine.state.pools.insurance[USDC]
    t = engine.state.time + 60  # a gap down to 1,000: each put is worth ~1,000, carol holds ~2,160
    r = run_to(engine, t, [c.SetScenarioTable("ETH", GRID, table(W(1000), t, vol=1.0)),
                           c.LiquidateContracts("carol", "keeper")], W(1000))
    assert rejection_codes(r) == []
    (leg,) = events_of(r, ev.ContractLegLiquidated)
    (used,) = events_of(r, ev.InsuranceFundUsed)
    assert used.account == "carol" and used.amount > 0
    assert engine.state.pools.insurance[USDC] == insurance - used.amount
    assert balance(engine, "carol") == 0 and not engine.state.accounts["carol"].contracts
    # the deficit the fund covered is what the takeover at the mark and the penalty left unpaid
    assert used.amount == -(W(2000) + W(160) - 4 * leg.price - leg.penalty)
    _conserved(engine)


def test_the_sequencer_grace_period_holds_liquidation_of_a_mildly_unhealthy_writer() -> None:
    from clearhouse.ledger.block import Block

    params = msgspec.structs.replace(PARAMS, sequencer_grace=3600)
    engine = options_engine(params)
    trade = c.TradeContract("ETH-P2000", "keeper", "carol", W(4), W(40))
    run_to(engine, engine.state.time + 60, [trade], W(2000))
    t = engine.state.time + 60
    engine.apply_block(Block(engine.state.height + 1, t, {"ETH": W(1900)}, (), sequencer_up=False))
    t += 60
    txs = (c.SetScenarioTable("ETH", GRID, table(W(1840), t)), c.LiquidateContracts("carol", "keeper"))
    r = engine.apply_block(Block(engine.state.height + 1, t, {"ETH": W(1840)}, txs, sequencer_up=True))
    state = engine.state
    health = cross_summary(state, state.accounts["carol"], fresh_price_lookup(state)).health
    assert health is not None and W("0.95") <= health < W(1)  # below maintenance, above the threshold
    assert rejection_codes(r) == ["oracle_action_refused"]
    t += 3660  # the grace period is over: the same liquidation goes through
    r = run_to(engine, t, [c.SetScenarioTable("ETH", GRID, table(W(1840), t)),
                           c.LiquidateContracts("carol", "keeper")], W(1840))
    assert rejection_codes(r) == [] and events_of(r, ev.ContractLegLiquidated)


def test_a_future_closed_in_part_realises_its_pnl_and_the_rest_settles() -> None:
    engine = options_engine()
    a0, b0, c0 = (balance(engine, n) for n in ("alice", "bob", "carol"))
    run_to(engine, engine.state.time + 60, [c.TradeContract("ETH-F", "alice", "bob", W(2), W(2000))], W(2000))
    r = run_to(engine, engine.state.time + 60, [c.TradeContract("ETH-F", "carol", "alice", W(1), W(2050))],
               W(2050))  # fmt: skip
    (traded,) = events_of(r, ev.ContractTraded)
    assert traded.seller_realised_pnl == W(50)  # alice sold 1 of her 2 at 2,050
    assert engine.state.accounts["alice"].contracts["ETH-F"] == msgspec.convert(
        [W(1), W(2000)], type=type(engine.state.accounts["alice"].contracts["ETH-F"])
    )
    assert engine.state.contracts.instruments["ETH-F"].pnl_pool == -W(50)
    _twap_blocks(engine, (2050,) * 6)
    r = run_to(engine, E, [], W(2050))
    settled = {e.account: e.amount for e in events_of(r, ev.ContractSettled)}
    assert settled == {"alice": W(50), "bob": -W(100), "carol": 0}
    assert balance(engine, "alice") - a0 == W(100) and balance(engine, "bob") - b0 == -W(100)
    assert balance(engine, "carol") == c0
    assert engine.state.contracts.instruments["ETH-F"].pnl_pool == 0
    _conserved(engine)
