"""``clearhouse controller``: the risk controller as a separate process of the node, like the keeper.

It follows the node's stream from the first block and re-applies every block to its own replica engine
(checking each state root: a controller that disagrees with the node stops). After every block it builds
the :class:`~clearhouse.controller.base.Observation` the replica shows (oracle prices, open interest, the
largest position, pool depth; the devnet has no gas market, so gas percentiles are empty and the congestion
controller stays idle) and runs the *same* controller classes and the *same*
:class:`~clearhouse.controller.agent.StewardAgent` as the lab (``clearhouse simulate --controller``); the
transactions it returns are signed with the controller key and sent through :mod:`clearhouse.client`.

**Deterministic and idempotent.** The controller sees exactly one observation per block, from block 1, both
live and when catching up after a restart, so its state (e.g. the EWMA of returns) is the same function of
the chain either way; nothing is sent while catching up. Before submitting, each signed envelope is
appended to the intent log (:class:`clearhouse.node.keeper.IntentLog`, one fsynced JSON line); while any
intent is open the controller sends nothing new, and on restart it re-sends the *same* bytes of every open
intent (same hash: the node cannot include it twice). An intent is closed only once the replica has applied
the block holding it, so the agent never decides on a state that lacks its own proposal (no duplicate
proposal for the same change).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clearhouse.auth.envelope import encode_signed, signing_digest
from clearhouse.auth.keys import KeyPair
from clearhouse.client import FINAL, Client, NodeError
from clearhouse.controller.agent import StewardAgent
from clearhouse.controller.base import Observation
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import decode_block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.model import LedgerState
from clearhouse.mechanisms.steward import parameters as params
from clearhouse.node.keeper import Intent, IntentLog, StreamItem, follow_stream, resend_or_expire

log = logging.getLogger("clearhouse.controller")


def observe(state: LedgerState) -> Observation:
    """What the node's ledger shows at its last block (the lab's observation, minus the gas market)."""
    largest: dict[str, int] = {}
    for acct in state.accounts.values():
        for pos in acct.positions.values():
            largest[pos.market] = max(largest.get(pos.market, 0), abs(pos.size))
    return Observation(
        time=state.time,
        prices={k: p for k, (p, _) in state.prices.items()},
        open_interest={mid: m.open_interest for mid, m in state.markets.items()},
        largest_position=largest,
        depth={mid: m.amm_base for mid, m in state.markets.items() if m.amm_account and m.amm_base > 0},
    )


def intent_target(command: c.AnyCommand) -> tuple[str, str | None]:
    """The intent log's key of a steward transaction: one open intent per parameter / proposal."""
    if isinstance(command, c.ProposeParameter):
        return ("propose", params.key(command.scope, command.target, command.parameter))
    if isinstance(command, c.ApplyParameter):
        return ("apply", str(command.proposal))
    return (type(command).__name__, None)


@dataclass
class ControllerSettings:
    url: str
    #: Controller name (``volatility``, ``congestion``, ``open_interest``, ``oracle``).
    name: str
    state_path: Path
    #: Attribute overrides of the controller object (e.g. ``min_samples=3``), integers.
    overrides: dict[str, int] = field(default_factory=dict)
    #: Markets to steer (empty: every market of the ledger when the controller starts deciding).
    markets: tuple[str, ...] = ()
    #: Stop after this many seconds (None: forever).
    run_for: float | None = None
    #: Test hook: exit (as if killed) right after the first submission.
    exit_after_submit: bool = False


class LiveController:
    def __init__(self, settings: ControllerSettings, key: KeyPair) -> None:
        self.s = settings
        self.key = key
        self.client = Client(settings.url, key)
        self.replica = Engine()
        self.intents = IntentLog.load(settings.state_path)
        self.agents: dict[str, StewardAgent] = {}
        self.seq = 1
        self.catch_up = 0
        self.sent = 0

    # -- agents --------------------------------------------------------------------------------------

    def _agent_for(self, market: str) -> StewardAgent:
        from clearhouse.lab.controller_run import make_controller

        agent = self.agents.get(market)
        if agent is None:
            spec = self.replica.state.markets[market].spec
            ctrl = make_controller(self.s.name, spec, 10_000 * WAD)
            for attr, value in self.s.overrides.items():
                if not hasattr(ctrl, attr):
                    raise SystemExit(f"controller {self.s.name!r} has no parameter {attr!r}")
                setattr(ctrl, attr, value)
            agent = self.agents[market] = StewardAgent(ctrl, self.key.public_hex)
        return agent

    def decide(self) -> list[c.AnyCommand]:
        """One observation per block for every steered market's agent; the transactions they want now."""
        state = self.replica.state
        obs = observe(state)
        out: list[c.AnyCommand] = []
        for mid in sorted(self.s.markets or state.markets):
            if mid in state.markets:
                out += self._agent_for(mid).transactions(state, obs)
        return out

    # -- intents -------------------------------------------------------------------------------------

    def check_intents(self) -> None:
        """Close intents whose outcome is final at or below the replica's height; re-send forgotten ones."""
        height = self.replica.state.height
        for intent in list(self.intents.open.values()):
            st = self.client.tx(intent.hash)
            if st["status"] in FINAL:
                if st.get("height") is None or int(st["height"]) <= height:
                    self.intents.done(intent, str(st["status"]))
                    log.info("proposal_outcome", extra={"target": intent.target, "status": st["status"],
                                                        "code": st.get("code")})
            elif st["status"] == "unknown":
                resend_or_expire(self.client, self.intents, intent)

    def _settle(self, txs: list[dict[str, Any]]) -> None:
        by_hash = {it.hash: it for it in self.intents.open.values()}
        for o in txs:
            it = by_hash.get(str(o.get("hash")))
            if it is not None and o.get("status") in FINAL:
                self.intents.done(it, str(o["status"]))
                log.info("proposal_outcome", extra={"target": it.target, "status": o["status"],
                                                    "code": o.get("code")})

    def send(self, commands: list[c.AnyCommand]) -> None:
        for command in commands:
            signed = self.client.sign(command)
            raw = encode_signed(signed)
            intent = Intent(intent_target(command), signing_digest(signed.envelope).hex(), raw,
                            signed.envelope.good_til_time or 0)
            self.intents.add(intent)
            try:
                self.client.submit(raw)
            except NodeError as err:
                log.warning("refused_at_edge", extra={"target": intent.target, "code": err.code})
                if err.code != "nonce_reused":
                    self.intents.done(intent, "rejected")
                continue
            self.sent += 1
            log.info("sent", extra={"target": intent.target, "hash": intent.hash,
                                    "command": type(command).__name__})
            if self.s.exit_after_submit:
                os._exit(3)

    # -- the loop ------------------------------------------------------------------------------------

    def on_block(self, item: StreamItem) -> None:
        block = decode_block(bytes(item.block))
        result = self.replica.apply_block(block)
        if result.state_root != item.state_root:
            raise SystemExit(
                f"replica diverged at block {item.height}: {result.state_root} != {item.state_root}"
            )
        self._settle(item.txs)
        wanted = self.decide()  # always: the controller sees every block exactly once
        if item.height < self.catch_up:
            return
        if self.intents.open:
            self.check_intents()
            return
        if wanted:
            self.send(wanted)

    def run(self) -> None:
        follow_stream(self, self.client, self.s.run_for)


__all__ = ["ControllerSettings", "LiveController", "intent_target", "observe"]
