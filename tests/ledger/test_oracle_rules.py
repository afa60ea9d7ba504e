"""The oracle layer wired into blocks: feeds aggregate reports, and each state's rule really blocks.

ETH is priced by a feed over three sources (median, reports fresh for 600 s, a circuit breaker on
moves above 30% within 10 minutes). End to end through ``Engine.apply_block``.
"""

from __future__ import annotations

import pytest

from clearhouse.journal import open_store
from clearhouse.journal.replay import verify_journal
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.errors import InvalidValue, UnknownAsset
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec
from clearhouse.oracle.config import CircuitBreakerConfig, FeedConfig, MedianConfig
from clearhouse.oracle.errors import DuplicateReport
from clearhouse.oracle.reports import SourceReport
from clearhouse.oracle.states import OracleState

E = WAD
T0 = 10_000
SOURCES = ("binance", "coinbase", "kraken")
FEED = FeedConfig(
    asset="ETH",
    sources=SOURCES,
    aggregator=MedianConfig(),
    policies=(CircuitBreakerConfig(max_move=3 * E // 10, interval=600),),
    report_max_age=600,
)
MARKET = MarketSpec(
    "ETH-PERP", "ETH", initial_margin=E // 10, maintenance_margin=E // 20, liquidation_fee=E // 100
)


def reports(t: int, *prices: int) -> tuple[SourceReport, ...]:
    return tuple(SourceReport(s, "ETH", p * E, t) for s, p in zip(SOURCES, prices, strict=False))


class Venue:
    def __init__(self, journal: str | None = None) -> None:
        self.store = open_store(journal) if journal else None
        self.engine = Engine(journal=self.store)
        self.t = T0
        self.block(
            [
                c.SetLedgerParams(LedgerParams("USDC", max_price_age=3600)),
                c.ListAsset(AssetSpec("USDC", decimals=6)),
                c.ConfigureOracle(FEED),
                c.ListMarket(MARKET),
                *(c.OpenAccount(n, f"{i:064x}") for i, n in enumerate(("alice", "bob", "keeper"))),
                c.Deposit("alice", "USDC", 1_000 * E),
                c.Deposit("bob", "USDC", 10_000 * E),
                c.Deposit("keeper", "USDC", 100_000 * E),
            ]
        )

    def block(
        self, txs: list[c.AnyCommand], reps: tuple[SourceReport, ...] = (), dt: int = 60
    ) -> list[ev.Event]:
        state = self.engine.state
        self.t = state.time + dt if state.height else self.t
        return list(self.engine.apply_block(Block(state.height + 1, self.t, {}, tuple(txs), reps)).events)

    def feed_state(self) -> OracleState:
        return self.engine.state.oracles["ETH"].state


def codes(events: list[ev.Event]) -> list[str]:
    return [e.code for e in events if isinstance(e, ev.TransactionRejected)]


def test_feed_starts_stale_and_refuses_new_positions_until_fresh_reports() -> None:
    v = Venue()
    assert v.feed_state() is OracleState.STALE
    # A feed that never published has no price at all: nothing can be margined against it.
    assert codes(v.block([c.Trade("ETH-PERP", "alice", "bob", E, 2000 * E)])) == ["missing_price"]
    events = v.block([c.Trade("ETH-PERP", "alice", "bob", E, 2000 * E)], reports(v.t + 60, 1999, 2000, 2003))
    assert events[0] == ev.OracleStateChanged("ETH", "stale", "fresh", v.engine.state.oracles["ETH"].reason)
    assert isinstance(events[1], ev.Traded)
    assert v.engine.state.prices["ETH"] == (2000 * E, v.t)  # the median of the three


def test_stale_feed_blocks_opening_and_withdrawing_but_allows_reducing() -> None:
    v = Venue()
    v.block([c.Trade("ETH-PERP", "alice", "bob", 2 * E, 2000 * E)], reports(v.t + 60, 2000, 2000, 2000))
    # No reports for more than report_max_age (600 s): the feed goes stale.
    events = v.block([], dt=700)
    assert any(isinstance(e, ev.OracleStateChanged) and e.new == "stale" for e in events)
    before = v.engine.state_root()
    events = v.block(
        [
            c.Trade("ETH-PERP", "alice", "bob", E, 2000 * E),  # adds risk for both: refused
            c.Withdraw("alice", "USDC", E),  # withdrawal against a stale price: refused
            c.Trade("ETH-PERP", "bob", "alice", E, 2000 * E),  # both reduce: allowed
        ]
    )
    assert codes(events) == ["oracle_action_refused", "oracle_action_refused"]
    assert isinstance(events[-1], ev.Traded)
    assert v.engine.state.accounts["alice"].positions["ETH-PERP"].size == E
    assert v.engine.state_root() != before


def test_one_manipulated_source_cannot_trigger_a_close_out() -> None:
    v = Venue()
    v.block([c.Trade("ETH-PERP", "alice", "bob", 4 * E, 2000 * E)], reports(v.t + 60, 2000, 2000, 2000))
    # One venue prints 1000 (-50%): the median stays at 2000, alice stays healthy.
    events = v.block([c.CloseOut("alice", "keeper")], reports(v.t + 60, 1000, 2000, 2001))
    assert codes(events) == ["not_liquidatable"]
    assert v.engine.state.prices["ETH"][0] == 2000 * E


def test_circuit_breaker_halts_liquidations_until_confirmed() -> None:
    v = Venue()
    v.block([c.Trade("ETH-PERP", "alice", "bob", 4 * E, 2000 * E)], reports(v.t + 60, 2000, 2000, 2000))
    # All sources print -40% at once: the breaker halts the feed; nothing is enforced at that price.
    events = v.block([c.CloseOut("alice", "keeper")], reports(v.t + 60, 1200, 1200, 1200))
    assert v.feed_state() is OracleState.HALTED
    assert codes(events) == ["oracle_action_refused"]
    assert v.engine.state.accounts["alice"].positions["ETH-PERP"].size == 4 * E
    # Governance confirms the new level; the next reports are acted on and alice is closed out.
    v.block([c.ConfirmOracle("ETH")])
    events = v.block([c.CloseOut("alice", "keeper")], reports(v.t + 60, 1200, 1200, 1200))
    assert v.feed_state() is OracleState.FRESH
    assert any(isinstance(e, ev.PositionClosedOut) for e in events)


def test_bad_reports_reject_the_whole_block() -> None:
    v = Venue()
    root, height = v.engine.state_root(), v.engine.state.height
    dup = (*reports(v.t + 60, 2000, 2000), SourceReport("binance", "ETH", 2001 * E, v.t + 60))
    with pytest.raises(DuplicateReport):
        v.block([c.Deposit("alice", "USDC", E)], dup)
    with pytest.raises(UnknownAsset):
        v.block([], (SourceReport("binance", "BTC", 2 * E, v.t + 60),))
    with pytest.raises(InvalidValue):
        v.engine.apply_block(Block(height + 1, v.t + 60, {"ETH": 2000 * E}))  # ETH has a feed
    assert (v.engine.state_root(), v.engine.state.height) == (root, height)
    assert v.feed_state() is OracleState.STALE


def test_oracle_blocks_replay_from_the_journal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    v = Venue(str(tmp_path / "j.sqlite"))
    v.block([c.Trade("ETH-PERP", "alice", "bob", 4 * E, 2000 * E)], reports(v.t + 60, 2000, 2001, 1999))
    v.block([], reports(v.t + 60, 1200, 1200, 1200))
    v.block([c.ConfirmOracle("ETH")])
    v.block([c.CloseOut("alice", "keeper")], reports(v.t + 60, 1200, 1201, 1199))
    assert v.store is not None
    report, replayed = verify_journal(v.store)
    assert report.ok and report.final_root == v.engine.state_root() == replayed.state_root()


# -- Aave's sequencer sentinel and Drift's TWAP divergence guard, through blocks -------------------


def sentinel_venue(**market_overrides: object) -> Engine:
    import msgspec

    from .builders import ETH_PERP, PARAMS, genesis_engine

    params = msgspec.structs.replace(PARAMS, sequencer_grace=3600)
    market = msgspec.structs.replace(ETH_PERP, **market_overrides)
    prices = {"ETH": 2000 * E, "ETH-TWAP": 2000 * E}
    engine = genesis_engine(params=params, markets=(market,), prices=prices)
    s = engine.state
    # carol: 2000 USDC, long 9 ETH at 2000 (IM 1800 after the 9 USDC taker fee... 0.05%: 9)
    engine.apply_block(
        Block(s.height + 1, s.time + 60, prices, (c.Trade("ETH-PERP", "carol", "keeper", 9 * E, 2000 * E),))
    )
    return engine


def apply(
    engine: Engine, txs: tuple[c.AnyCommand, ...], prices: dict[str, int], up: bool = True
) -> list[ev.Event]:
    s = engine.state
    return list(engine.apply_block(Block(s.height + 1, s.time + 600, prices, txs, sequencer_up=up)).events)


def test_sequencer_grace_allows_only_deep_liquidations_and_no_new_risk() -> None:
    engine = sentinel_venue()
    apply(engine, (), {"ETH": 2000 * E}, up=False)
    events = apply(engine, (), {"ETH": 2000 * E}, up=True)
    assert ev.SequencerStatusChanged(True) in events
    # ETH 1812: carol's equity 1991 - 1692 = 299 vs MM 815.4: health 0.37 < 0.95 -> allowed even in grace.
    # ETH 1890: equity 1001 vs MM 850.5: healthy. ETH 1870: equity 821 vs MM 841.5: health 0.976.
    assert codes(apply(engine, (c.CloseOut("carol", "keeper"),), {"ETH": 1870 * E})) == [
        "oracle_action_refused"
    ]
    assert codes(apply(engine, (c.Trade("ETH-PERP", "alice", "bob", E, 1870 * E),), {"ETH": 1870 * E})) == [
        "oracle_action_refused"
    ]
    events = apply(engine, (c.CloseOut("carol", "keeper"),), {"ETH": 1812 * E})
    assert any(isinstance(e, ev.PositionClosedOut) for e in events)


def test_sequencer_grace_ends_after_the_period() -> None:
    engine = sentinel_venue()
    apply(engine, (), {"ETH": 2000 * E}, up=False)
    apply(engine, (), {"ETH": 2000 * E}, up=True)
    for _ in range(6):
        apply(engine, (), {"ETH": 2000 * E})  # 6 x 600 s = the 3600 s grace
    events = apply(engine, (c.CloseOut("carol", "keeper"),), {"ETH": 1870 * E})
    assert any(isinstance(e, ev.PositionClosedOut) for e in events)


def test_liquidation_refused_while_index_and_twap_diverge() -> None:
    engine = sentinel_venue(twap_oracle="ETH-TWAP", max_twap_divergence=E // 20)
    # index 1800 vs TWAP 2000: 10% apart > 5% -> refused although carol is below maintenance
    refused = apply(engine, (c.CloseOut("carol", "keeper"),), {"ETH": 1800 * E, "ETH-TWAP": 2000 * E})
    assert codes(refused) == ["oracle_action_refused"]
    allowed = apply(engine, (c.CloseOut("carol", "keeper"),), {"ETH": 1800 * E, "ETH-TWAP": 1850 * E})
    assert any(isinstance(e, ev.PositionClosedOut) for e in allowed)
