"""``clearhouse keeper``: a follower that liquidates for profit.

It follows the node's stream from the first block, re-applies every block to its own replica engine
(checking each state root: a keeper that disagrees with the node stops), screens the replica with the
same columnar scanner the engine uses, confirms exactly (:func:`clearhouse.ledger.enforcement.confirm`)
and then through the API's liquidation queue, and decides with the same function as the lab's keepers
(:mod:`clearhouse.risk.keeper_decision`). It sends ``CloseOut`` for its own account. It also keeps
vaults (:mod:`clearhouse.node.vault_keeper`, deciding with the lab's vault keepers' code): ``Bark`` for
unsafe vaults, ``TakeAuction`` when a Dutch auction's price makes a take profitable.

**Idempotent.** Before submitting, the keeper appends the signed bytes to its intent log (one JSON line,
fsynced). It never signs a second close-out of a target while one is open; on restart it re-sends the
*same* bytes of every open intent (same hash: the node answers that it already has it), and closes an
intent once its outcome is final. So neither a crash mid-liquidation nor a restart double-sends; two
keepers compete, and the engine lets only the first close-out of an account through.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import httpx
import msgspec

from clearhouse.auth.envelope import encode_signed, signing_digest
from clearhouse.auth.keys import KeyPair
from clearhouse.client import FINAL, Client, NodeError
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import decode_block
from clearhouse.ledger.enforcement import Target, confirm
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.errors import ClearhouseError
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.margin import fresh_price_lookup
from clearhouse.node.vault_keeper import bark_target, vault_actions
from clearhouse.risk.keeper_decision import decide, expected_reward, target_terms
from clearhouse.risk.scanner import ColumnarScanner

log = logging.getLogger("clearhouse.keeper")


class StreamItem(msgspec.Struct, frozen=True):
    seq: int
    type: str
    height: int
    state_root: str = ""
    block: msgspec.Raw = msgspec.Raw(b"null")
    txs: list[dict[str, Any]] = []


#: Decodes one ``data:`` line of the node's stream.
stream_item_decoder = msgspec.json.Decoder(StreamItem)


def resend_or_expire(client: Client, intents: IntentLog, intent: Intent) -> None:
    """An open intent the node does not know (it restarted, or the submission was lost): past its
    expiry it is done; otherwise the same signed bytes are sent again (never a new signature)."""
    if intent.expires_ms < time.time() * 1000:
        intents.done(intent, "expired")
        return
    try:
        client.submit(intent.raw)
        log.info("resent", extra={"hash": intent.hash, "target": intent.target})
    except NodeError as err:
        log.info("resend_refused", extra={"hash": intent.hash, "code": err.code})


class StreamFollower(Protocol):
    """A process that replays the node's stream block by block (the keeper, the controller)."""

    #: The next stream sequence number wanted; the node's height when (re)connecting.
    seq: int
    catch_up: int

    def on_block(self, item: StreamItem) -> None: ...


def follow_stream(follower: StreamFollower, client: Client, run_for: float | None) -> None:
    """Feed ``follower`` every block of ``/v1/stream`` from its ``seq`` on, in order, reconnecting
    (and resuming at ``seq``) when the connection drops; a gap in the sequence stops the process.
    Returns after ``run_for`` seconds (None: never)."""
    deadline = None if run_for is None else time.monotonic() + run_for
    while deadline is None or time.monotonic() < deadline:
        try:
            follower.catch_up = int(client.status()["height"])
            left = 15.0 if deadline is None else max(0.1, min(15.0, deadline - time.monotonic()))
            timeout = httpx.Timeout(10.0, read=left)  # an idle chain still lets run_for end
            params = {"from_seq": follower.seq}
            with client.http.stream("GET", "/v1/stream", params=params, timeout=timeout) as r:
                for line in r.iter_lines():
                    if deadline is not None and time.monotonic() > deadline:
                        return
                    if not line.startswith("data: "):
                        continue
                    item = stream_item_decoder.decode(line[6:])
                    if item.seq != follower.seq:
                        raise SystemExit(f"stream gap: expected {follower.seq}, got {item.seq}")
                    follower.seq += 1
                    if item.type == "block":
                        follower.on_block(item)
        except (httpx.HTTPError, OSError) as err:
            if deadline is not None and time.monotonic() >= deadline:
                return
            log.warning("stream_dropped", extra={"error": str(err), "resume_from": follower.seq})
            time.sleep(0.3)


@dataclass
class Intent:
    target: Target
    hash: str
    raw: bytes
    expires_ms: int


