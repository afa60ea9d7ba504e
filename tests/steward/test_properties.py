"""Hypothesis properties of the steward over random sequences of controller, guardian and stranger
transactions:

* no sequence moves a parameter outside its bounds, by more than its step from the live value, sooner than
  its interval after the last application or its timelock after the proposal (fast-direction moves exempt
  from the last two);
* a vetoed or expired proposal never applies; every application journals the live previous value;
* a refused transaction leaves the state root exactly as an empty block would (a twin engine that receives
  only the accepted transactions has the same root after every block).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.mechanisms.steward import parameters as params
from clearhouse.steward.guardrails import Guardrail

from .helpers import CONTROLLER, GUARDIAN, MALLORY, engine_with_steward, rejected

BP = WAD // 10_000
GUARDS: dict[tuple[str, str, str], Guardrail] = {
    # absolute 0.25 % steps, 1 h apart, 10 min timelock, void after 2 h; raising margin is fast
    ("market", "ETH-PERP", "maintenance_margin"): Guardrail(
        400 * BP, 700 * BP, 25 * BP, 25 * BP, min_interval=3600, timelock=600, expiry=7200,
        fast_direction="up",
    ),
    # relative 10 %, 30 min apart, lowering fast (DC-IAM style)
    ("market", "BTC-PERP", "maintenance_margin"): Guardrail(
        200 * BP, 450 * BP, WAD // 10, WAD // 10, relative=True, min_interval=1800, expiry=3600,
        fast_direction="down",
    ),
    # EIP-1559 style: 12.5 % per block
    ("market", "ETH-PERP", "taker_fee"): Guardrail(
        BP, 20 * BP, WAD // 8, WAD // 8, relative=True, expiry=600
    ),
}
KEYS = sorted(GUARDS)

actions = st.lists(
    st.tuples(
        st.integers(1, 2400),  # seconds to the next block
        st.sampled_from(["propose", "propose", "apply", "apply", "veto", "stranger"]),
        st.integers(0, len(KEYS) - 1),  # which parameter
        st.integers(-3000, 3000),  # proposed move in bps of the current value
        st.integers(0, 2),  # proposal id offset back from the newest
    ),
    min_size=5,
    max_size=30,
)


@dataclass
class Seen:
    proposals: dict[int, ev.ParameterProposed]
    proposed_at: dict[int, int]
    vetoed: set[int]
    last_applied: dict[str, int]


def _tx(engine: Engine, kind: str, which: int, bps: int, back: int) -> c.AnyCommand:
    scope, target, parameter = KEYS[which]
    newest = engine.state.steward.next_id - 1
    pid = max(1, newest - back)
    if kind == "propose":
        current = params.read(engine.state, scope, target, parameter)
        value = current + current * bps // 10_000
        return c.ProposeParameter(CONTROLLER, scope, target, parameter, value)  # type: ignore[arg-type]
    if kind == "apply":
        return c.ApplyParameter(CONTROLLER, pid)
    if kind == "veto":
        return c.VetoProposal(GUARDIAN, pid)
    return c.ApplyParameter(MALLORY, pid)


def _block(engine: Engine, dt: int, txs: tuple[c.AnyCommand, ...]) -> Block:
    return Block(engine.state.height + 1, engine.state.time + dt, {}, txs)


def _check_applied(engine: Engine, e: ev.ParameterApplied, seen: Seen, before: dict[str, int]) -> None:
    k = params.key(e.scope, e.target, e.parameter)
    g = GUARDS[(e.scope, e.target, e.parameter)]
    now = engine.state.time
    proposal = seen.proposals[e.proposal]
    assert e.proposal not in seen.vetoed, "a vetoed proposal applied"
    assert now < proposal.expires_at, "an expired proposal applied"
    assert e.previous == before[k], "the journalled previous value is not the live one"
    assert g.lower <= e.value <= g.upper
    up = e.value > e.previous
    move = abs(e.value - e.previous)
    step = g.max_up if up else g.max_down
    limit = e.previous * step // WAD if g.relative else step
    assert 0 < move <= limit
    fast = g.fast_direction == ("up" if up else "down")
    if not fast:
        assert now >= seen.proposed_at[e.proposal] + g.timelock
        if k in seen.last_applied:
            assert now - seen.last_applied[k] >= g.min_interval
    seen.last_applied[k] = now


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=actions)
def test_no_sequence_escapes_the_guardrails_and_refusals_change_nothing(
    steps: list[tuple[int, str, int, int, int]],
) -> None:
    guardrails = [(s, t, p, g) for (s, t, p), g in GUARDS.items()]
    engine = engine_with_steward(guardrails)
    twin = engine_with_steward(guardrails)
    seen = Seen({}, {}, set(), {})
    for dt, kind, which, bps, back in steps:
        tx = _tx(engine, kind, which, bps, back)
        before = {params.key(*k): params.read(engine.state, *k) for k in KEYS}
        result = engine.apply_block(_block(engine, dt, (tx,)))
        refused = bool(rejected(result))
        event(f"{kind}: {rejected(result)[0] if refused else 'accepted'}")
        twin_result = twin.apply_block(_block(twin, dt, () if refused else (tx,)))
        assert twin_result.state_root == result.state_root
        if refused:
            assert {params.key(*k): params.read(engine.state, *k) for k in KEYS} == before
        for e in result.events:
            if isinstance(e, ev.ParameterProposed):
                seen.proposals[e.proposal] = e
                seen.proposed_at[e.proposal] = engine.state.time
                assert e.previous == before[params.key(e.scope, e.target, e.parameter)]
            elif isinstance(e, ev.ProposalVetoed):
                seen.vetoed.add(e.proposal)
            elif isinstance(e, ev.ParameterApplied):
                _check_applied(engine, e, seen, before)
                event("applied")
        for k in KEYS:  # every value stays in its bounds whatever happened
            g = GUARDS[k]
            assert g.lower <= params.read(engine.state, *k) <= g.upper
