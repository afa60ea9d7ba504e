"""Bad input at every entry point: a typed error that names what was wrong, and no change at all.

* :func:`to_fixed` (the boundary conversion) raises ``InvalidValue`` / ``ValueOutOfRange``.
* A bad command inside a block comes back as a ``TransactionRejected`` event with the error's ``code``
  and changes nothing: the engine ends in exactly the state of a *control* engine that applied the
  same block without the command (same root, balances, positions, pools, totals).
* A bad block (header or prices) raises from ``apply_block`` and changes nothing, not even the height.
* A malformed encoded block fails to decode (``msgspec.ValidationError`` / ``msgspec.DecodeError``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import msgspec
import pytest

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block, decode_block, encode_block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.errors import (
    BlockOutOfOrder,
    ClearhouseError,
    InvalidParameters,
    InvalidValue,
    ValueOutOfRange,
)
from clearhouse.ledger.fixedpoint import MAX_ABS, WAD, to_fixed
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec
from clearhouse.ledger.state_root import MerkleTree, full_state_root

from .builders import (
    ETH_PERP,
    ETH_PERP_ID,
    KEEPER,
    T0,
    W,
    apply_txs,
    assert_ledger_invariants,
    balance,
    events_of,
    genesis_engine,
    next_block,
    owner_key,
    rejections,
    snapshot,
)

STEP = ETH_PERP.step_size
BTC_PERP = MarketSpec("BTC-PERP", "BTC", initial_margin=W("0.1"), maintenance_margin=W("0.05"))

# -- to_fixed --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "fragment"),
    [
        (math.nan, InvalidValue, "must be finite"),
        (math.inf, InvalidValue, "must be finite"),
        (-math.inf, InvalidValue, "must be finite"),
        (Decimal("NaN"), InvalidValue, "must be finite"),
        (Decimal("sNaN"), InvalidValue, "must be finite"),
        (Decimal("-Infinity"), InvalidValue, "must be finite"),
        ("nan", InvalidValue, "must be finite"),
        ("inf", InvalidValue, "must be finite"),
        (True, InvalidValue, "boolean"),
        (False, InvalidValue, "boolean"),
        ("abc", InvalidValue, "is not a decimal number"),
        ("", InvalidValue, "is not a decimal number"),
        ("1.2.3", InvalidValue, "is not a decimal number"),
        ("0x10", InvalidValue, "is not a decimal number"),
        (None, InvalidValue, "NoneType"),
        ([1], InvalidValue, "list"),
        (b"1", InvalidValue, "bytes"),
        (2**255 // WAD + 1, ValueOutOfRange, "beyond 2^255"),
        (-(2**255 // WAD) - 1, ValueOutOfRange, "beyond 2^255"),
        ("1e60", ValueOutOfRange, "beyond 2^255"),
        ("-1e60", ValueOutOfRange, "beyond 2^255"),
        (1e60, ValueOutOfRange, "beyond 2^255"),
        (Decimal("6e58"), ValueOutOfRange, "beyond 2^255"),
        pytest.param("1e200", ValueOutOfRange, "beyond 2^255"),
        pytest.param(1e300, ValueOutOfRange, "beyond 2^255"),
        pytest.param("-1e300", ValueOutOfRange, "beyond 2^255"),
        pytest.param("1e999999999", ValueOutOfRange, "beyond 2^255"),
    ],
)
def test_to_fixed_rejects_bad_numbers_with_a_typed_error_naming_the_field(
    value: object, error: type[ClearhouseError], fragment: str
) -> None:
    with pytest.raises(ClearhouseError) as info:
        to_fixed(value, name="collateral_in")  # type: ignore[arg-type]
    assert type(info.value) is error
    assert "collateral_in" in str(info.value)
    assert fragment in str(info.value)


def test_to_fixed_edges_of_the_range_and_half_even_rounding() -> None:
    limit = MAX_ABS - 1
    assert to_fixed(limit, scale=1) == limit
    assert to_fixed(-limit, scale=1) == -limit
    for beyond in (MAX_ABS, -MAX_ABS):
        with pytest.raises(ValueOutOfRange):
            to_fixed(beyond, scale=1)
    assert to_fixed("1.5") == 15 * 10**17
    assert to_fixed(" 2 ") == 2 * WAD
    assert to_fixed(0.1) == 10**17  # the float's shortest repr, not its binary expansion
    assert to_fixed("0.0000000000000000025") == 2  # half-even
    assert to_fixed("0.0000000000000000035") == 4
    assert to_fixed("-0.0000000000000000025") == -2


# -- commands: rejected with a code, nothing changes ---------------------------------------------

Setup = Sequence[Sequence[c.AnyCommand]]
#: alice long 4 ETH at 2000 from bob (notional 8000, IM 800, MM 400).
ALICE_LONG: Setup = [[c.Trade(ETH_PERP_ID, "alice", "bob", W(4), W(2000))]]


def twins(setup: Setup = ()) -> tuple[Engine, Engine]:
    """Two engines with the same genesis and setup blocks (all setup txs must succeed)."""
    engines = (genesis_engine(), genesis_engine())
    for txs in setup:
        roots = set()
        for engine in engines:
            result = apply_txs(engine, txs)
            assert rejections(result) == [], rejections(result)
            roots.add(result.state_root)
        assert len(roots) == 1
    return engines


def assert_rejected_without_effect(
    command: c.AnyCommand,
    code: str,
    *fragments: str,
    setup: Setup = (),
    prices: dict[str, int] | None = None,
    dt: int = 60,
) -> ev.TransactionRejected:
    engine, control = twins(setup)
    before = snapshot(engine)
    result = apply_txs(engine, [command], prices, dt)
    expected = apply_txs(control, [], prices, dt)
    rejected = rejections(result)
    assert [(r.tx_index, r.command, r.code) for r in rejected] == [(0, type(command).__name__, code)]
    for fragment in fragments:
        assert fragment in rejected[0].message, (fragment, rejected[0].message)
    assert result.state_root == expected.state_root
    assert [e for e in result.events if e not in rejected] == list(expected.events)
    after = snapshot(engine)
    assert after == snapshot(control)
    assert (after.balances, after.positions, after.deposited, after.withdrawn) == (
        before.balances,
        before.positions,
        before.deposited,
        before.withdrawn,
    )
    assert_ledger_invariants(engine)
    return rejected[0]


HUGE = MAX_ABS
BAD_VALUES = [
    # (command, code, message fragments)
    (c.Deposit("alice", "USDC", 0), "invalid_value", ["deposit amount for alice", "> 0"]),
    (c.Deposit("alice", "USDC", -W(1)), "invalid_value", ["deposit amount for alice"]),
    (c.Deposit("alice", "USDC", HUGE), "value_out_of_range", ["deposit amount for alice", "2^255"]),
    (c.Deposit("alice", "USDC", -HUGE), "value_out_of_range", ["deposit amount for alice"]),
    (c.Deposit("alice", "USDC", True), "invalid_value", ["must be an integer", "bool"]),
    (c.Deposit("alice", "USDC", 1.5), "invalid_value", ["must be an integer", "float"]),  # type: ignore[arg-type]
    (c.Deposit("alice", "USDC", "100"), "invalid_value", ["must be an integer", "str"]),  # type: ignore[arg-type]
    (c.Withdraw("bob", "USDC", 0), "invalid_value", ["withdrawal amount for bob"]),
    (c.Withdraw("bob", "USDC", -1), "invalid_value", ["withdrawal amount for bob"]),
    (c.Withdraw("bob", "USDC", 2**256), "value_out_of_range", ["withdrawal amount for bob"]),
    (c.DepositInsurance("USDC", 0), "invalid_value", ["insurance deposit amount"]),
    (c.DepositInsurance("USDC", HUGE), "value_out_of_range", ["insurance deposit amount"]),
    (c.TransferMargin("alice", ETH_PERP_ID, 0), "invalid_value", ["margin transfer for alice", "non-zero"]),
    (c.TransferMargin("alice", ETH_PERP_ID, HUGE), "value_out_of_range", ["margin transfer for alice"]),
    (c.TransferMargin("alice", ETH_PERP_ID, -HUGE), "value_out_of_range", ["margin transfer for alice"]),
    (c.Trade(ETH_PERP_ID, "alice", "bob", 0, W(2000)), "invalid_value", ["trade size in ETH-PERP"]),
    (c.Trade(ETH_PERP_ID, "alice", "bob", -STEP, W(2000)), "invalid_value", ["trade size in ETH-PERP"]),
    (c.Trade(ETH_PERP_ID, "alice", "bob", HUGE, W(2000)), "value_out_of_range", ["trade size in ETH-PERP"]),
    (c.Trade(ETH_PERP_ID, "alice", "bob", W(1), 0), "invalid_value", ["trade price in ETH-PERP"]),
    (c.Trade(ETH_PERP_ID, "alice", "bob", W(1), -W(2000)), "invalid_value", ["trade price in ETH-PERP"]),
    (c.Trade(ETH_PERP_ID, "alice", "bob", W(1), HUGE), "value_out_of_range", ["trade price in ETH-PERP"]),
    (c.Trade(ETH_PERP_ID, "alice", "bob", W(1), 2**300), "value_out_of_range", ["trade price in ETH-PERP"]),
    (c.Trade(ETH_PERP_ID, "alice", "bob", 1.0, W(2000)), "invalid_value", ["trade size", "float"]),  # type: ignore[arg-type]
    (c.OpenAccount("erin", "zz" * 32), "invalid_value", ["owner", "erin", "not hex"]),
    (c.OpenAccount("erin", "ab" * 31), "invalid_value", ["erin", "32 bytes", "31"]),
    (c.OpenAccount("", owner_key("x")), "invalid_value", ["account id"]),
    (c.OpenAccount("e" * 129, owner_key("x")), "invalid_value", ["1-128 ASCII"]),
    (c.SetLedgerParams(LedgerParams("USDC", max_price_age=0)), "invalid_value", ["max_price_age"]),
    (c.ListAsset(AssetSpec("BAD", decimals=19)), "invalid_parameters", ["BAD", "decimals"]),
    (c.ListAsset(AssetSpec("BAD", haircut=WAD + 1)), "invalid_parameters", ["BAD", "haircut"]),
    (
        c.ListMarket(MarketSpec("X-PERP", "X", W("0.05"), W("0.05"))),
        "invalid_parameters",
        ["X-PERP", "below"],
    ),
    (
        c.ListMarket(MarketSpec("X-PERP", "X", W("0.1"), W("0.05"), step_size=0)),
        "invalid_value",
        ["step_size"],
    ),
]


@pytest.mark.parametrize(("command", "code", "fragments"), BAD_VALUES, ids=lambda v: repr(v)[:60])
def test_bad_values_in_commands_are_rejected_and_change_nothing(
    command: c.AnyCommand, code: str, fragments: list[str]
) -> None:
    assert_rejected_without_effect(command, code, *fragments)


def test_stateless_command_checks_raise_typed_errors() -> None:
    """``Command.check`` is the boundary: exact error classes, before any state is read."""
    cases: list[tuple[c.Command, type[ClearhouseError]]] = [
        (c.Deposit("a", "USDC", 0), InvalidValue),
        (c.Deposit("a", "USDC", HUGE), ValueOutOfRange),
        (c.Withdraw("a", "USDC", True), InvalidValue),
        (c.Trade("m", "a", "b", W(1), -1), InvalidValue),
        (c.Trade("m", "a", "b", 2**255, W(1)), ValueOutOfRange),
        (c.TransferMargin("a", "m", 0), InvalidValue),
        (c.DepositInsurance("USDC", -(2**256)), ValueOutOfRange),
        (c.OpenAccount("a", "xyz"), InvalidValue),
        (c.ListMarket(MarketSpec("m", "", W("0.1"), W("0.05"))), InvalidParameters),
    ]
    for command, error in cases:
        with pytest.raises(ClearhouseError) as info:
            command.check()
        assert type(info.value) is error, (command, info.value)
    c.Deposit("a", "USDC", 1).check()  # a good one passes


STATEFUL = [
    # unknown ids
    (c.Deposit("mallory", "USDC", W(1)), "unknown_account", ["mallory"], ()),
    (c.Deposit("alice", "DOGE", W(1)), "unknown_asset", ["DOGE"], ()),
    (c.Withdraw("alice", "DOGE", W(1)), "unknown_asset", ["DOGE"], ()),
    (c.DepositInsurance("DOGE", W(1)), "unknown_asset", ["DOGE"], ()),
    (c.Trade("DOGE-PERP", "alice", "bob", W(1), W(1)), "unknown_market", ["DOGE-PERP"], ()),
    (c.Trade(ETH_PERP_ID, "mallory", "bob", W(1), W(2000)), "unknown_account", ["mallory"], ()),
    (c.Trade(ETH_PERP_ID, "alice", "mallory", W(1), W(2000)), "unknown_account", ["mallory"], ()),
    (c.TransferMargin("alice", "DOGE-PERP", W(1)), "unknown_market", ["DOGE-PERP"], ()),
    (c.TransferMargin("mallory", ETH_PERP_ID, W(1)), "unknown_account", ["mallory"], ()),
    (c.SettleFunding("mallory"), "unknown_account", ["mallory"], ()),
    (c.CloseOut("mallory", KEEPER), "unknown_account", ["mallory"], ()),
    (c.CloseOut("alice", "mallory"), "unknown_account", ["mallory"], ()),
    (c.UpdateMarket(BTC_PERP), "unknown_market", ["BTC-PERP"], ()),
    # already taken
    (c.OpenAccount("alice", owner_key("alice2")), "already_exists", ["alice"], ()),
    (c.ListAsset(AssetSpec("USDC", decimals=6)), "already_exists", ["USDC"], ()),
    (c.ListMarket(ETH_PERP), "already_exists", ["ETH-PERP"], ()),
    # amounts finer than the asset's decimals (USDC has 6) or off the market's size grid
    (c.Deposit("alice", "USDC", W(1) + 1), "invalid_value", ["USDC", "finer than its 6 decimals"], ()),
    (c.Withdraw("alice", "USDC", W("0.000001") - 1), "invalid_value", ["USDC", "finer"], ()),
    (c.DepositInsurance("USDC", W(1) + 10**11), "invalid_value", ["USDC", "finer"], ()),
    (c.TransferMargin("alice", ETH_PERP_ID, W(1) + 1), "invalid_value", ["USDC", "finer"], ()),
    (
        c.Trade(ETH_PERP_ID, "alice", "bob", STEP + 1, W(2000)),
        "invalid_value",
        ["not a multiple", "ETH-PERP"],
        (),
    ),
    # balances and margin
    (c.Withdraw("carol", "USDC", W(2_000) + W("0.000001")), "insufficient_balance", ["carol", "USDC"], ()),
    (c.Withdraw("alice", "ETH", W(1)), "insufficient_balance", ["alice", "ETH"], ()),
    (c.Withdraw("alice", "USDC", W(9_500)), "insufficient_margin", ["alice", "initial"], ALICE_LONG),
    (c.Trade(ETH_PERP_ID, "carol", KEEPER, W(20), W(2000)), "insufficient_margin", ["carol", "initial"], ()),
    (c.Trade(ETH_PERP_ID, KEEPER, "dave", W(100), W(2000)), "insufficient_margin", ["dave"], ()),
    (c.Trade(ETH_PERP_ID, "alice", "alice", W(1), W(2000)), "self_trade", ["alice"], ()),
    (c.TransferMargin("carol", ETH_PERP_ID, W(2_001)), "insufficient_balance", ["carol"], ()),
    (c.TransferMargin("carol", ETH_PERP_ID, -W(1)), "insufficient_balance", ["carol", "ETH-PERP"], ()),
    (c.TransferMargin("alice", ETH_PERP_ID, W(1)), "margin_mode_conflict", ["alice", "ETH-PERP"], ALICE_LONG),
    # close-outs
    (c.CloseOut("alice", KEEPER), "not_liquidatable", ["alice"], ALICE_LONG),
    (c.CloseOut("carol", KEEPER), "not_liquidatable", ["carol"], ()),
    (c.CloseOut("alice", "alice"), "self_trade", ["alice"], ALICE_LONG),
    (c.CloseOut("alice", KEEPER, ETH_PERP_ID), "not_liquidatable", ["alice", "ETH-PERP"], ALICE_LONG),
    # governance
    (
        c.UpdateMarket(MarketSpec(ETH_PERP_ID, "BTC", W("0.1"), W("0.05"))),
        "invalid_parameters",
        ["oracle"],
        (),
    ),
    # a market needs its settlement asset listed: switch settlement to an unlisted asset first
    (
        c.ListMarket(BTC_PERP),
        "unknown_asset",
        ["BTC-PERP", "DAI"],
        [[c.SetLedgerParams(LedgerParams("DAI"))]],
    ),
]


@pytest.mark.parametrize(("command", "code", "fragments", "setup"), STATEFUL, ids=lambda v: repr(v)[:60])
def test_commands_that_do_not_fit_the_ledger_are_rejected_and_change_nothing(
    command: c.AnyCommand, code: str, fragments: list[str], setup: Setup
) -> None:
    assert_rejected_without_effect(command, code, *fragments, setup=setup)


def test_transfer_margin_into_isolated_breaching_cross_initial_margin_is_rejected() -> None:
    # alice: long 4 ETH cross (IM 800) and 9996 USDC. Moving 9500 into an isolated SOL-PERP bucket
    # would leave 496 of cross equity against 800 required.
    setup: Setup = [
        [c.ListMarket(MarketSpec("SOL-PERP", "SOL", W("0.1"), W("0.05")))],
        *ALICE_LONG,
    ]
    assert_rejected_without_effect(
        c.TransferMargin("alice", "SOL-PERP", W(9_500)),
        "insufficient_margin",
        "alice",
        "SOL-PERP",
        setup=setup,
    )


def test_trade_needs_a_fresh_and_known_index_price() -> None:
    # Two hours without a price report: ETH is older than max_price_age (1 h).
    assert_rejected_without_effect(
        c.Trade(ETH_PERP_ID, "alice", "bob", W(1), W(2000)), "stale_price", "ETH", dt=2 * 3600
    )
    # Withdrawing with an open position needs a fresh price too.
    assert_rejected_without_effect(
        c.Withdraw("alice", "USDC", W(1)), "stale_price", "ETH", setup=ALICE_LONG, dt=7200
    )
    # A listed market whose oracle never published.
    listed: Setup = [[c.ListMarket(BTC_PERP)]]
    assert_rejected_without_effect(
        c.Trade("BTC-PERP", "alice", "bob", W(1), W(40_000)), "missing_price", "BTC", setup=listed
    )


def test_a_bad_transaction_between_good_ones_is_the_only_one_dropped() -> None:
    engine, control = twins()
    good_1 = c.Deposit("carol", "USDC", W(5))
    bad = c.Withdraw("carol", "USDC", W(1_000_000))
    good_2 = c.Trade(ETH_PERP_ID, "alice", "bob", W(1), W(2000))
    result = apply_txs(engine, [good_1, bad, good_2])
    expected = apply_txs(control, [good_1, good_2])
    assert [(r.tx_index, r.code) for r in rejections(result)] == [(1, "insufficient_balance")]
    assert result.state_root == expected.state_root
    assert snapshot(engine) == snapshot(control)
    assert balance(engine, "carol") == W(2_005)


# -- regressions of bugs these tests found -------------------------------------------------------


def test_trade_with_an_unknown_taker_side_is_rejected() -> None:
    bad = c.Trade(ETH_PERP_ID, "alice", "bob", W(1), W(2000), taker="nobody")  # type: ignore[arg-type]
    assert_rejected_without_effect(bad, "invalid_value", "taker")


def test_cross_close_out_ignores_isolated_positions_it_does_not_touch() -> None:
    sol = MarketSpec("SOL-PERP", "SOL", W("0.1"), W("0.05"))
    engine = genesis_engine(markets=(ETH_PERP, sol), prices={"ETH": W(2000), "SOL": W(100)})
    setup = [
        c.Trade(ETH_PERP_ID, "carol", "bob", W(9), W(2000)),  # carol: cross long 9 ETH on 2000 USDC
        c.TransferMargin("carol", "SOL-PERP", W(100)),
        c.Trade("SOL-PERP", "carol", "alice", W(1), W(100)),  # carol: isolated SOL
        c.TransferMargin(KEEPER, "SOL-PERP", W(1_000)),
        c.Trade("SOL-PERP", KEEPER, "alice", W(1), W(100)),  # keeper: isolated SOL
    ]
    assert rejections(apply_txs(engine, setup)) == []
    result = apply_txs(engine, [c.CloseOut("carol", KEEPER)], prices={"ETH": W(1800), "SOL": W(100)})
    assert rejections(result) == []
    assert [(e.account, e.market) for e in events_of(result, ev.PositionClosedOut)] == [
        ("carol", ETH_PERP_ID)
    ]


def test_balances_cannot_grow_beyond_2_255() -> None:
    engine = genesis_engine()
    almost = MAX_ABS - 1  # ETH has 18 decimals: every wei is a valid amount
    assert rejections(apply_txs(engine, [c.Deposit("alice", "ETH", almost)])) == []
    result = apply_txs(engine, [c.Deposit("alice", "ETH", 1)])
    assert [r.code for r in rejections(result)] == ["value_out_of_range"]
    assert balance(engine, "alice", "ETH") < MAX_ABS


def test_closing_out_a_bankrupt_account_twice_records_its_bad_debt_once() -> None:
    engine = genesis_engine(insurance=0)
    # carol: 2000 USDC, long 9 ETH at 2000 (IM 1800); ETH halves -> equity about -7000.
    assert rejections(apply_txs(engine, [c.Trade(ETH_PERP_ID, "carol", KEEPER, W(9), W(2000))])) == []
    first = apply_txs(engine, [c.CloseOut("carol", KEEPER)], prices={"ETH": W(1000)})
    assert [e.account for e in events_of(first, ev.PositionClosedOut)] == ["carol"]
    recorded = engine.state.pools.bad_debt["USDC"]
    assert recorded == -balance(engine, "carol") > 0
    apply_txs(engine, [c.CloseOut("carol", KEEPER)])
    assert engine.state.pools.bad_debt["USDC"] == recorded


# -- blocks ----------------------------------------------------------------------------------------

BAD_HEADERS = [
    # (height offset or value, time offset or value, prices, error, fragment)
    ({"height": 1}, BlockOutOfOrder, "does not follow 1"),
    ({"height": 3}, BlockOutOfOrder, "does not follow 1"),
    ({"height": 0}, BlockOutOfOrder, "does not follow"),
    ({"height": -1}, BlockOutOfOrder, "does not follow"),
    ({"height": True}, BlockOutOfOrder, "does not follow"),
    ({"height": 2.0}, BlockOutOfOrder, "does not follow"),
    ({"time": T0}, BlockOutOfOrder, "is not after"),
    ({"time": T0 - 1}, BlockOutOfOrder, "is not after"),
    ({"time": -1}, InvalidValue, "non-negative int"),
    ({"time": T0 + 0.5}, InvalidValue, "non-negative int"),
    ({"time": True}, InvalidValue, "non-negative int"),
    ({"time": str(T0 + 60)}, InvalidValue, "non-negative int"),
    ({"prices": {"ETH": 0}}, InvalidValue, "price of ETH"),
    ({"prices": {"ETH": -W(2000)}}, InvalidValue, "price of ETH"),
    ({"prices": {"ETH": 2000.0}}, InvalidValue, "price of ETH"),
    ({"prices": {"ETH": True}}, InvalidValue, "price of ETH"),
    ({"prices": {"ETH": "2000"}}, InvalidValue, "price of ETH"),
    ({"prices": {"ETH": None}}, InvalidValue, "price of ETH"),
    ({"prices": {"ETH": MAX_ABS}}, ValueOutOfRange, "price of ETH"),
    ({"prices": {"ETH": W(1900), "BTC": 0}}, InvalidValue, "price of BTC"),
    ({"prices": {"": W(1)}}, InvalidValue, "price key"),
    ({"prices": {"ÉTH": W(1)}}, InvalidValue, "price key"),
    pytest.param(
        {"prices": {7: W(1)}},
        InvalidValue,
        "price key",
    ),
]


@pytest.mark.parametrize(("fields", "error", "fragment"), BAD_HEADERS, ids=lambda v: repr(v)[:50])
def test_bad_blocks_raise_and_change_nothing(
    fields: dict[str, object], error: type[ClearhouseError], fragment: str
) -> None:
    engine, control = twins()
    good = next_block(engine, [c.Deposit("alice", "USDC", W(1)), c.OpenAccount("erin", owner_key("erin"))])
    bad = Block(**{**{f: getattr(good, f) for f in Block.__struct_fields__}, **fields})
    root, before = engine.state_root(), snapshot(engine)
    head = (engine.state.height, engine.state.time, dict(engine.state.prices))
    with pytest.raises(ClearhouseError) as info:
        engine.apply_block(bad)
    assert type(info.value) is error
    assert fragment in str(info.value)
    assert engine.state_root() == root == full_state_root(engine.state)
    assert (engine.state.height, engine.state.time, engine.state.prices) == head
    assert snapshot(engine) == before
    assert "erin" not in engine.state.accounts
    # The engine is intact: the good block still applies and matches an engine that never saw the bad one.
    assert engine.apply_block(good).state_root == control.apply_block(good).state_root


class FailingJournal:
    """A journal whose write always fails (disk full), to exercise the whole-block rollback."""

    def __init__(self) -> None:
        self.attempts = 0

    def head(self) -> None:
        return None

    def append_block(self, height: int, block: bytes, events: bytes, state_root: str, prev_hash: str) -> str:
        self.attempts += 1
        raise OSError("disk full")


def _journal_failure_rolls_back(new_accounts: int) -> None:
    engine, control = twins()
    journal = FailingJournal()
    engine.attach_journal(journal, "00" * 32)  # type: ignore[arg-type]
    txs: list[c.AnyCommand] = [
        c.Deposit("alice", "USDC", W(7)),
        c.Trade(ETH_PERP_ID, "alice", "bob", W(1), W(2000)),
    ]
    txs += [c.OpenAccount(f"new{i}", owner_key(f"new{i}")) for i in range(new_accounts)]
    block = next_block(engine, txs, {"ETH": W(2100)})
    root, before = engine.state_root(), snapshot(engine)
    with pytest.raises(OSError, match="disk full"):
        engine.apply_block(block)
    assert journal.attempts == 1
    assert engine.state.height == 1 and engine.state.prices["ETH"] == (W(2000), T0)
    assert snapshot(engine) == before
    assert len(engine.state.accounts) == 5
    assert engine.state_root() == root
    assert engine.state_root() == full_state_root(engine.state)
    engine.journal = None
    assert engine.apply_block(block).state_root == control.apply_block(block).state_root


def test_a_block_whose_journal_write_fails_is_rolled_back() -> None:
    _journal_failure_rolls_back(new_accounts=1)  # 5 -> 6 accounts: the state tree keeps its size


def test_a_block_whose_journal_write_fails_is_rolled_back_even_when_it_grew_the_account_tree() -> None:
    _journal_failure_rolls_back(new_accounts=4)


@pytest.mark.parametrize("new_accounts", [1, 4])
def test_rollbacks_with_the_account_tree_hashed_by_the_compiled_loops(
    monkeypatch: pytest.MonkeyPatch, new_accounts: int
) -> None:
    """The same rollbacks with every tree on ``ledger.tree_kernel``'s path (trees this small hash with
    hashlib otherwise): the roots after a rollback and a retry are those of an engine that never failed."""
    monkeypatch.setattr(MerkleTree, "kernel_min_capacity", 1)
    _journal_failure_rolls_back(new_accounts)


def test_a_block_with_a_non_command_is_rolled_back_whole() -> None:
    engine, control = twins()
    root, before = engine.state_root(), snapshot(engine)
    txs = (c.Deposit("alice", "USDC", W(1)), c.OpenAccount("erin", owner_key("erin")), "not a command")
    with pytest.raises((AttributeError, TypeError, ClearhouseError)):
        engine.apply_block(next_block(engine, txs))  # type: ignore[arg-type]
    assert (engine.state_root(), snapshot(engine), engine.state.height) == (root, before, 1)
    good = next_block(engine, txs[:2])
    assert engine.apply_block(good).state_root == control.apply_block(good).state_root


# -- decoding --------------------------------------------------------------------------------------

DEPOSIT = '{"type":"Deposit","account":"alice","asset":"USDC","amount":%s}'
MALFORMED = [
    (b"", msgspec.DecodeError),
    (b"{", msgspec.DecodeError),
    (b"not json", msgspec.DecodeError),
    (b'{"height":2,"time":5}trailing', msgspec.DecodeError),
    (b'{"height":2,"time":5,"prices":{"ETH":NaN}}', msgspec.DecodeError),
    (b"[]", msgspec.ValidationError),
    (b'{"height":2}', msgspec.ValidationError),
    (b'{"time":5}', msgspec.ValidationError),
    (b'{"height":2,"time":5,"extra":1}', msgspec.ValidationError),
    (b'{"height":"2","time":5}', msgspec.ValidationError),
    (b'{"height":2.0,"time":5}', msgspec.ValidationError),
    (b'{"height":true,"time":5}', msgspec.ValidationError),
    (b'{"height":1e400,"time":5}', msgspec.ValidationError),
    (b'{"height":2,"time":5,"prices":{"ETH":1.5}}', msgspec.ValidationError),
    (b'{"height":2,"time":5,"prices":{"ETH":"2000"}}', msgspec.ValidationError),
    (b'{"height":2,"time":5,"prices":[]}', msgspec.ValidationError),
    (b'{"height":2,"time":5,"txs":{}}', msgspec.ValidationError),
    (b'{"height":2,"time":5,"txs":[{"type":"Mint","account":"alice"}]}', msgspec.ValidationError),
    (b'{"height":2,"time":5,"txs":[{"account":"alice","asset":"USDC","amount":1}]}', msgspec.ValidationError),
    (b'{"height":2,"time":5,"txs":[%s]}' % (DEPOSIT % '"1"').encode(), msgspec.ValidationError),
    (b'{"height":2,"time":5,"txs":[%s]}' % (DEPOSIT % "1.5").encode(), msgspec.ValidationError),
    (b'{"height":2,"time":5,"txs":[%s]}' % (DEPOSIT % "null").encode(), msgspec.ValidationError),
    (
        b'{"height":2,"time":5,"txs":[{"type":"Deposit","account":"alice","asset":"USDC"}]}',
        msgspec.ValidationError,
    ),
    (
        b'{"height":2,"time":5,"txs":[{"type":"Deposit","account":"alice","asset":"USDC","amount":1,"x":0}]}',
        msgspec.ValidationError,
    ),
    (
        b'{"height":2,"time":5,"txs":[{"type":"Trade","market":"ETH-PERP","buyer":"a","seller":"b",'
        b'"size":1,"price":1,"taker":"nobody"}]}',
        msgspec.ValidationError,
    ),
]


@pytest.mark.parametrize(("data", "error"), MALFORMED, ids=lambda v: repr(v)[:50])
def test_malformed_encoded_blocks_fail_to_decode(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(msgspec.MsgspecError) as info:
        decode_block(data)
    assert type(info.value) is error


def test_well_formed_blocks_with_bad_values_decode_and_are_then_refused_by_the_engine() -> None:
    """Decoding checks shapes; values are the engine's business, at the same boundary as in memory."""
    engine, control = twins()
    data = b'{"height":2,"time":%d,"txs":[%s]}' % (T0 + 60, (DEPOSIT % "-5").encode())
    block = decode_block(data)
    result = engine.apply_block(block)
    assert [r.code for r in rejections(result)] == ["invalid_value"]
    assert result.state_root == apply_txs(control, []).state_root
    priced = decode_block(b'{"height":3,"time":%d,"prices":{"ETH":0}}' % (T0 + 120))
    root = engine.state_root()
    with pytest.raises(InvalidValue, match="price of ETH"):
        engine.apply_block(priced)
    assert engine.state_root() == root and engine.state.height == 2
    # Round trip of a block carrying values far beyond 2^255: exact integers survive the encoding.
    wide = Block(3, T0 + 120, {"ETH": 2**300}, (c.Deposit("alice", "USDC", -(2**256)),))
    assert decode_block(encode_block(wide)) == wide