@dataclass
class IntentLog:
    """Append-only JSON lines: ``open`` (target, hash, signed bytes) and ``done`` (hash, status)."""

    path: Path
    open: dict[Target, Intent] = field(default_factory=dict)
    sent: int = 0

    @classmethod
    def load(cls, path: Path) -> IntentLog:
        log_ = cls(path)
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                rec = json.loads(line)
                if rec["op"] == "open":
                    t = (rec["target"][0], rec["target"][1])
                    log_.open[t] = Intent(t, rec["hash"], bytes.fromhex(rec["raw"]), rec["expires_ms"])
                    log_.sent += 1
                else:
                    for t, it in list(log_.open.items()):
                        if it.hash == rec["hash"]:
                            del log_.open[t]
        return log_

    def _append(self, rec: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def add(self, intent: Intent) -> None:
        self._append({"op": "open", "target": list(intent.target), "hash": intent.hash,
                      "raw": intent.raw.hex(), "expires_ms": intent.expires_ms})
        self.open[intent.target] = intent
        self.sent += 1

    def done(self, intent: Intent, status: str) -> None:
        self._append({"op": "done", "hash": intent.hash, "status": status})
        self.open.pop(intent.target, None)


@dataclass
class KeeperSettings:
    url: str
    account: str
    state_path: Path
    #: Minimum expected profit (settlement units) after ``cost``.
    threshold: float = 0.0
    #: The keeper's cost per close-out (settlement units; the devnet charges no gas).
    cost: float = 0.0
    #: Test hook: exit (as if killed) right after submitting a close-out.
    exit_after_submit: bool = False
    #: Stop after this many seconds (None: forever).
    run_for: float | None = None
    #: ``closeout`` (CloseOut: take the whole bucket over at the oracle price) or ``liquidate``
    #: (Liquidate: one position by the market's mechanism, as the lab's keepers do for such markets).
    mode: str = "closeout"
    #: Serve Prometheus metrics on 127.0.0.1:PORT (None: off).
    metrics_port: int | None = None
    #: Also bark unsafe vaults and take from Dutch auctions (:mod:`clearhouse.node.vault_keeper`).
    vaults: bool = True
    #: Required discount to the oracle price before taking collateral (0.05 = 5 %).
    discount: float = 0.0


class KeeperMetrics:
    """Keeper lag (blocks from a target's first confirmation below maintenance to the block holding the
    keeper's close-out), the replica's height and close-outs by outcome."""

    def __init__(self, port: int) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

        r = CollectorRegistry()
        self.lag = Gauge("clearhouse_keeper_lag_blocks", "Blocks from first seen liquidatable to inclusion",
                         registry=r)
        self.height = Gauge("clearhouse_keeper_replica_height", "Height of the keeper's replica", registry=r)
        self.outcomes = Counter("clearhouse_keeper_closeouts", "Close-outs by outcome", ["outcome"],
                                registry=r)
        start_http_server(port, addr="127.0.0.1", registry=r)


class Keeper:
    def __init__(self, settings: KeeperSettings, key: KeyPair) -> None:
        self.s = settings
        self.key = key
        self.client = Client(settings.url, key)
        self.replica = Engine(scanner=ColumnarScanner())
        self.intents = IntentLog.load(settings.state_path)
        self.seq = 1
        self.catch_up = 0
        #: Height at which each target was first confirmed below maintenance in the replica.
        self.first_seen: dict[Target, int] = {}
        self.metrics = KeeperMetrics(settings.metrics_port) if settings.metrics_port else None

    # -- intents -----------------------------------------------------------------------------------

    def resume_intents(self) -> None:
        for intent in list(self.intents.open.values()):
            st = self.client.tx(intent.hash)
            if st["status"] in FINAL:
                self.intents.done(intent, st["status"])
            elif st["status"] == "unknown":
                resend_or_expire(self.client, self.intents, intent)

    def _settle(self, txs: list[dict[str, Any]], height: int) -> None:
        by_hash = {it.hash: it for it in self.intents.open.values()}
        for o in txs:
            it = by_hash.get(str(o.get("hash")))
            if it is not None and o.get("status") in FINAL:
                self.intents.done(it, str(o["status"]))
                lag = height - self.first_seen.get(it.target, height)
                log.info("closeout_outcome", extra={"target": it.target, "status": o["status"],
                                                    "code": o.get("code"), "lag_blocks": lag})
                if self.metrics is not None:
                    self.metrics.outcomes.labels(str(o["status"])).inc()
                    if o.get("status") == "included":
                        self.metrics.lag.set(lag)

    # -- decisions ---------------------------------------------------------------------------------

    def decide(self) -> None:
        state = self.replica.state
        me = self.s.account
        if me not in state.accounts:
            return
        try:
            price_of = fresh_price_lookup(state)
            candidates = self.replica.scanner.candidates(state, set(state.accounts))
        except ClearhouseError:
            return
        confirmed = confirm(state, candidates, price_of)
        live = {conf.target for conf in confirmed}
        for t in [t for t in self.first_seen if t not in live]:
            del self.first_seen[t]
        for t in live:
            self.first_seen.setdefault(t, state.height)
        if not confirmed:
            return
        specs = {m: ms.spec for m, ms in state.markets.items()}
        prices = {k: p for k, (p, _) in state.prices.items()}
        try:
            margin = self.replica.margin(me)
            free = margin.equity - margin.initial
        except ClearhouseError:
            free = 0
        committed = 0
        queue: set[Target] | None = None
        for conf in sorted(confirmed, key=lambda x: (x.health, x.target[0], x.target[1] or "")):
            target = conf.target
            if target[0] == me or target in self.intents.open:
                continue
            terms = target_terms(state.accounts[target[0]], target, specs, prices)
            if terms.notional == 0 or terms.first_market is None:
                continue
            spec = specs[terms.first_market]
            reward = expected_reward(terms.penalty, conf.equity, spec.liquidator_share)
            im = terms.initial_margin
            if self.s.mode == "liquidate" and spec.liquidation.disposal == "amm":
                reward, im = 0.0, 0  # the pool takes the position; the caller only triggers (as in the lab)
            decision = decide(reward, self.s.cost, self.s.threshold, free, committed, im)
            if decision != "send":
                log.info("declined", extra={"target": target, "why": decision, "reward": reward})
                continue
            if queue is None:  # confirm through the API: the node's own exact check, now
                queue = {(q["account"], q["market"]) for q in self.client.liquidations()}
            if target not in queue:
                continue
            cmd: c.AnyCommand = (
                c.Liquidate(target[0], liquidator=me, market=target[1]) if self.s.mode == "liquidate"
                else c.CloseOut(target[0], liquidator=me, market=target[1])
            )
            if self._send(target, cmd, "closeout", reward=reward, seen_at=self.first_seen.get(target),
                          height=state.height):
                committed += im

    def _send(self, target: Target, cmd: c.AnyCommand, what: str, **info: object) -> bool:
        """Sign, record the intent (fsynced) and submit: the one way every send goes out."""
        signed = self.client.sign(cmd)
        raw = encode_signed(signed)
        expires = signed.envelope.good_til_time or 0
        intent = Intent(target, signing_digest(signed.envelope).hex(), raw, expires)
        self.intents.add(intent)
        try:
            self.client.submit(raw)
        except NodeError as err:
            log.warning(f"{what}_refused", extra={"target": target, "code": err.code})
            if err.code != "nonce_reused":
                self.intents.done(intent, "rejected")
            return False
        log.info(f"{what}_sent", extra={"target": target, "hash": intent.hash, **info})
        if self.s.exit_after_submit:
            os._exit(3)
        return True

    def decide_vaults(self) -> None:
        """Bark unsafe vaults, take from and redo Dutch auctions (:mod:`clearhouse.node.vault_keeper`), each
        confirmed through the API's ``/v1/vaults`` and ``/v1/auctions`` first."""
        state = self.replica.state
        me = self.s.account
        if me not in state.accounts or not state.vault_types:
            return
        settle = state.params.settlement_asset
        free = state.accounts[me].balances.get(settle, 0)
        try:
            margin = self.replica.margin(me)
            free = min(free, margin.equity - margin.initial)
        except ClearhouseError:
            pass
        discount = int(Decimal(str(self.s.discount)) * WAD)
        actions, declined = vault_actions(state, me, free, self.s.cost, self.s.threshold, discount,
                                          set(self.intents.open))
        for target, why in declined:
            log.info("declined", extra={"target": target, "why": why})
        unsafe: set[Target] | None = None
        auctions: dict[int, dict[str, Any]] | None = None
        for act in actions:
            if act.kind == "bark":
                if unsafe is None:
                    unsafe = {bark_target(v["account"], v["vault_type"]) for v in self.client.vaults(True)}
                if act.target not in unsafe:
                    continue
            else:
                if auctions is None:
                    auctions = {int(a["id"]): a for a in self.client.auctions()}
                assert isinstance(act.command, c.TakeAuction | c.RedoAuction)
                seen = auctions.get(act.command.auction)
                if seen is None or seen["price"] is None:
                    continue
                if isinstance(act.command, c.RedoAuction) and not seen["needs_redo"]:
                    continue
                if isinstance(act.command, c.TakeAuction) and (
                        seen["needs_redo"] or seen["price"] > act.command.max_price):
                    continue
            self._send(act.target, act.command, act.kind, gain=act.gain, height=state.height)

    # -- the loop ----------------------------------------------------------------------------------

    def on_block(self, item: StreamItem) -> None:
        block = decode_block(bytes(item.block))
        result = self.replica.apply_block(block)
        if result.state_root != item.state_root:
            raise SystemExit(
                f"replica diverged at block {item.height}: {result.state_root} != {item.state_root}"
            )
        self._settle(item.txs, item.height)
        if self.metrics is not None:
            self.metrics.height.set(item.height)
        if item.height >= self.catch_up:
            self.decide()
            if self.s.vaults:
                self.decide_vaults()

    def run(self) -> None:
        self.resume_intents()
        follow_stream(self, self.client, self.s.run_for)
