"""Liquidate: dYdX-style prices, sizing, disposal paths and the loss waterfall, with worked integers.

Market: ETH-PERP, IM 10%, MM 5%, no trading fees; alice goes long 10 ETH at 1000 from bob on 1000
USDC of margin (exactly the initial requirement). ``keeper`` liquidates; ``vault`` is a backstop vault.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.liquidation.perp import (
    IllegalLiquidationTransition,
    Lifecycle,
    LiquidationConfig,
    Stage,
    bankruptcy_quote,
    fillable_price,
)

from .builders import PARAMS, T0, W, conservation_gap

E = W(1)
BASE = LiquidationConfig(
    partial=False, max_fee=W("0.015"), adl="off", socialise=False, use_backstop_pool=False
)


def venue(cfg: LiquidationConfig = BASE, insurance: int = 0, backstop: int = 0) -> Engine:
    from clearhouse.ledger.model import AssetSpec, MarketSpec

    spec = MarketSpec("ETH-PERP", "ETH", W("0.1"), W("0.05"), step_size=W("0.001"), liquidation=cfg)
    engine = Engine()
    txs: list[c.AnyCommand] = [
        c.SetLedgerParams(msgspec.structs.replace(PARAMS, max_price_age=10**6)),
        c.ListAsset(AssetSpec("USDC", decimals=6)),
        c.ListMarket(spec),
        *(c.OpenAccount(n, f"{i:064x}") for i, n in enumerate(("alice", "bob", "keeper", "vault", "carol"))),
        c.Deposit("alice", "USDC", W(1000)),
        c.Deposit("bob", "USDC", W(10_000)),
        c.Deposit("keeper", "USDC", W(100_000)),
        c.Deposit("vault", "USDC", W(100_000)),
        c.Deposit("carol", "USDC", W(100_000)),
    ]
    if insurance:
        txs.append(c.DepositInsurance("USDC", insurance))
    if backstop:
        txs.append(c.DepositBackstop("USDC", backstop))
    engine.apply_block(Block(1, T0, {"ETH": W(1000)}, tuple(txs)))
    result = engine.apply_block(
        Block(2, T0 + 60, {}, (c.Trade("ETH-PERP", "alice", "bob", 10 * E, W(1000)),))
    )
    assert not [e for e in result.events if isinstance(e, ev.TransactionRejected)]
    return engine


def run(
    engine: Engine, txs: tuple[c.AnyCommand, ...], price: int | None = None, dt: int = 60
) -> list[ev.Event]:
    s = engine.state
    prices = {"ETH": price} if price else {}
    events = list(engine.apply_block(Block(s.height + 1, s.time + dt, prices, txs)).events)
    for asset in ("USDC",):
        assert conservation_gap(engine.state, asset) == 0
    return events


def only(events: list[ev.Event], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


def codes(events: list[ev.Event]) -> list[str]:
    return [e.code for e in events if isinstance(e, ev.TransactionRejected)]


# -- prices -------------------------------------------------------------------------------------------


def test_fillable_price_worsens_as_health_falls() -> None:
    # long 10 at index 1000, MM 5% -> TMMR 500
    assert fillable_price(10 * E, W(1000), W("0.05"), W(500), W(500), E, E) == W(1000)  # health 1
    assert fillable_price(10 * E, W(1000), W("0.05"), W(250), W(500), E, E) == W(975)  # ABR 0.5
    assert fillable_price(10 * E, W(1000), W("0.05"), W(-1), W(500), E, E) == W(950)  # ABR capped at 1
    assert fillable_price(-10 * E, W(1000), W("0.05"), W(250), W(500), E, E) == W(1025)  # short pays up
    assert fillable_price(10 * E, W(1000), W("0.05"), W(600), W(500), E, E) == W(1000)  # healthy: oracle


def test_bankruptcy_quote_keeps_the_proportional_equity() -> None:
    # long 10 at 1000, TNC 100, TMMR 500: selling all must bring 10000 - 100 = 9900 (price 990)
    assert bankruptcy_quote(10 * E, 10 * E, W(1000), W(500), W(100), W(500)) == W(9900)
    # half of it: 5000 - 100 x 250/500 = 4950
    assert bankruptcy_quote(10 * E, 5 * E, W(1000), W(250), W(100), W(500)) == W(4950)
    # negative equity: the sale must bring more than market value (9900 + 100 = 10100)
    assert bankruptcy_quote(10 * E, 10 * E, W(1000), W(500), W(-100), W(500)) == W(10_100)
    # a short buying back pays at most 10000 + 100
    assert bankruptcy_quote(-10 * E, 10 * E, W(1000), W(500), W(100), W(500)) == -W(10_100)
    # rounding: an equity share of 1/3 unit is floored, so the account must receive one unit more
    assert bankruptcy_quote(10 * E, 10 * E, W(1000), 1, 1, 3) == W(10_000)


# -- keeper takeover -----------------------------------------------------------------------------------


def test_keeper_takeover_at_the_fillable_price_with_fee_to_the_insurance_fund() -> None:
    engine = venue()
    assert codes(run(engine, (c.Liquidate("alice", "keeper"),), W(950))) == ["not_liquidatable"]
    events = run(engine, (c.Liquidate("alice", "keeper"),), W(940))
    (liq,) = only(events, ev.PositionLiquidated)
    # TNC = 1000 - 600 = 400, TMMR = 470: ABR = 70/470, fillable = 940 x (1 - 70/470 x 5%) = 933.
    # Bankruptcy: 9400 - 400 = 9000. Fill 9330 beats it by 330; the fund takes min(330, 1.5% x 9400).
    assert (liq.fill_price, liq.bankruptcy_quote, liq.fill_quote) == (W(933), W(9000), W(9330))
    assert liq.insurance_fee == W(141) and liq.shortfall == 0 and liq.closed == 10 * E
    assert liq.stages == ("checked", "sized", "filled", "settled")
    s = engine.state
    assert s.accounts["alice"].balances["USDC"] == W(1000 - 670 - 141)
    assert "ETH-PERP" not in s.accounts["alice"].positions
    keeper = s.accounts["keeper"].positions["ETH-PERP"]
    assert (keeper.size, keeper.entry_value) == (10 * E, W(9330))
    assert s.pools.insurance["USDC"] == W(141)


def test_partial_liquidation_restores_initial_margin_with_the_buffer() -> None:
    cfg = msgspec.structs.replace(BASE, partial=True, buffer=W("0.1"))
    engine = venue(cfg)
    (liq,) = only(run(engine, (c.Liquidate("alice", "keeper"),), W(940)), ev.PositionLiquidated)
    assert 0 < liq.closed < 10 * E and liq.remaining == 10 * E - liq.closed
    m = engine.margin("alice")
    assert m.equity * E >= m.initial * W("1.1")  # restored IM x 1.1
    # ...and not by much more than one size step's worth
    step_im = W("0.001") * 940 * W("0.1") // E
    assert m.equity * E < (m.initial + 2 * step_im) * W("1.1") + W(20) * E


def test_dust_remainders_are_closed_too() -> None:
    cfg = msgspec.structs.replace(BASE, partial=True, dust_notional=W(5000))
    (liq,) = only(run(venue(cfg), (c.Liquidate("alice", "keeper"),), W(940)), ev.PositionLiquidated)
    assert liq.closed == 10 * E


def test_large_positions_close_stepwise_with_a_cooldown() -> None:
    cfg = msgspec.structs.replace(BASE, step_notional=W(1000), step_fraction=W("0.2"), cooldown=30)
    engine = venue(cfg)
    (first,) = only(run(engine, (c.Liquidate("alice", "keeper"),), W(940)), ev.PositionLiquidated)
    assert first.closed == 2 * E
    assert codes(run(engine, (c.Liquidate("alice", "keeper"),), dt=10)) == ["liquidation_cooldown"]
    (second,) = only(run(engine, (c.Liquidate("alice", "keeper"),), dt=30), ev.PositionLiquidated)
    assert second.closed == W("1.6")  # 20% of the remaining 8


# -- loss waterfall ------------------------------------------------------------------------------------


def test_shortfall_goes_through_insurance_then_backstop_then_socialised() -> None:
    cfg = msgspec.structs.replace(BASE, use_backstop_pool=True, socialise=True, withdrawal_gate_blocks=5)
    engine = venue(cfg, insurance=W(100), backstop=W(200))
    events = run(engine, (c.Liquidate("alice", "keeper"),), W(890))
    (liq,) = only(events, ev.PositionLiquidated)
    # TNC = -100 -> ABR 1: fillable 890 x 0.95 = 845.5; bankruptcy 8900 + 100 = 9000: shortfall 545.
    assert (liq.fill_quote, liq.bankruptcy_quote, liq.shortfall) == (W(8455), W(9000), W(545))
    assert liq.stages == ("checked", "sized", "filled", "insurance", "backstop", "socialised", "settled")
    assert only(events, ev.InsuranceFundUsed) == [ev.InsuranceFundUsed("alice", "USDC", W(100))]
    assert only(events, ev.BackstopPoolUsed) == [ev.BackstopPoolUsed("alice", "USDC", W(200))]
    assert only(events, ev.BadDebtSocialised) == [ev.BadDebtSocialised("alice", "ETH-PERP", W(245), 1)]
    s = engine.state
    # alice ends at exactly zero; bob (the only short) carries the 245 through his cost basis.
    assert s.accounts["alice"].balances["USDC"] == 0
    assert s.accounts["bob"].positions["ETH-PERP"].entry_value == -W(10_000) + W(245)
    gate = only(events, ev.WithdrawalsGated)[0].until_height
    assert codes(run(engine, (c.Withdraw("bob", "USDC", E),))) == ["withdrawals_gated"]
    while engine.state.height <= gate:
        run(engine, ())
    assert codes(run(engine, (c.Withdraw("bob", "USDC", E),))) == []


def test_unabsorbed_shortfall_is_reported_as_bad_debt() -> None:
    engine = venue(insurance=W(100))
    events = run(engine, (c.Liquidate("alice", "keeper"),), W(890))
    assert only(events, ev.BadDebtRecorded) == [ev.BadDebtRecorded("alice", "USDC", W(445))]
    assert engine.state.pools.bad_debt == {"USDC": W(445)}
    assert engine.state.accounts["alice"].balances["USDC"] == -W(445)


def test_insurance_caps_per_account() -> None:
    cfg = msgspec.structs.replace(BASE, insurance_cap_per_account=W(50))
    events = run(venue(cfg, insurance=W(1000)), (c.Liquidate("alice", "keeper"),), W(890))
    assert only(events, ev.InsuranceFundUsed)[0].amount == W(50)
    assert only(events, ev.BadDebtRecorded)[0].amount == W(495)


@pytest.mark.parametrize("ranking", ["profit_leverage", "pro_rata"])
def test_adl_closes_against_profitable_shorts_at_the_bankruptcy_price(ranking: str) -> None:
    cfg = msgspec.structs.replace(BASE, adl=ranking)
    engine = venue(cfg)
    # carol also shorts 10 (entry 990) so there are two profitable shorts to rank.
    run(engine, (c.Deposit("alice", "USDC", W(2000)), c.Trade("ETH-PERP", "alice", "carol", 10 * E, W(990))))
    events = run(engine, (c.Liquidate("alice", "keeper"),), W(800))
    (liq,) = only(events, ev.PositionLiquidated)
    assert (
        liq.disposal == "adl" and liq.shortfall == 0 and liq.stages == ("checked", "sized", "adl", "settled")
    )
    dl = only(events, ev.PositionDeleveraged)
    assert sum(d.size for d in dl) == liq.closed and sum(d.quote for d in dl) == abs(liq.bankruptcy_quote)
    if ranking == "profit_leverage":
        assert dl[0].counterparty == "bob"  # bob: more profit per unit of equity than carol
    else:
        assert {d.counterparty: d.size for d in dl} == {"bob": liq.closed // 2, "carol": liq.closed // 2}
    assert engine.state.pools.bad_debt == {}


def test_adl_without_a_profitable_opposite_position_is_refused_and_changes_nothing() -> None:
    engine = venue(msgspec.structs.replace(BASE, adl="profit_leverage"))
    # bob buys his short back from carol at 800 (the index then: fills must be inside the price band):
    # the only short left (carol's) loses as ETH is above 800.
    run(engine, (c.Trade("ETH-PERP", "bob", "carol", 10 * E, W(800)),), W(800))
    accounts = {a: acct.clone() for a, acct in engine.state.accounts.items()}
    events = run(engine, (c.Liquidate("alice", "keeper"),), W(890))
    assert codes(events) == ["adl_unavailable"]
    assert engine.state.accounts == accounts


def test_backstop_vault_takes_the_bucket_at_the_bankruptcy_price() -> None:
    cfg = msgspec.structs.replace(
        BASE, disposal="backstop_vault", vault_account="vault", vault_health=W("0.667")
    )
    engine = venue(cfg)
    # health 400/470 = 0.85 > 2/3: the keeper path
    (keeper,) = only(run(venue(cfg), (c.Liquidate("alice", "keeper"),), W(940)), ev.PositionLiquidated)
    assert keeper.disposal == "keeper_takeover"
    # at 920: TNC 200, TMMR 460 -> 0.43 < 2/3: the vault takes all 10 at 9200 - 200 = 9000
    (liq,) = only(run(engine, (c.Liquidate("alice", "keeper"),), W(920)), ev.PositionLiquidated)
    assert (liq.disposal, liq.liquidator, liq.fill_quote, liq.closed) == ("vault", "vault", W(9000), 10 * E)
    assert engine.state.accounts["alice"].balances["USDC"] == 0
    assert engine.state.accounts["vault"].positions["ETH-PERP"].entry_value == W(9000)


# -- adversaries -----------------------------------------------------------------------------------------


def test_liquidating_a_healthy_account_or_oneself_is_refused() -> None:
    engine = venue()
    assert codes(run(engine, (c.Liquidate("alice", "keeper"),), W(990))) == ["not_liquidatable"]
    assert codes(run(engine, (c.Liquidate("alice", "alice"),), W(900))) == ["self_trade"]
    assert codes(run(engine, (c.Liquidate("carol", "keeper"),))) == ["not_liquidatable"]


def test_self_liquidation_through_a_second_account_is_not_profitable() -> None:
    engine = venue()
    owner_before = (
        engine.state.accounts["alice"].balances["USDC"] + engine.state.accounts["keeper"].balances["USDC"]
    )
    run(engine, (c.Liquidate("alice", "keeper"),), W(940))
    s = engine.state
    # alice + keeper (same owner) at the oracle price after: the keeper's position is worth 9400.
    keeper_pos = s.accounts["keeper"].positions["ETH-PERP"]
    owner_after = (
        s.accounts["alice"].balances["USDC"]
        + s.accounts["keeper"].balances["USDC"]
        + keeper_pos.size * 940
        - keeper_pos.entry_value
    )
    # before, alice's position was worth -600 at 940: the pair loses exactly the insurance fee.
    assert owner_after == owner_before - W(600) - W(141)


def test_lifecycle_refuses_illegal_transitions() -> None:
    life = Lifecycle()
    life.advance(Stage.SIZED)
    life.advance(Stage.FILLED)
    with pytest.raises(IllegalLiquidationTransition):
        life.advance(Stage.ADL)  # ADL replaces the fill; it cannot follow it
    life.advance(Stage.INSURANCE)
    with pytest.raises(IllegalLiquidationTransition):
        life.advance(Stage.INSURANCE)


@settings(max_examples=40, deadline=None)
@given(
    price=st.integers(700, 960),
    partial=st.booleans(),
    adl=st.sampled_from(["off", "profit_leverage", "pro_rata"]),
    socialise=st.booleans(),
    insurance=st.integers(0, 500),
)
def test_liquidations_conserve_value_and_never_enrich_accounts(
    price: int, partial: bool, adl: str, socialise: bool, insurance: int
) -> None:
    cfg = msgspec.structs.replace(BASE, partial=partial, adl=adl, socialise=socialise)  # type: ignore[arg-type]
    engine = venue(cfg, insurance=W(insurance))
    run(engine, (), W(price))

    def accounts_value() -> int:
        s = engine.state
        total = 0
        for a in s.accounts.values():
            total += a.balances.get("USDC", 0)
            for p in a.positions.values():
                total += p.size * price - p.entry_value
        return total

    before = accounts_value()
    events = run(engine, (c.Liquidate("alice", "keeper"),))
    assert conservation_gap(engine.state, "USDC") == 0  # to the last unit
    after = accounts_value()
    fee = sum(e.insurance_fee for e in only(events, ev.PositionLiquidated))
    used = sum(e.amount for e in only(events, ev.InsuranceFundUsed))
    # accounts as a whole gain only what the insurance fund paid in, and lose the fee it took
    assert after == before - fee + used


def test_insurance_cap_per_account_holds_across_liquidations_in_one_block() -> None:
    """The cap is per account per block: alice's two positions liquidated in one block draw at most 50
    from the fund between them (before the fix each call could draw 50)."""
    from clearhouse.ledger.model import MarketSpec

    cfg = msgspec.structs.replace(BASE, insurance_cap_per_account=W(50))
    engine = venue(cfg, insurance=W(1000))
    btc = MarketSpec("BTC-PERP", "BTC", W("0.1"), W("0.05"), step_size=W("0.001"), liquidation=cfg)
    s = engine.state
    txs = (c.ListMarket(btc), c.Deposit("alice", "USDC", W(1000)),
           c.Trade("BTC-PERP", "alice", "bob", 10 * E, W(1000)))  # fmt: skip
    opened = engine.apply_block(Block(s.height + 1, s.time + 60, {"BTC": W(1000)}, txs))
    assert codes(list(opened.events)) == []
    crash = {"ETH": W(800), "BTC": W(800)}
    both = (c.Liquidate("alice", "keeper", "ETH-PERP"), c.Liquidate("alice", "keeper", "BTC-PERP"))
    events = list(engine.apply_block(Block(s.height + 1, s.time + 60, crash, both)).events)
    assert codes(events) == []
    used = only(events, ev.InsuranceFundUsed)
    assert [u.amount for u in used] == [W(50)]  # the second liquidation finds the account's cap used
    assert sum(e.amount for e in only(events, ev.BadDebtRecorded)) > 0
    assert conservation_gap(engine.state, "USDC") == 0
