"""The steward in the engine: worked examples modelled on Aave's Risk Steward, Maker's DC-IAM and EIP-1559,
the true previous value, every typed refusal, and atomicity (a refusal or a dropped block changes nothing)."""

from __future__ import annotations

import pytest

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.state_root import encode_globals, full_state_root
from clearhouse.steward.guardrails import Guardrail

from .helpers import (
    BTC_PERP,
    CONTROLLER,
    DAY,
    ETH_PERP,
    GUARDIAN,
    MALLORY,
    apply,
    engine_with_steward,
    of,
    propose,
    rejected,
    step,
)

BP = WAD // 10_000  # one basis point
#: Aave Risk Steward: LTV / liquidation threshold +-0.25 % absolute, bonus +-0.5 %, each once a day.
AAVE_MM = Guardrail(
    lower=200 * BP, upper=1500 * BP, max_up=25 * BP, max_down=25 * BP, min_interval=DAY, expiry=2 * DAY
)
AAVE_BONUS = Guardrail(lower=0, upper=400 * BP, max_up=50 * BP, max_down=50 * BP, min_interval=DAY)
#: Aave automated caps: +-30 % of the current cap per update, 3-day delay.
AAVE_CAP = Guardrail(
    lower=0, upper=10**9 * WAD, max_up=3 * WAD // 10, max_down=3 * WAD // 10, relative=True,
    min_interval=3 * DAY, timelock=3 * DAY, expiry=4 * DAY,
)
#: Maker DC-IAM: raise by at most gap = 100k once per ttl = 12 h; lower at once.
DC_IAM = Guardrail(
    lower=0, upper=10**9 * WAD, max_up=100_000 * WAD, max_down=10**9 * WAD, min_interval=12 * 3600,
    fast_direction="down",
)
#: EIP-1559: +-12.5 % per block.
EIP1559 = Guardrail(lower=BP, upper=100 * BP, max_up=WAD // 8, max_down=WAD // 8, relative=True)


def spec(engine, market: str = "ETH-PERP"):  # type: ignore[no-untyped-def]
    return engine.state.markets[market].spec


def test_aave_style_absolute_steps_once_a_day() -> None:
    engine = engine_with_steward([("market", "ETH-PERP", "maintenance_margin", AAVE_MM)])
    r = step(engine, [propose("ETH-PERP", "maintenance_margin", 525 * BP)])  # 5 % -> 5.25 %
    assert rejected(r) == []
    (proposed,) = of(r, ev.ParameterProposed)
    now = engine.state.time
    assert proposed == ev.ParameterProposed(
        1, "market", "ETH-PERP", "maintenance_margin", 500 * BP, 525 * BP, now, now + 2 * DAY
    )
    r = step(engine, [apply(1)])
    assert rejected(r) == []
    assert spec(engine).maintenance_margin == 525 * BP
    assert of(r, ev.MarketUpdated)[0].maintenance_margin == 525 * BP  # the admin's own code path
    assert of(r, ev.ParameterApplied) == [
        ev.ParameterApplied(1, "market", "ETH-PERP", "maintenance_margin", 500 * BP, 525 * BP)
    ]
    # one basis point more than 0.25 % is refused at proposal
    r = step(engine, [propose("ETH-PERP", "maintenance_margin", 551 * BP)])
    assert rejected(r) == ["step_too_large"]
    # a legal step is accepted as a proposal but cannot apply before a day has passed
    step(engine, [propose("ETH-PERP", "maintenance_margin", 550 * BP)])
    assert rejected(step(engine, [apply(2)])) == ["interval_not_elapsed"]
    r = step(engine, [apply(2)], dt=DAY)
    assert rejected(r) == [] and spec(engine).maintenance_margin == 550 * BP


def test_the_previous_value_is_that_of_the_same_market_and_parameter() -> None:
    engine = engine_with_steward(
        [("market", m, "maintenance_margin", AAVE_MM) for m in ("BTC-PERP", "ETH-PERP")]
    )
    mm = "maintenance_margin"
    step(engine, [propose("ETH-PERP", mm, 525 * BP), propose("BTC-PERP", mm, 325 * BP)])
    r = step(engine, [apply(1), apply(2)])
    applied = of(r, ev.ParameterApplied)
    assert [(e.target, e.previous, e.value) for e in applied] == [  # type: ignore[attr-defined]
        ("ETH-PERP", 500 * BP, 525 * BP),
        ("BTC-PERP", 300 * BP, 325 * BP),  # BTC's own 3 %, not ETH's last update
    ]


def test_an_admin_change_between_proposal_and_application_is_rechecked_and_journalled() -> None:
    engine = engine_with_steward([("market", "ETH-PERP", "maintenance_margin", AAVE_MM)])
    step(engine, [propose("ETH-PERP", "maintenance_margin", 525 * BP)])
    import msgspec

    step(engine, [c.UpdateMarket(msgspec.structs.replace(ETH_PERP, maintenance_margin=450 * BP))])
    # 4.5 % -> 5.25 % is 0.75 %: three steps, refused at application against the live value
    assert rejected(step(engine, [apply(1)])) == ["step_too_large"]
    step(engine, [c.UpdateMarket(msgspec.structs.replace(ETH_PERP, maintenance_margin=510 * BP))])
    r = step(engine, [apply(1)])
    assert of(r, ev.ParameterApplied)[0].previous == 510 * BP  # type: ignore[attr-defined]


def test_aave_caps_thirty_percent_relative_with_a_three_day_timelock() -> None:
    engine = engine_with_steward([("vault_type", "ETH-A", "line", AAVE_CAP)])
    vt = lambda: engine.state.vault_types["ETH-A"].spec  # noqa: E731
    r = step(engine, [propose("ETH-A", "line", 1_300_001 * WAD, "vault_type")])
    assert rejected(r) == ["step_too_large"]
    step(engine, [propose("ETH-A", "line", 1_300_000 * WAD, "vault_type")])
    assert rejected(step(engine, [apply(1)], dt=2 * DAY)) == ["timelock_active"]
    r = step(engine, [apply(1)], dt=DAY)
    assert rejected(r) == [] and vt().line == 1_300_000 * WAD
    assert of(r, ev.VaultTypeUpdated)
    # the next 30 % is of the new cap: 1.3M x 1.3 = 1.69M
    vline = lambda value: propose("ETH-A", "line", value, "vault_type")  # noqa: E731
    assert rejected(step(engine, [vline(1_690_001 * WAD)])) == ["step_too_large"]
    assert rejected(step(engine, [vline(1_690_000 * WAD)])) == []


def test_maker_dc_iam_raises_by_gap_once_per_ttl_and_lowers_at_once() -> None:
    engine = engine_with_steward([("vault_type", "ETH-A", "line", DC_IAM)])
    line = lambda: engine.state.vault_types["ETH-A"].spec.line  # noqa: E731
    step(engine, [propose("ETH-A", "line", 1_100_000 * WAD, "vault_type")])
    step(engine, [apply(1)])
    assert line() == 1_100_000 * WAD
    step(engine, [propose("ETH-A", "line", 1_200_000 * WAD, "vault_type")], dt=3600)
    assert rejected(step(engine, [apply(2)], dt=3600)) == ["interval_not_elapsed"]
    # lowering skips the interval (and would skip a timelock): applied in the same hour
    step(engine, [propose("ETH-A", "line", 400_000 * WAD, "vault_type")])
    r = step(engine, [apply(3)])
    assert rejected(r) == [] and line() == 400_000 * WAD
    # the old raise is void after 6 h; a new raise is one gap from 400k, 12 h after the last application
    assert rejected(step(engine, [apply(2)], dt=6 * 3600)) == ["proposal_expired"]
    r = step(engine, [propose("ETH-A", "line", 1_200_000 * WAD, "vault_type")])
    assert rejected(r) == ["step_too_large"]
    step(engine, [propose("ETH-A", "line", 500_000 * WAD, "vault_type")])
    assert rejected(step(engine, [apply(4)])) == ["interval_not_elapsed"]
    r = step(engine, [apply(4)], dt=6 * 3600 - 120)  # 12 h after the lowering, before expiry
    assert rejected(r) == [] and line() == 500_000 * WAD


def test_eip1559_twelve_and_a_half_percent_per_block() -> None:
    engine = engine_with_steward([("market", "ETH-PERP", "taker_fee", EIP1559)])
    fee = 5 * BP
    pid = 1
    for _ in range(3):
        up = fee + fee // 8
        assert rejected(step(engine, [propose("ETH-PERP", "taker_fee", up + 1)])) == ["step_too_large"]
        r = step(engine, [propose("ETH-PERP", "taker_fee", up), apply(pid)], dt=12)
        assert rejected(r) == []
        fee, pid = up, pid + 1
        assert spec(engine).taker_fee == fee
    assert fee == 5 * BP * 729 // 512
    # two applications in one block: the second is refused (min_interval >= 1 s)
    r = step(engine, [propose("ETH-PERP", "taker_fee", fee + 1), propose("ETH-PERP", "taker_fee", fee + 2),
                      apply(pid), apply(pid + 1)], dt=12)
    assert rejected(r) == ["interval_not_elapsed"]


def test_vol_multiplier_goes_through_set_volatility() -> None:
    g = Guardrail(lower=WAD, upper=3 * WAD, max_up=WAD // 4, max_down=WAD // 4, relative=True)
    engine = engine_with_steward([("market", "ETH-PERP", "vol_multiplier", g)])
    r = step(engine, [propose("ETH-PERP", "vol_multiplier", 5 * WAD // 4), apply(1)])
    assert of(r, ev.VolatilitySet) == [ev.VolatilitySet("ETH-PERP", 5 * WAD // 4)]
    assert engine.state.markets["ETH-PERP"].vol_multiplier == 5 * WAD // 4


def test_vetoed_and_expired_proposals_never_apply() -> None:
    engine = engine_with_steward([("market", "ETH-PERP", "maintenance_margin", AAVE_MM)])
    step(engine, [propose("ETH-PERP", "maintenance_margin", 525 * BP)])
    assert rejected(step(engine, [c.VetoProposal(MALLORY, 1)])) == ["not_guardian"]
    r = step(engine, [c.VetoProposal(GUARDIAN, 1, "too fast")])
    assert of(r, ev.ProposalVetoed) == [ev.ProposalVetoed(1, GUARDIAN, "too fast")]
    assert rejected(step(engine, [apply(1)])) == ["unknown_proposal"]
    step(engine, [propose("ETH-PERP", "maintenance_margin", 525 * BP)])
    assert rejected(step(engine, [apply(2)], dt=2 * DAY)) == ["proposal_expired"]
    # the next proposal sweeps the void one out of the state
    r = step(engine, [propose("ETH-PERP", "maintenance_margin", 475 * BP)])
    assert of(r, ev.ProposalDropped) == [ev.ProposalDropped(2, "expired")]
    assert sorted(engine.state.steward.proposals) == [3]
    assert spec(engine).maintenance_margin == 500 * BP


@pytest.mark.parametrize(
    ("tx", "code"),
    [
        (c.ProposeParameter(MALLORY, "market", "ETH-PERP", "maintenance_margin", 525 * BP), "not_controller"),
        (c.ApplyParameter(MALLORY, 1), "not_controller"),
        (propose("ETH-PERP", "maintenance_margin", 1600 * BP), "out_of_bounds"),
        (propose("ETH-PERP", "maintenance_margin", 500 * BP), "parameter_unchanged"),
        (propose("ETH-PERP", "liquidation_fee", 150 * BP), "parameter_forbidden"),
        (propose("ETH-PERP", "initial_margin", 1100 * BP), "no_guardrail"),
        (propose("BTC-PERP", "maintenance_margin", 325 * BP), "no_guardrail"),
        (propose("ETH-PERP", "oracle", 1), "parameter_forbidden"),
        (propose("ETH-PERP", "step_size", 1), "parameter_forbidden"),
        (propose("NOPE", "maintenance_margin", 1), "no_guardrail"),
        (apply(99), "unknown_proposal"),
        (c.SetGuardrail("market", "ETH-PERP", "liquidation_fee", AAVE_BONUS), "parameter_forbidden"),
        (c.SetGuardrail("market", "NOPE", "taker_fee", AAVE_BONUS), "unknown_market"),
        (c.SetGuardrail("market", "ETH-PERP", "taker_fee", Guardrail(2, 1, 0, 0)), "invalid_guardrail"),
        (c.SetGuardrail("market", "ETH-PERP", "taker_fee", Guardrail(0, 1, 0, 0, min_interval=0)),
         "invalid_guardrail"),
        (c.SetGuardrail("market", "ETH-PERP", "taker_fee", Guardrail(0, 1, 0, 0, timelock=9, expiry=9)),
         "invalid_guardrail"),
    ],
)
def test_refusals_are_typed_and_change_nothing(tx: c.AnyCommand, code: str) -> None:
    engine = engine_with_steward(
        [("market", "ETH-PERP", "maintenance_margin", AAVE_MM)], forbidden=("liquidation_fee",)
    )
    twin = engine_with_steward(
        [("market", "ETH-PERP", "maintenance_margin", AAVE_MM)], forbidden=("liquidation_fee",)
    )
    r = step(engine, [tx])
    assert rejected(r) == [code]
    assert step(twin, []).state_root == r.state_root


def test_an_application_that_breaks_market_validity_is_refused_whole() -> None:
    g = Guardrail(lower=0, upper=WAD, max_up=WAD, max_down=WAD)
    engine = engine_with_steward([("market", "ETH-PERP", "maintenance_margin", g)])
    step(engine, [propose("ETH-PERP", "maintenance_margin", 1000 * BP)])  # = initial margin
    before = engine.state.steward
    assert rejected(step(engine, [apply(1)])) == ["invalid_parameters"]
    assert engine.state.steward == before and spec(engine) == ETH_PERP


def test_reconfiguring_drops_pending_proposals() -> None:
    engine = engine_with_steward([("market", "ETH-PERP", "maintenance_margin", AAVE_MM)])
    step(engine, [propose("ETH-PERP", "maintenance_margin", 525 * BP)])
    from .helpers import config

    r = step(engine, [c.ConfigureSteward(config())])
    assert of(r, ev.ProposalDropped) == [ev.ProposalDropped(1, "reconfigured")]
    assert engine.state.steward.proposals == {}


def test_an_unused_steward_is_not_in_the_root_and_a_used_one_is() -> None:
    from clearhouse.ledger.engine import Engine
    from clearhouse.ledger.model import LedgerState

    assert b"steward" not in encode_globals(LedgerState())
    engine = engine_with_steward()
    assert b"steward" in encode_globals(engine.state)
    assert engine.state_root() == full_state_root(engine.state)
    assert Engine().state_root() == full_state_root(LedgerState())


class _FailingJournal:
    def head(self) -> None:
        return None

    def append_block(self, height: int, block: bytes, events: bytes, state_root: str, prev_hash: str) -> str:
        raise OSError("disk full")


def test_a_block_whose_journal_write_fails_rolls_the_steward_back() -> None:
    engine = engine_with_steward([("market", "ETH-PERP", "maintenance_margin", AAVE_MM)])
    step(engine, [propose("ETH-PERP", "maintenance_margin", 525 * BP)])
    root, steward = engine.state_root(), engine.state.steward
    engine.attach_journal(_FailingJournal(), "00" * 32)  # type: ignore[arg-type]
    with pytest.raises(OSError):
        step(engine, [apply(1), propose("ETH-PERP", "maintenance_margin", 550 * BP)])
    assert engine.state.steward is steward and engine.state_root() == root
    assert spec(engine).maintenance_margin == 500 * BP


def test_the_controller_and_guardian_keys_are_named_in_the_command_for_the_signed_path() -> None:
    from clearhouse.auth.authorization import RULES, Rule

    for cls, field in ((c.ProposeParameter, "controller"), (c.ApplyParameter, "controller"),
                       (c.VetoProposal, "guardian")):
        assert RULES[cls].rule is Rule.SELF and RULES[cls].field == field
    assert RULES[c.ConfigureSteward].rule is Rule.ADMIN and RULES[c.SetGuardrail].rule is Rule.ADMIN
    assert CONTROLLER != GUARDIAN and BTC_PERP.id == "BTC-PERP"


def test_removing_a_guardrail_stops_its_pending_proposals() -> None:
    engine = engine_with_steward([("market", "ETH-PERP", "maintenance_margin", AAVE_MM)])
    step(engine, [propose("ETH-PERP", "maintenance_margin", 525 * BP)])
    r = step(engine, [c.SetGuardrail("market", "ETH-PERP", "maintenance_margin", None)])
    assert [e.removed for e in of(r, ev.GuardrailSet)] == [True]  # type: ignore[attr-defined]
    assert rejected(step(engine, [apply(1)])) == ["no_guardrail"]
    assert rejected(step(engine, [c.SetGuardrail("market", "ETH-PERP", "maintenance_margin", None)])) == [
        "no_guardrail"
    ]


def test_steward_blocks_and_events_round_trip_and_replay_to_the_same_root() -> None:
    from clearhouse.ledger.block import Block, decode_block, decode_events, encode_block

    engine = engine_with_steward([("market", "ETH-PERP", "maintenance_margin", AAVE_MM)])
    blocks: list[Block] = []

    def record(txs: list[c.AnyCommand], dt: int = 60) -> None:
        state = engine.state
        block = Block(state.height + 1, state.time + dt, {}, tuple(txs))
        blocks.append(decode_block(encode_block(block)))
        result = engine.apply_block(block)
        assert decode_events(result.events_bytes) == list(result.events)

    record([propose("ETH-PERP", "maintenance_margin", 525 * BP), apply(1), c.VetoProposal(GUARDIAN, 1)])
    record([propose("ETH-PERP", "maintenance_margin", 550 * BP), c.VetoProposal(GUARDIAN, 2, "no")])
    twin = engine_with_steward([("market", "ETH-PERP", "maintenance_margin", AAVE_MM)])
    for block in blocks:
        twin.apply_block(block)
    assert twin.state_root() == engine.state_root()
