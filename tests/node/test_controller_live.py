"""The risk controller as a live process: node + three reporters on a volatile path + ``clearhouse
controller``. A proposal is made and applied after its timelock, and shows in ``/v1/steward``, the stream
and ``/metrics``; the guardian's signed veto voids one; a restart of the controller does not duplicate its
proposal; proposals outside the guardrail (or from a stranger) are refused by the engine with typed codes."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import msgspec

from clearhouse.auth.keys import KeyPair, save_key
from clearhouse.client import Client, W
from clearhouse.journal import open_store
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import decode_block, decode_events
from clearhouse.node.config import dump_config, load_config
from clearhouse.node.steward_genesis import StewardGenesis

from .devnet import Devnet, wait_until

MM = "market:ETH-PERP/maintenance_margin"
IM = "market:ETH-PERP/initial_margin"
TIMELOCK = 8
#: Swings of 15-25 % a second: the EWMA volatility of the controller saturates its cap at once.
PATH = ",".join(["2000", "2400", "1800", "2300", "1700", "2200"] * 8)


def _devnet(root: Path, ctrl: KeyPair, guardian: KeyPair) -> Devnet:
    net = Devnet(root)
    save_key(root / "keys" / "controller.key", ctrl)
    cfg = load_config(net.config)
    steward = StewardGenesis(ctrl.public_hex, guardian.public_hex, timelock=TIMELOCK, min_interval=1,
                             expiry=120)
    cfg = msgspec.structs.replace(cfg, genesis=msgspec.structs.replace(cfg.genesis, steward=steward))
    net.config.write_text(dump_config(cfg), encoding="utf-8")
    return net


def _events(cl: Client) -> list[dict[str, Any]]:
    """Every event so far, read from the SSE stream (``/v1/stream``) from seq 1."""
    last = cl.status()["next_seq"] - 1
    return [it["event"] for it in cl.stream(from_seq=1, limit=last, timeout=10) if it["type"] == "event"]


def _controller(net: Devnet, *args: str) -> Any:
    return net.spawn("controller", "--key", str(net.root / "keys" / "controller.key"), "--node", net.url,
                     "--controller", "volatility", "--set", "min_samples=3",
                     "--state", str(net.root / "controller-intents.jsonl"), *args)


def test_live_controller_proposes_applies_is_vetoed_and_restarts_without_duplicates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctrl, guardian, stranger = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    net = _devnet(tmp_path, ctrl, guardian)
    net.start()
    try:
        cl = net.client(ctrl)
        view = cl.get("/v1/steward")
        assert view["configured"] and view["config"]["controller"] == ctrl.public_hex
        assert {g["key"] for g in view["guardrails"]} == {IM, MM}
        mm_guard = next(g for g in view["guardrails"] if g["key"] == MM)
        assert mm_guard["value"] == W("0.05") and mm_guard["guardrail"]["timelock"] == TIMELOCK
        assert view["pending"] == [] and view["last_applied"] == {}
        # refused by the engine with its typed code, changing nothing
        upper = mm_guard["guardrail"]["upper"]
        out = cl.send(c.ProposeParameter(ctrl.public_hex, "market", "ETH-PERP", "maintenance_margin",
                                         upper + 1))
        assert (out["status"], out["code"]) == ("failed", "out_of_bounds"), out
        out = cl.send(c.ProposeParameter(ctrl.public_hex, "market", "ETH-PERP", "maintenance_margin",
                                         W("0.07")))
        assert (out["status"], out["code"]) == ("failed", "step_too_large"), out
        out = cl.send(c.ProposeParameter(stranger.public_hex, "market", "ETH-PERP", "maintenance_margin",
                                         W("0.06")), stranger)
        assert (out["status"], out["code"]) == ("failed", "not_controller"), out
        assert cl.get("/v1/steward")["pending"] == []

        for i in range(3):
            net.reporter(i, "--path", PATH, "--interval", "1")
        # first run: killed right after its first submission (before it knows the outcome)
        first = _controller(net, "--exit-after-submit", "--run-for", "30")
        assert first.wait(30) == 3, first.stderr.read().decode()
        intents = (tmp_path / "controller-intents.jsonl").read_text().splitlines()
        assert len(intents) == 1 and '"propose"' in intents[0]
        # the restart re-sends or settles that intent and carries on
        second = _controller(net, "--run-for", "60")

        vetoed: dict[str, int] = {}

        def veto_mm() -> bool:
            for p in cl.get("/v1/steward")["pending"]:
                if p["key"] == MM:
                    g = Client(net.url, guardian)
                    res = g.send(c.VetoProposal(guardian.public_hex, p["id"], "test veto"))
                    g.close()
                    assert res["status"] == "included", res
                    vetoed["id"] = p["id"]
                    return True
            return False

        wait_until(veto_mm, 20, "a pending maintenance proposal to veto")
        wait_until(lambda: IM in cl.get("/v1/steward")["last_applied"], 20, "the initial margin to apply")
        wait_until(lambda: MM in cl.get("/v1/steward")["last_applied"], 20, "a maintenance proposal to apply")
        view = cl.get("/v1/steward")
        assert view["last_applied"][IM]["value"] > W("0.10")
        assert view["last_applied"][MM]["value"] > W("0.05")
        assert vetoed["id"] not in {p["id"] for p in view["pending"]}
        for p in view["pending"]:
            assert p["earliest"] == p["proposed_at"] + TIMELOCK and p["expires_at"] == p["proposed_at"] + 120

        second.send_signal(signal.SIGTERM)  # parameters stop moving: the gauges can be compared
        second.wait(10)
        # the stream carries the steward's events
        names = [e["type"] for e in _events(cl)]
        for name in ("StewardConfigured", "GuardrailSet", "ParameterProposed", "ParameterApplied",
                     "ProposalVetoed"):
            assert name in names, name
        # Prometheus: every steerable parameter's value and proposals by outcome
        text = httpx.get(f"{net.url}/metrics").text
        gauges = {
            line.split("{")[1].split(",")[0]: float(line.split()[-1])
            for line in text.splitlines() if line.startswith("clearhouse_parameter{")
        }
        market = cl.markets()[0]
        assert gauges['parameter="initial_margin"'] == float(market["initial_margin"]) > 1e17
        assert gauges['parameter="maintenance_margin"'] == float(market["maintenance_margin"]) > 5e16
        others = {'parameter="liquidation_fee"', 'parameter="vol_multiplier"', 'parameter="price_band"'}
        assert others <= set(gauges)
        for outcome, least in (("applied", 2), ("vetoed", 1), ("refused", 3), ("proposed", 3)):
            line = next(x for x in text.splitlines()
                        if x.startswith(f'clearhouse_steward_proposals_total{{outcome="{outcome}"}}'))
            assert float(line.split()[-1]) >= least, line
        cl.close()
    finally:
        net.stop()

    # the journal: applied after the timelock, the veto never applied, never two pending proposals of one
    # parameter, and the change proposed before the crash proposed exactly once
    store = open_store(net.journal, read_only=True)
    pending: dict[int, ev.ParameterProposed] = {}
    proposed: list[ev.ParameterProposed] = []
    applied: list[ev.ParameterApplied] = []
    for row in store.rows():
        t = decode_block(row.block).time
        for e in decode_events(row.events):
            if isinstance(e, ev.ParameterProposed):
                key = (e.scope, e.target, e.parameter)
                assert all((p.scope, p.target, p.parameter) != key for p in pending.values()), e
                pending[e.proposal] = e
                proposed.append(e)
            elif isinstance(e, ev.ParameterApplied):
                p = pending[e.proposal]
                assert p.earliest == p.expires_at - 120 + TIMELOCK and t >= p.earliest  # after the timelock
                assert e.proposal != vetoed["id"]
                applied.append(e)
                del pending[e.proposal]
            elif isinstance(e, ev.ProposalVetoed | ev.ProposalDropped):
                del pending[e.proposal]
    store.close()
    first_im = [p for p in proposed if p.parameter == "initial_margin" and p.previous == W("0.10")]
    assert len(first_im) == 1
    assert applied and vetoed["id"] in {p.proposal for p in proposed}
