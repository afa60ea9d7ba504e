"""The steward's node pieces without processes: ``[genesis.steward]`` in node.toml, the genesis commands,
``/v1/steward``'s view, the parameter gauges and outcome counters, and the controller process's
observation and intent keys."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from clearhouse.auth.envelope import encode_signed, sign
from clearhouse.auth.keys import KeyPair
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.errors import InvalidValue
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.node.config import GenesisConfig, NodeConfig, dump_config, load_config
from clearhouse.node.controller_proc import intent_target, observe
from clearhouse.node.genesis import genesis_block
from clearhouse.node.steward_genesis import StewardGenesis
from clearhouse.node.steward_views import StewardMetrics, steerable_values, steward_view

ADMIN, GUARD = "ab" * 32, "ef" * 32
KEY = KeyPair.generate()
CTRL = KEY.public_hex
MM, IM = "market:ETH-PERP/maintenance_margin", "market:ETH-PERP/initial_margin"


def _cfg(**kw: object) -> NodeConfig:
    steward = StewardGenesis(CTRL, GUARD, **kw)  # type: ignore[arg-type]
    return NodeConfig(admin_keys=(ADMIN,), genesis=GenesisConfig(start_time=1_000, steward=steward))


def test_steward_section_round_trips_and_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    cfg = _cfg(timelock=5, min_interval=2, forbidden=("liquidation_fee",))
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg
    for bad, match in (
        (_cfg(controllers=("nope",)), "unknown controller"),
        (_cfg(timelock=10, expiry=10), "expiry"),
        (msgspec.structs.replace(cfg, genesis=msgspec.structs.replace(
            cfg.genesis, steward=StewardGenesis(CTRL, CTRL))), "different keys"),
    ):
        path.write_text(dump_config(bad))
        with pytest.raises(InvalidValue, match=match):
            load_config(path)


def _engine(**kw: object) -> Engine:
    engine = Engine()
    engine.apply_block(genesis_block(_cfg(**kw), 1_000))
    return engine


def test_genesis_configures_the_steward_with_the_lab_guardrails() -> None:
    engine = _engine(timelock=30, min_interval=60, expiry=600)
    view = steward_view(engine.state)
    assert view["configured"] and view["config"]["controller"] == CTRL and view["config"]["guardian"] == GUARD
    guards = {g["key"]: g for g in view["guardrails"]}
    assert set(guards) == {IM, MM}
    mm = guards[MM]
    # the lab's default_guardrails around 5 % maintenance: [2.5 %, 20 %], +25 % / -10 % relative
    assert mm["value"] == 5 * WAD // 100
    assert mm["guardrail"]["lower"] == 25 * WAD // 1000 and mm["guardrail"]["upper"] == 20 * WAD // 100
    assert (mm["guardrail"]["max_up"], mm["guardrail"]["max_down"]) == (WAD // 4, WAD // 10)
    assert mm["guardrail"]["relative"] is True
    g = mm["guardrail"]
    assert (g["timelock"], g["min_interval"], g["expiry"]) == (30, 60, 600)
    assert view["pending"] == [] and view["last_applied"] == {} and view["next_id"] == 1


def test_view_and_metrics_follow_proposals_applications_and_refusals() -> None:
    engine = _engine(timelock=2, min_interval=1, expiry=100)
    state = engine.state
    reg = CollectorRegistry()
    metrics = StewardMetrics(reg)
    blocks = [
        [c.ProposeParameter(CTRL, "market", "ETH-PERP", "maintenance_margin", 6 * WAD // 100),
         c.ProposeParameter(CTRL, "market", "ETH-PERP", "maintenance_margin", WAD)],  # out of bounds
        [c.ApplyParameter(CTRL, 1)],  # timelock_active
        [],
        [c.ApplyParameter(CTRL, 1)],
    ]
    t, h0 = state.time, state.height
    for txs in blocks:
        t += 1
        h = engine.state.height + 1
        signed = tuple(
            msgspec.Raw(encode_signed(sign(KEY, tx, chain_id="clearhouse-devnet", nonce=t * 1000 + i,
                                           good_til_block=h)))
            for i, tx in enumerate(txs)
        )
        result = engine.apply_block(Block(h, t, {"ETH": 2000 * WAD}, (), signed=signed))
        metrics.on_block(result, 0.0)
        if h == h0 + 1:
            view = steward_view(engine.state)
            (p,) = view["pending"]
            assert (p["id"], p["key"], p["value"], p["previous"]) == (1, MM, 6 * WAD // 100, 5 * WAD // 100)
            assert p["earliest"] == p["proposed_at"] + 2 and p["expires_at"] == p["proposed_at"] + 100
    view = steward_view(engine.state)
    assert view["pending"] == []
    assert view["last_applied"] == {MM: {"time": t, "value": 6 * WAD // 100}}
    metrics.render(engine.state)
    text = generate_latest(reg).decode()
    assert 'clearhouse_steward_proposals_total{outcome="proposed"} 1.0' in text
    assert 'clearhouse_steward_proposals_total{outcome="applied"} 1.0' in text
    assert 'clearhouse_steward_proposals_total{outcome="refused"} 2.0' in text
    assert 'clearhouse_steward_proposals_total{outcome="vetoed"} 0.0' in text
    assert ('clearhouse_parameter{parameter="maintenance_margin",scope="market",target="ETH-PERP"} 6e+16'
            in text)
    names = {p for _, _, p, _ in steerable_values(engine.state)}
    assert {"initial_margin", "liquidation_fee", "vol_multiplier", "price_band"} <= names
    assert all("." not in n or n.split(".")[0] in ("liquidation", "margin_model") for n in names)


def test_observation_and_intent_keys() -> None:
    engine = _engine()
    engine.apply_block(Block(2, 1_001, {"ETH": 2000 * WAD}, ()))
    obs = observe(engine.state)
    assert obs.time == 1_001 and obs.prices == {"ETH": 2000 * WAD} and obs.open_interest == {"ETH-PERP": 0}
    assert obs.gas_gwei == {}
    propose = c.ProposeParameter(CTRL, "market", "ETH-PERP", "initial_margin", 11 * WAD // 100)
    assert intent_target(propose) == ("propose", IM)
    assert intent_target(c.ApplyParameter(CTRL, 7)) == ("apply", "7")
