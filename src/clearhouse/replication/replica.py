"""A node in replicated mode: the journal sink that publishes (leader) or checks (follower), and the
task that follows the log, holds or watches the lease, and switches roles.

**Leader.** The engine's journal sink publishes each row to JetStream *before* appending it to the local
journal, inside the engine's block transaction: if JetStream refuses (another sequencer wrote that
height) or cannot confirm, the sink raises :class:`Fenced`, the engine rolls the block back, and the node
steps down. So a row is in the local journal (and its transactions read ``included``) only after the
stream, replicated on a quorum of the JetStream servers, has it: an acknowledged transaction survives
the leader's death. The local journal is always a prefix of the log.

**Follower.** Reads row ``h + 1`` from the stream, re-executes its block through the same engine (every
signature, nonce and fill re-checked; no signature cache), and the sink compares the row it would
journal (events, state root, previous hash -> row hash) with the leader's before appending it. Any
difference raises :class:`Diverged`: the block is rolled back and the follower stops following (it
keeps serving what it verified). When the lease has expired and the follower has applied the last
block of the stream, it takes the lease and produces from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from clearhouse.journal.rows import JournalRow, make_row
from clearhouse.journal.store import JournalStore
from clearhouse.ledger.errors import ClearhouseError
from clearhouse.node.config import NodeConfig
from clearhouse.node.service import NodeService
from clearhouse.replication.errors import Diverged, Fenced
from clearhouse.replication.log import BlockLog, Bridge, RowMsg

log = logging.getLogger("clearhouse.replication")

#: Bytes a signed matched fill takes in a row (block JSON, hex signatures), rounded up.
TX_BYTES = 1_500
#: Seconds the node's loop may stall (a block being applied) before the leader lets the lease lapse.
STALL_S = 15.0
#: Seconds the leader waits for JetStream to confirm a block before it steps down.
PUBLISH_TIMEOUT = 5.0


class ReplicaSink:
    """The engine's journal sink in replicated mode (see the module docstring)."""

    def __init__(self, store: JournalStore, bridge: Bridge, blocklog: BlockLog) -> None:
        self.store = store
        self.bridge = bridge
        self.blocklog = blocklog
        self.leading = False
        #: The leader's row for the block being re-executed (follower).
        self.expect: JournalRow | None = None
        self.published = 0

    def head(self) -> object | None:
        return self.store.head()

    def append_block(self, height: int, block: bytes, events: bytes, state_root: str, prev_hash: str) -> str:
        row = make_row(height, block, events, state_root, prev_hash)
        if self.leading:
            try:
                self.bridge.call(self.blocklog.publish(row, PUBLISH_TIMEOUT), PUBLISH_TIMEOUT + 1)
            except TimeoutError as err:
                raise Fenced(f"publish of block {height} not confirmed in time") from err
            self.published += 1
        else:
            check_row(self.expect, row)
        self.store.append(row)
        return row.row_hash


def check_row(leader: JournalRow | None, mine: JournalRow) -> None:
    """Raise :class:`Diverged` unless re-executing gave exactly the leader's row."""
    if leader is None or leader.height != mine.height:
        raise Diverged(f"block {mine.height} was not received from the log")
    if leader.computed_hash() != leader.row_hash:
        raise Diverged(f"the log's row {leader.height} does not match its own hash")
    for name in ("block", "state_root", "events", "prev_hash"):
        if getattr(leader, name) != getattr(mine, name):
            what = {"block": "block bytes", "events": "events", "state_root": "state root",
                    "prev_hash": "previous row hash"}[name]
            detail = f" (leader {leader.state_root}, here {mine.state_root})" if name == "state_root" else ""
            verb = "differ" if what.endswith("s") else "differs"
            raise Diverged(f"block {mine.height}: re-executed {what} {verb} from the leader's{detail}")


