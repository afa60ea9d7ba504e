"""A controller driving the steward through its agent: only legal steps are sent, margins follow a crash."""

from __future__ import annotations

from clearhouse.controller.agent import StewardAgent
from clearhouse.controller.base import Observation
from clearhouse.controller.volatility import VolatilityTargeting
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.steward.guardrails import Guardrail

from .helpers import CONTROLLER, engine_with_steward, rejected

BP = WAD // 10_000
IM = Guardrail(500 * BP, 5000 * BP, 100 * BP, 50 * BP, min_interval=600)
MM = Guardrail(300 * BP, 2500 * BP, 50 * BP, 25 * BP, min_interval=600)


def test_volatility_controller_raises_margins_in_a_crash_within_its_guardrails() -> None:
    engine = engine_with_steward(
        [("market", "ETH-PERP", "initial_margin", IM), ("market", "ETH-PERP", "maintenance_margin", MM)]
    )
    controller = VolatilityTargeting("ETH-PERP", "ETH", horizon=3600, lam=90 * WAD // 100)
    agent = StewardAgent(controller, CONTROLLER)
    price = 2000 * WAD
    mms: list[int] = []
    applied: list[ev.ParameterApplied] = []
    txs: list = []  # type: ignore[type-arg]
    for i in range(240):
        # two calm hours (+-0.05 % a minute), then two hours of -1 % a minute
        move = (5 if i % 2 else -5) if i < 120 else -100
        price = price * (10_000 + move) // 10_000
        state = engine.state
        result = engine.apply_block(Block(state.height + 1, state.time + 60, {"ETH": price}, tuple(txs)))
        assert rejected(result) == []  # the agent only sends what the steward accepts
        applied += [e for e in result.events if isinstance(e, ev.ParameterApplied)]
        spec = engine.state.markets["ETH-PERP"].spec
        assert spec.maintenance_margin < spec.initial_margin
        mms.append(spec.maintenance_margin)
        txs = agent.transactions(engine.state, Observation(engine.state.time, {"ETH": price}))
    calm, crash = mms[119], mms[-1]
    assert calm == MM.lower  # calm: lowered step by step to the floor of the guardrail
    # crash: raised towards z x sigma, as fast as the guardrail allows (0.5 % per 10 min: at most 12 steps in
    # the two hours of the crash; 11 fit after the EWMA reacts): 3 % -> 8.5 %
    assert crash == calm + 11 * MM.max_up
    for e in applied:
        g = IM if e.parameter == "initial_margin" else MM
        assert -g.max_down <= e.value - e.previous <= g.max_up
    assert agent.stats.proposed >= len(applied) > 10
