"""Worked numeric examples: every transaction with hand-computed expected integers.

Market used throughout: ETH-PERP, IM 10%, MM 5%, taker 0.1%, maker 0.05%, close-out penalty 1% of
notional split 50/50 between liquidator and insurance fund; USDC settles; ETH collateral haircut 80%.
"""

from __future__ import annotations

import msgspec
import pytest

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.fixedpoint import RAY, WAD
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec

T0 = 1_000_000
E = 10**18  # one whole unit in WAD, used to write expected values legibly

SPEC = MarketSpec(
    id="ETH-PERP",
    oracle="ETH",
    initial_margin=WAD // 10,
    maintenance_margin=WAD // 20,
    taker_fee=WAD // 1000,
    maker_fee=WAD // 2000,
    liquidation_fee=WAD // 100,
    liquidator_share=WAD // 2,
    step_size=E // 1000,
)


def key(i: int) -> str:
    return f"{i:064x}"


class Book:
    """An engine after genesis with alice, bob, carol and keeper funded; blocks 60 s apart."""

    def __init__(self, spec: MarketSpec = SPEC, eth_price: int = 1500 * E) -> None:
        self.engine = Engine()
        self.time = T0
        self.run(
            [
                c.SetLedgerParams(LedgerParams("USDC", max_price_age=3600)),
                c.ListAsset(AssetSpec("USDC", decimals=6)),
                c.ListAsset(AssetSpec("ETH", haircut=8 * WAD // 10)),
                c.ListMarket(spec),
                *(c.OpenAccount(n, key(i)) for i, n in enumerate(("alice", "bob", "carol", "keeper"))),
                c.DepositInsurance("USDC", 100 * E),
                c.Deposit("alice", "USDC", 1000 * E),
                c.Deposit("bob", "USDC", 1000 * E),
                c.Deposit("keeper", "USDC", 100_000 * E),
            ],
            prices={"ETH": eth_price},
        )

    def run(
        self, txs: list[c.AnyCommand], prices: dict[str, int] | None = None, dt: int = 60
    ) -> list[ev.Event]:
        state = self.engine.state
        self.time = state.time + dt if state.height else self.time
        block = Block(state.height + 1, self.time, prices or {}, tuple(txs))
        return list(self.engine.apply_block(block).events)

    @property
    def state(self):  # type: ignore[no-untyped-def]
        return self.engine.state

    def bal(self, account: str, asset: str = "USDC") -> int:
        return self.state.accounts[account].balances.get(asset, 0)

    def pos(self, account: str, market: str = "ETH-PERP"):  # type: ignore[no-untyped-def]
        return self.state.accounts[account].positions[market]


def rejected(events: list[ev.Event]) -> list[str]:
    return [e.code for e in events if isinstance(e, ev.TransactionRejected)]


def test_deposit_credits_balance_and_conservation_totals() -> None:
    book = Book()
    events = book.run([c.Deposit("carol", "ETH", 2 * E), c.Deposit("carol", "USDC", 5 * E // 2)])
    assert events == [ev.Deposited("carol", "ETH", 2 * E), ev.Deposited("carol", "USDC", 5 * E // 2)]
    assert book.bal("carol", "ETH") == 2 * E
    assert book.state.deposited == {"USDC": 102_100 * E + 5 * E // 2, "ETH": 2 * E}
    # ETH at 1500 with an 80% haircut: 2 x 1500 x 0.8 = 2400, plus 2.5 USDC.
    assert book.engine.margin("carol").equity == 2402 * E + E // 2


def test_trade_opens_positions_charges_taker_and_maker_fees() -> None:
    book = Book()
    events = book.run([c.Trade("ETH-PERP", "alice", "bob", 2 * E, 1500 * E, taker="buyer")])
    # notional 2 x 1500 = 3000; taker 0.1% = 3, maker 0.05% = 1.5
    assert events == [
        ev.Traded("ETH-PERP", "alice", "bob", 2 * E, 1500 * E, 3000 * E, 3 * E, 3 * E // 2, 0, 0)
    ]
    assert (book.pos("alice").size, book.pos("alice").entry_value) == (2 * E, 3000 * E)
    assert (book.pos("bob").size, book.pos("bob").entry_value) == (-2 * E, -3000 * E)
    assert book.bal("alice") == 997 * E
    assert book.bal("bob") == 998 * E + E // 2
    assert book.state.pools.fees == {"USDC": 4 * E + E // 2}
    assert book.state.markets["ETH-PERP"].open_interest == 2 * E
    m = book.engine.margin("alice")
    # IM = 2 x 1500 x 10% = 300, MM = 150, equity = 997 (no PnL at the trade price = index)
    assert (m.equity, m.initial, m.maintenance) == (997 * E, 300 * E, 150 * E)
    assert m.health == 997 * E // 150


def test_reducing_trade_realises_pnl_pro_rata_to_the_cost_basis() -> None:
    book = Book()
    book.run([c.Trade("ETH-PERP", "alice", "bob", 2 * E, 1500 * E)])
    events = book.run(
        [c.Trade("ETH-PERP", "bob", "alice", E // 2, 1600 * E, taker="seller")], prices={"ETH": 1600 * E}
    )
    traded = events[0]
    assert isinstance(traded, ev.Traded)
    # alice sells 0.5 of 2 at 1600: basis 3000 x 0.5/2 = 750, proceeds 800 -> +50; bob the mirror -50.
    assert (traded.seller_realised_pnl, traded.buyer_realised_pnl) == (50 * E, -50 * E)
    assert book.pos("alice").entry_value == 2250 * E
    assert book.pos("bob").entry_value == -2250 * E
    # alice: 997 + 50 - taker fee 0.8 = 1046.2; bob: 998.5 - 50 - maker fee 0.4 = 948.1
    assert book.bal("alice") == 1046 * E + E // 5
    assert book.bal("bob") == 948 * E + E // 10
    assert book.state.markets["ETH-PERP"].pnl_pool == 0


def test_flipping_trade_closes_then_opens_the_remainder() -> None:
    book = Book()
    book.run([c.Trade("ETH-PERP", "alice", "bob", 3 * E // 2, 1500 * E)])  # alice long 1.5 @ 1500
    events = book.run(
        [c.Trade("ETH-PERP", "bob", "alice", 5 * E // 2, 1600 * E, taker="buyer")], prices={"ETH": 1600 * E}
    )
    traded = events[0]
    assert isinstance(traded, ev.Traded)
    # notional 4000; closed 1.5 of 2.5 -> 2400 against basis 2250: +150; remainder short 1 @ 1600.
    assert traded.seller_realised_pnl == 150 * E
    assert (book.pos("alice").size, book.pos("alice").entry_value) == (-E, -1600 * E)
    assert (book.pos("bob").size, book.pos("bob").entry_value) == (E, 1600 * E)
    assert book.state.markets["ETH-PERP"].open_interest == E


def test_funding_accrues_through_the_index_and_settles_lazily() -> None:
    # A 10 % price band admits the 1500 fill at index 1600; no minimum notional lets it set the mark.
    spec = msgspec.structs.replace(
        SPEC, funding_interest=8 * WAD // 10_000, price_band=WAD // 10, mark_min_notional=0
    )
    book = Book(spec)
    book.run([c.Trade("ETH-PERP", "alice", "bob", 2 * E, 1500 * E)], prices={"ETH": 1600 * E})
    # Next block one hour later. The interval's fills (1500) are the venue leg of the mark; the basis
    # EMA last recorded 0 (the genesis interval had no fills, read as the index) and the -100 recorded
    # now has no weight yet, so the mark is mean(1600 + 0, 1500) = 1550: premium -3.125%, clamp
    # 6 x 5% = 30%, rate = -0.03125 + 0.0008 = -0.03045 per 8 h. Index moves by rate x 1600 x
    # 3600/28800 = -6.09 per ETH. (The trade block itself accrued 60 s of interest at the genesis
    # price first: 0.0008 x 1500 x 60/28800 = +0.0025, which the new positions' snapshots include.)
    events = book.run([c.SettleFunding("alice")], dt=3600)
    accrued = events[0]
    assert isinstance(accrued, ev.FundingAccrued)
    assert accrued == ev.FundingAccrued(
        "ETH-PERP", 1550 * E, -3045 * WAD // 100_000, (25 - 60_900) * RAY // 10_000, 3600
    )
    # alice (long 2) receives 12.18; bob is settled lazily later.
    assert events[1] == ev.FundingSettled("alice", "ETH-PERP", -1218 * E // 100)
    assert book.bal("alice") == 997 * E + 1218 * E // 100
    assert book.state.markets["ETH-PERP"].pnl_pool == -1218 * E // 100
    # bob owes the same amount until he settles; his equity already counts it.
    bob = book.engine.margin("bob")
    assert bob.equity == 998 * E + E // 2 + (3000 - 3200) * E - 1218 * E // 100
    # Settling both sides at the same index empties the pool but for rounding: the 60 s of interest
    # since (2 x 0.0008 x 1600 x 60/28800 = 0.00533...) is paid rounded up, received rounded down.
    book.run([c.SettleFunding("alice"), c.SettleFunding("bob")])
    assert book.state.markets["ETH-PERP"].pnl_pool == 1


def test_funding_rounds_in_the_protocols_favour() -> None:
    book = Book()
    book.run([c.Trade("ETH-PERP", "alice", "bob", 3 * E // 1000, 1500 * E)])  # 0.003 ETH, notional 4.5
    alice, bob = book.bal("alice"), book.bal("bob")
    # Move the index by one RAY unit: 0.003e18 x 1 / 1e27 is 3e-12 of a unit. The long pays 1 (rounded
    # up), the short receives 0 (rounded down); the pool keeps the unit.
    book.state.markets["ETH-PERP"].funding_index += 1
    book.run([c.SettleFunding("alice"), c.SettleFunding("bob")])
    assert (book.bal("alice"), book.bal("bob")) == (alice - 1, bob)
    assert book.state.markets["ETH-PERP"].pnl_pool == 1


def test_withdrawal_is_margin_checked() -> None:
    book = Book()
    book.run([c.Trade("ETH-PERP", "alice", "bob", 2 * E, 1500 * E)])
    # alice: 997 USDC, IM 300 -> at most 697 can leave.
    events = book.run([c.Withdraw("alice", "USDC", 698 * E)])
    assert rejected(events) == ["insufficient_margin"]
    assert book.bal("alice") == 997 * E
    events = book.run([c.Withdraw("alice", "USDC", 697 * E)])
    assert events == [ev.Withdrawn("alice", "USDC", 697 * E)]
    assert book.engine.margin("alice").equity == book.engine.margin("alice").initial == 300 * E
    assert book.state.withdrawn == {"USDC": 697 * E}
    assert rejected(book.run([c.Withdraw("carol", "USDC", E)])) == ["insufficient_balance"]


def test_isolated_margin_transfer_trade_and_release() -> None:
    book = Book()
    events = book.run([c.TransferMargin("alice", "ETH-PERP", 200 * E)])
    assert events == [ev.MarginTransferred("alice", "ETH-PERP", 200 * E)]
    assert book.bal("alice") == 800 * E and book.pos("alice").margin == 200 * E
    # Isolated buy of 1 @ 1500: IM 150 <= 200 - fee 1.5
    book.run([c.Trade("ETH-PERP", "alice", "bob", E, 1500 * E)])
    assert book.pos("alice").isolated and book.pos("alice").margin == 198 * E + E // 2
    # Releasing 50 would leave 148.5 < IM 150.
    assert rejected(book.run([c.TransferMargin("alice", "ETH-PERP", -50 * E)])) == ["insufficient_margin"]
    book.run([c.TransferMargin("alice", "ETH-PERP", -48 * E)])
    assert book.pos("alice").margin == 150 * E + E // 2
    # The cross account is untouched by the isolated position.
    assert book.engine.margin("alice").equity == 848 * E


def test_close_out_at_oracle_price_with_penalty_split() -> None:
    book = Book()
    book.run([c.Trade("ETH-PERP", "alice", "bob", 9 * E, 1000 * E)], prices={"ETH": 1000 * E})
    # alice: 1000 - 9 fee = 991, long 9 (IM 900). Healthy at 1000.
    assert rejected(book.run([c.CloseOut("alice", "keeper")])) == ["not_liquidatable"]
    # At 910: equity 991 - 810 = 181 < MM 9 x 910 x 5% = 409.5.
    events = book.run([c.CloseOut("alice", "keeper")], prices={"ETH": 910 * E})
    assert events[0] == ev.PositionClosedOut(
        "alice", "keeper", "ETH-PERP", 9 * E, 910 * E, 8190 * E, -810 * E
    )
    # penalty 1% x 8190 = 81.9, half (40.95) to the keeper, half to the insurance fund.
    assert events[1] == ev.CloseOutPenaltyCharged(
        "alice", "keeper", 819 * E // 10, 4095 * E // 100, 4095 * E // 100
    )
    assert book.bal("alice") == 991 * E - 810 * E - 819 * E // 10
    assert "ETH-PERP" not in book.state.accounts["alice"].positions
    assert book.pos("keeper").size == 9 * E and book.pos("keeper").entry_value == 8190 * E
    assert book.bal("keeper") == 100_000 * E + 4095 * E // 100
    assert book.state.pools.insurance == {"USDC": 100 * E + 4095 * E // 100}


def test_close_out_penalty_is_capped_at_the_equity_left() -> None:
    book = Book()
    book.run([c.Trade("ETH-PERP", "alice", "bob", 9 * E, 1000 * E)], prices={"ETH": 1000 * E})
    # At 890: equity 991 - 990 = 1; penalty due 1% x 8010 = 80.1 is capped at 1 -> 0.5 / 0.5.
    events = book.run([c.CloseOut("alice", "keeper")], prices={"ETH": 890 * E})
    assert events[1] == ev.CloseOutPenaltyCharged("alice", "keeper", E, E // 2, E // 2)
    assert book.bal("alice") == 0
    assert book.state.pools.insurance == {"USDC": 100 * E + E // 2}


def test_bankrupt_close_out_uses_insurance_then_records_bad_debt() -> None:
    book = Book()
    book.run([c.Deposit("carol", "ETH", E), c.Deposit("carol", "USDC", 100 * E)])
    book.run([c.Trade("ETH-PERP", "carol", "bob", 2 * E, 1000 * E)], prices={"ETH": 1000 * E})
    # carol: 100 - 2 fee = 98 USDC + 1 ETH (x0.8). Price 800: loss 400 -> USDC -302, equity 640-302=338
    # < MM 80? No: equity 338 >= 80, healthy. Price 700: loss 600 -> USDC -502 + 560 = 58 < MM 70.
    events = book.run([c.CloseOut("carol", "keeper")], prices={"ETH": 700 * E})
    assert [type(e).__name__ for e in events] == ["PositionClosedOut", "CloseOutPenaltyCharged"]
    # penalty 1% x 1400 = 14 <= equity 58: charged in full, carol keeps 1 ETH and -516 USDC (equity 44)
    assert book.bal("carol") == -516 * E and book.bal("carol", "ETH") == E
    # Price 400: a deeper gap with a second position -> bankruptcy.
    book.run([c.Trade("ETH-PERP", "carol", "bob", E // 10, 700 * E)])
    events = book.run([c.CloseOut("carol", "keeper")], prices={"ETH": 400 * E})
    names = [type(e).__name__ for e in events]
    assert names == ["PositionClosedOut", "CollateralSeized", "InsuranceFundUsed", "BadDebtRecorded"]
    seized, used, bad = events[1], events[2], events[3]
    assert seized == ev.CollateralSeized("carol", "ETH", E)
    # USDC after the close: -516 - 0.07 fee - 30 loss = -546.07; the fund (100 + 7 from the first
    # penalty) pays 107, the remaining 439.07 is bad debt that stays visible on the account.
    assert used == ev.InsuranceFundUsed("carol", "USDC", 107 * E)
    assert bad == ev.BadDebtRecorded("carol", "USDC", 43907 * E // 100)
    assert book.bal("carol") == -43907 * E // 100
    assert book.state.pools.insurance == {"USDC": 0, "ETH": E}
    assert book.state.pools.bad_debt == {"USDC": 43907 * E // 100}


def test_isolated_close_out_never_touches_cross_collateral() -> None:
    book = Book()
    book.run([c.TransferMargin("alice", "ETH-PERP", 110 * E)])
    book.run([c.Trade("ETH-PERP", "alice", "bob", E, 1000 * E)], prices={"ETH": 1000 * E})
    # isolated margin 110 - 1 fee = 109; at 850: 109 - 150 = -41 < MM 42.5 -> bankrupt position.
    events = book.run([c.CloseOut("alice", "keeper", market="ETH-PERP")], prices={"ETH": 850 * E})
    assert events[-1] == ev.InsuranceFundUsed("alice", "USDC", 41 * E)
    assert book.bal("alice") == 890 * E  # cross collateral untouched
    assert "ETH-PERP" not in book.state.accounts["alice"].positions


def test_update_market_changes_parameters_but_not_the_oracle() -> None:
    book = Book()
    tighter = msgspec.structs.replace(SPEC, initial_margin=WAD // 5)
    events = book.run([c.UpdateMarket(tighter)])
    assert isinstance(events[0], ev.MarketUpdated) and events[0].initial_margin == WAD // 5
    assert book.state.markets["ETH-PERP"].spec.initial_margin == WAD // 5
    moved = msgspec.structs.replace(SPEC, oracle="BTC")
    assert rejected(book.run([c.UpdateMarket(moved)])) == ["invalid_parameters"]
    bad = msgspec.structs.replace(SPEC, maintenance_margin=WAD // 5)
    assert rejected(book.run([c.UpdateMarket(bad)])) == ["invalid_parameters"]


@pytest.mark.parametrize("taker", ["buyer", "seller"])
def test_trade_is_atomic_when_the_second_side_fails(taker: str) -> None:
    book = Book()
    root = book.engine.state_root()
    # carol has nothing: her side fails after alice's side was already computed -> nothing changes.
    events = book.run([c.Trade("ETH-PERP", "alice", "carol", E, 1500 * E, taker=taker)])  # type: ignore[arg-type]
    assert rejected(events) == ["insufficient_margin"]
    assert book.bal("alice") == 1000 * E and "ETH-PERP" not in book.state.accounts["alice"].positions
    assert book.state.pools.fees == {}
    assert book.engine.state_root() != root  # height/time advanced...
    assert book.state.accounts["alice"].positions == {}  # ...but no account changed