class Replicator:
    """Runs beside the node's API on its event loop; owns the NATS connection (on a :class:`Bridge`)."""

    def __init__(self, cfg: NodeConfig, name: str) -> None:
        rep = cfg.replication
        self.cfg = cfg
        self.name = name
        self.bridge = Bridge()
        self.blocklog = BlockLog(rep.servers(), rep.stream, rep.lease_bucket, rep.lease_ttl_ms / 1000,
                                 rep.replicas, name)
        self.sink: ReplicaSink | None = None
        self.svc: NodeService | None = None
        self.revision: int | None = None
        self.halted = ""
        #: Counts the times this node took the lease; a refresher stops when its term is over.
        self.term = 0
        #: Set by the refresher (NATS thread) when the lease could not be renewed.
        self.lease_lost = False
        #: Last time the node's loop ran the replicator (the refresher lets a stalled node go).
        self.beat = time.monotonic()
        self.log_height = 0
        self.takeovers = 0

    def make_sink(self, store: JournalStore) -> ReplicaSink:
        self.sink = ReplicaSink(store, self.bridge, self.blocklog)
        return self.sink

    def connect(self) -> None:
        """Connect (blocking, before serving) and check the local journal is a prefix of the log."""
        self.bridge.call(self.blocklog.connect(), 30)
        limit = self.blocklog.max_payload()
        if self.cfg.max_block_txs * TX_BYTES > limit:
            log.warning("max_payload", extra={
                "max_payload": limit, "max_block_txs": self.cfg.max_block_txs,
                "hint": f"a full block may not fit in one message: raise the servers' max_payload or "
                        f"lower max_block_txs to {limit // TX_BYTES}"})

    def check_prefix(self, svc: NodeService) -> None:
        self.svc = svc
        # Before the API serves: a follower's first refusal already names the leader (the lease holder),
        # not "none" until its first lease poll or first block.
        with contextlib.suppress(Exception):
            svc.leader = self.bridge.call(self.blocklog.holder(), 5) or ""
        head = svc.store.head()
        if head is None:
            return
        theirs = self.bridge.call(self.blocklog.get(head.height), 10)
        if theirs is None or theirs.row_hash != head.row_hash:
            raise Diverged(
                f"the local journal's block {head.height} is not the log's (the log "
                f"{'does not have it' if theirs is None else 'holds another'}): this journal belongs to "
                f"another history; start this node with an empty journal and data_dir"
            )

    # -- roles -----------------------------------------------------------------------------------

    @property
    def svc_(self) -> NodeService:
        assert self.svc is not None
        return self.svc

    def _lead(self, revision: int) -> None:
        svc, sink = self.svc_, self.sink
        assert sink is not None
        self.revision = revision
        sink.leading = True
        svc.role = "leader"
        svc.leader = self.name
        self.takeovers += 1
        self.lease_lost = False
        self.beat = time.monotonic()
        self.term += 1
        asyncio.run_coroutine_threadsafe(self._refresher(self.term), self.bridge.loop)
        log.warning("leading", extra={"height": svc.engine.state.height, "node": self.name})
        if svc.engine.state.height == 0:
            try:
                svc.bootstrap()
            except Fenced as err:
                # The genesis block was rolled back: leading on would produce a block 1 without the
                # genesis. Give the lease back; the next attempt (ours or another node's) writes it.
                self._follow(f"genesis not published: {err}")

    async def _refresher(self, term: int) -> None:
        """Keep the lease while this node leads (term ``term``). It runs on the NATS thread's loop, so
        a long block on the node's loop (a full block of signed trades takes seconds to apply) does not
        let the lease lapse; a node loop stalled for longer than :data:`STALL_S` (a hung process) is let
        go."""
        every = self.cfg.replication.lease_ttl_ms / 4000
        stall = max(STALL_S, 20 * every)
        while True:
            await asyncio.sleep(every)
            revision = self.revision
            if self.term != term or revision is None or self.lease_lost:
                return
            if time.monotonic() - self.beat > stall:
                log.warning("lease_released", extra={"why": f"the node loop stalled for over {stall} s"})
                self.lease_lost = True
                return
            try:
                rev = await self.blocklog.refresh(revision)
            except Exception as err:  # unreachable for a moment: try again; the TTL decides
                log.warning("log_unavailable", extra={"error": f"{type(err).__name__}: {err}"})
                continue
            if self.term != term:
                return
            if rev is None:
                self.lease_lost = True
                return
            self.revision = rev

    def _follow(self, why: str) -> None:
        svc, sink = self.svc_, self.sink
        assert sink is not None
        was = svc.role == "leader" or sink.leading or self.revision is not None
        self.term += 1
        sink.leading = False
        svc.step_down()
        svc.role = "follower"
        svc.leader = ""  # not us any more; the next block or lease poll says who
        if was:
            log.warning("stepped_down", extra={"height": svc.engine.state.height, "why": why})
            if self.revision is not None:
                with contextlib.suppress(Exception):
                    self.bridge.call(self.blocklog.release(self.revision), 3)
        self.revision = None

    # -- the task --------------------------------------------------------------------------------

    async def run(self) -> None:
        ttl = self.cfg.replication.lease_ttl_ms / 1000
        refresh_every = ttl / 4
        poll = 0.02
        next_lease = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                svc = self.svc_
                self.beat = time.monotonic()
                if svc.role == "leader":
                    await asyncio.sleep(min(refresh_every, 0.1))
                    if svc.role != "leader" or self.revision is None:  # fenced meanwhile
                        self._follow("fenced")
                    elif self.lease_lost:
                        self._follow("lease lost")
                    continue
                if self.revision is not None:  # fenced by the log while producing
                    self._follow("fenced")
                applied = 0 if self.halted else await self.catch_up()
                now = loop.time()
                if now >= next_lease:  # also while catching up: who leads now, not who wrote a block
                    next_lease = now + refresh_every
                    holder = await self.bridge.acall(self.blocklog.holder())
                    svc.leader = holder or ""
                    if holder is None and self.cfg.replication.takeover and not self.halted:
                        if applied:  # not at the log's end yet: look again as soon as we are
                            next_lease = 0.0
                        else:
                            await self._try_take()
                            continue
                if applied:
                    continue
                await asyncio.sleep(poll)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the log unreachable for a while: keep trying
                log.warning("log_unavailable", extra={"error": f"{type(err).__name__}: {err}"})
                await asyncio.sleep(0.5)

    async def catch_up(self, limit: int = 256) -> int:
        """Apply the log's blocks after the local head, up to ``limit``; how many were applied."""
        svc = self.svc_
        sink = self.sink
        assert sink is not None
        n = 0
        while n < limit and svc.role != "leader":
            h = svc.engine.state.height + 1
            msg: RowMsg | None = await self.bridge.acall(self.blocklog.get(h))
            if msg is None:
                break
            self.log_height = max(self.log_height, h)
            sink.expect = msg.row()
            try:
                svc.apply_replicated(msg.block)
            except (Diverged, ClearhouseError) as err:
                self.halted = str(err)
                svc.role = "halted"
                log.error("diverged", extra={"height": h, "error": str(err)})
                return n
            finally:
                sink.expect = None
            svc.leader = svc.leader or msg.leader
            n += 1
            self.beat = time.monotonic()
            await asyncio.sleep(0)  # let the API answer between blocks
        return n

    async def _try_take(self) -> None:
        """Take the lease if this follower has every block of the log; then produce from there."""
        svc = self.svc_
        last = await self.bridge.acall(self.blocklog.last())
        self.log_height = last
        if last != svc.engine.state.height:
            return
        rev = await self.bridge.acall(self.blocklog.acquire())
        if rev is None:
            return
        # A block may have landed between ``last`` and the lease: apply it first (expected-last-sequence
        # would refuse our publish anyway, but then we would step down for nothing).
        if await self.bridge.acall(self.blocklog.last()) != svc.engine.state.height:
            await self.bridge.acall(self.blocklog.release(rev))
            return
        self._lead(rev)

    def status(self) -> dict[str, object]:
        svc = self.svc_
        log_height = svc.engine.state.height if svc.role == "leader" else self.log_height
        return {"role": svc.role, "leader": svc.leader or None, "log_height": log_height,
                "halted": self.halted or None, "takeovers": self.takeovers,
                "published": self.sink.published if self.sink else 0}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.svc is not None and self.svc.role == "leader" and self.revision is not None:
                self.bridge.call(self.blocklog.release(self.revision), 3)
        with contextlib.suppress(Exception):
            self.bridge.call(self.blocklog.close(), 5)
        self.bridge.stop()


__all__ = ["ReplicaSink", "Replicator", "check_row"]
