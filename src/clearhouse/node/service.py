"""The node's state machine around the engine: admission, the mempool, block production, the index and
the numbered stream. Everything here runs on the event loop's thread (``apply_block`` included), so the
engine, the journal and the index are never touched concurrently.

**Acknowledgement semantics.** ``submit`` answers with the transaction hash once the envelope is
verified and in the mempool. That is *not* durable: the mempool lives in memory and a crash loses what
was pending (its status then reads ``unknown``; the client re-sends the same bytes, which have the same
hash). A transaction is reported ``included`` (or ``failed``, in the block but refused by the engine)
only after the block holding it has been committed to the journal; after a crash and restart every such
transaction is in the journal, and the nonce window refuses its replay, so nothing is applied twice.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from clearhouse.auth.envelope import SignedEnvelope, decode_signed
from clearhouse.auth.errors import MalformedEnvelope
from clearhouse.auth.reports import ReportSignature, verify_report
from clearhouse.engine.sink import BlockSink
from clearhouse.journal import open_store
from clearhouse.journal.replay import resume
from clearhouse.journal.store import JournalStore
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block, ReportSig, decode_block, decode_events
from clearhouse.ledger.engine import BlockResult, Engine
from clearhouse.ledger.errors import ClearhouseError
from clearhouse.ledger.fixedpoint import to_fixed
from clearhouse.mechanisms.signing.admission import VerifiedSignatures, ledger_auth
from clearhouse.node.book_service import NodeBook
from clearhouse.node.config import NodeConfig
from clearhouse.node.genesis import MARKET, feed_sources, genesis_block, reporter_envelopes
from clearhouse.node.index import NodeIndex, outcome_dict
from clearhouse.node.mempool import Mempool, MempoolFull
from clearhouse.node.txs import Pending, block_signed, outcomes, precheck
from clearhouse.oracle.reports import SourceReport
from clearhouse.replication.errors import Diverged, Fenced
from clearhouse.risk.scanner import ColumnarScanner

log = logging.getLogger("clearhouse.node")

#: Integers above this are refused at the edge (no WAD quantity of a real market comes near it).
MAX_INT = 2**192
_LONG_DIGITS = re.compile(rb"[0-9]{%d,}" % len(str(MAX_INT)))
#: Bytes of recent stream items kept in memory for subscribers; older ones are rebuilt from the journal.
RECENT_BYTES = 64 << 20


class Refused(Exception):
    """A refusal the API turns into an HTTP status and a typed ``code``."""

    def __init__(self, status: int, code: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


_STATUS_OF_CODE = {
    "bad_signature": 401,
    "wrong_chain": 400,
    "malformed_envelope": 400,
    "invalid_value": 400,
    "expired": 400,
    "nonce_reused": 409,
    "nonce_out_of_window": 409,
    "unauthorized": 403,
    "unknown_account": 404,
}


def refusal(err: ClearhouseError) -> Refused:
    return Refused(_STATUS_OF_CODE.get(err.code, 400), err.code, str(err))


class SignedReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    report: SourceReport
    signature: ReportSignature


_report_decoder = msgspec.json.Decoder(SignedReport)
_any_decoder = msgspec.json.Decoder()
_enc = msgspec.json.Encoder(order="deterministic")


def check_numbers(value: object, depth: int = 0) -> None:
    """Refuse integers beyond :data:`MAX_INT` and absurd nesting anywhere in a decoded body."""
    if depth > 32:
        raise Refused(400, "malformed_envelope", "body nests too deeply")
    if isinstance(value, int) and not isinstance(value, bool):
        if not -MAX_INT < value < MAX_INT:
            digits = len(str(abs(value)))
            raise Refused(400, "number_too_large", f"integer with {digits} digits is out of range")
    elif isinstance(value, dict):
        for v in value.values():
            check_numbers(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            check_numbers(v, depth + 1)


@dataclass(slots=True)
class Counters:
    outcomes: dict[str, int]
    liquidations: int = 0
    last_block_seconds: float = 0.0
    last_apply_seconds: float = 0.0


class NodeService:
    def __init__(
        self,
        cfg: NodeConfig,
        clock: Callable[[], float] = time.time,
        sink: Callable[[JournalStore], BlockSink] | None = None,
    ) -> None:
        """``sink`` wraps the journal store (replicated mode: publish to, or check against, the log);
        with one the genesis blocks wait for :meth:`bootstrap` (only the leader writes them)."""
        self.cfg = cfg
        self.clock = clock
        data = Path(cfg.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        self.store = open_store(cfg.journal)
        self.index = NodeIndex(data / "node.sqlite")
        self.mempool = Mempool(cfg.mempool_size)
        self.reports: dict[tuple[str, str], SignedReport] = {}
        self.dropped: dict[str, dict[str, object]] = {}
        self.counters = Counters({})
        #: seq of the first stream item of each height (index = height; [0] unused).
        self.seq_base: list[int] = [0, 1]
        self.recent: deque[tuple[int, bytes]] = deque()
        self._recent_bytes = 0
        self.listeners: list[Callable[[], None]] = []
        self.block_listeners: list[Callable[[BlockResult, float], None]] = []
        self.book: NodeBook | None = None  # the order book (book_service), attached below
        self.fixed_price = None if feed_sources(cfg, MARKET.oracle) else to_fixed(cfg.genesis.fixed_price)
        #: "single" (embedded), or in replicated mode "leader" / "follower" (set by the replicator).
        self.role = "single" if sink is None else "follower"
        #: The lease holder's name (its API URL) when this node is a follower.
        self.leader = ""
        journal: BlockSink = self.store if sink is None else sink(self.store)
        head = self.store.head()
        if head is None:
            self.engine = Engine(journal=journal, scanner=ColumnarScanner())
            self.restarted = False
            self.index.truncate_above(0)
        else:
            self.engine = resume(self.store)
            self.engine.attach_journal(journal, head.row_hash)
            self.engine.scanner = ColumnarScanner()
            self.restarted = True
            self._rebuild()
        #: Signatures verified at submission; the block skips ed25519 for them (same results; a replay
        #: by ``clearhouse verify`` re-checks every one).
        self.sigcache = VerifiedSignatures(capacity=2 * cfg.mempool_size + cfg.max_block_txs)
        self.engine.signature_cache = self.sigcache
        if sink is None:
            self.bootstrap()
        else:
            self.ensure_book()

    def ensure_book(self) -> None:
        """A replica's book, once the genesis block listed the market (it then replays the book inputs
        of each block it receives, docs/replication.md)."""
        if self.book is None and self.engine.state.height >= 1:
            self.book = NodeBook(self)

    def bootstrap(self) -> None:
        """Write the genesis blocks (1, and 2 whitelisting the reporters) if the ledger is empty."""
        cfg, clock = self.cfg, self.clock
        if self.engine.state.height == 0:
            start = cfg.genesis.start_time or int(clock())
            self._apply(genesis_block(cfg, start), [], 0.0)
            raws = reporter_envelopes(cfg, start)
            if raws:
                block = Block(2, start + 1, {}, (), (), signed=tuple(msgspec.Raw(r) for r in raws))
                self._apply(block, [], 0.0)
        self.book = NodeBook(self)

    # -- restart -----------------------------------------------------------------------------------

    def _rebuild(self) -> None:
        """Stream numbering from the journal; index rows the journal does not back are dropped and the
        outcomes of journalled blocks the index missed are re-derived."""
        head = self.engine.state.height
        self.index.truncate_above(head)
        indexed = self.index.height
        for row in self.store.rows():
            events = decode_events(row.events)
            self.seq_base.append(self.seq_base[-1] + 1 + len(events))
            if row.height > indexed:
                self.index.record(row.height, outcomes(decode_block(row.block), events))
        log.info("resumed", extra={"height": head, "root": self.engine.state_root(),
                                   "reindexed": head - indexed})

    # -- admission ---------------------------------------------------------------------------------

    def next_clock(self) -> tuple[int, int]:
        """(height, time in seconds) the next block would have."""
        state = self.engine.state
        return state.height + 1, max(state.time + 1, int(self.clock()))

    def decode(self, raw: bytes) -> SignedEnvelope:
        """Wire bytes -> a signed envelope, or a typed refusal. Only a body with a run of 58+ digits
        (an integer that may exceed :data:`MAX_INT`) pays for a generic parse to find the number."""
        if _LONG_DIGITS.search(raw):
            try:
                value = _any_decoder.decode(raw)
            except msgspec.DecodeError as err:
                raise Refused(400, "malformed_envelope", f"body is not JSON: {err}") from None
            check_numbers(value)
        try:
            return decode_signed(raw)
        except MalformedEnvelope as err:
            raise refusal(err) from None

    def submit(self, raw: bytes, signed: SignedEnvelope | None = None, tx_hash: str | None = None) -> str:
        """Admit one envelope into the mempool and return its hash, or raise :class:`Refused`."""
        self.check_writable()
        if signed is None:
            signed = self.decode(raw)
        if tx_hash is None:
            try:
                tx_hash = self.sigcache.verify(signed, self.cfg.chain_id).hex()
            except ClearhouseError as err:
                raise refusal(err) from None
        if tx_hash in self.mempool:
            raise Refused(409, "nonce_reused", "this transaction is already pending", hash=tx_hash,
                          known="pending")
        known = self.index.get(tx_hash)
        if known is not None and known.status in ("included", "failed"):
            raise Refused(409, "nonce_reused", f"this transaction is already {known.status}", hash=tx_hash,
                          known=known.status, height=known.height)
        env = signed.envelope
        if self.mempool.has_nonce(env.signer, env.nonce):
            raise Refused(409, "nonce_reused", f"nonce {env.nonce} is pending in another transaction")
        height, now = self.next_clock()
        try:
            precheck(self.engine.state, signed, height, now * 1000)
        except ClearhouseError as err:
            raise refusal(err) from None
        try:
            self.mempool.add(tx_hash, signed, raw)
        except MempoolFull as err:
            raise Refused(503, "mempool_full", str(err)) from None
        return tx_hash

    def check_writable(self) -> None:
        """Only the leader (or the single node) takes submissions; a follower refuses them, naming
        the leader, so the client re-sends there (it does not forward: docs/replication.md)."""
        if self.role in ("single", "leader"):
            return
        raise Refused(503, "not_leader", f"this node is a {self.role}; submit to the leader "
                      f"{self.leader or '(none at the moment)'}", leader=self.leader or None)

    def submit_report(self, raw: bytes) -> str:
        self.check_writable()
        try:
            value = _any_decoder.decode(raw)
        except msgspec.DecodeError as err:
            raise Refused(400, "malformed_report", f"body is not JSON: {err}") from None
        check_numbers(value)
        try:
            sr = _report_decoder.decode(raw)
        except (msgspec.DecodeError, ClearhouseError) as err:
            raise Refused(400, "malformed_report", f"not a signed report: {err}") from None
        auth = ledger_auth(self.engine.state)
        if auth is None:
            raise Refused(400, "wrong_chain", "the ledger has no chain id yet")
        try:
            digest = verify_report(sr.report, sr.signature, self.cfg.chain_id, auth.state.registry)
        except ClearhouseError as err:
            raise refusal(err) from None
        key = (sr.report.asset, sr.report.source)
        prev = self.reports.get(key)
        if prev is None or sr.report.observed_at > prev.report.observed_at:
            self.reports[key] = sr
        return digest.hex()

    # -- blocks ------------------------------------------------------------------------------------

    def _select_reports(self, now: int) -> list[SignedReport]:
        out = []
        oracles = self.engine.state.oracles
        for key in sorted(self.reports):
            sr = self.reports[key]
            r = sr.report
            feed = oracles.get(r.asset)
            if feed is None:
                del self.reports[key]
                continue
            last = {x.source: x.observed_at for x in feed.latest_reports()}.get(r.source)
            if last is not None and r.observed_at <= last:
                del self.reports[key]  # superseded by what the feed already has
            elif r.observed_at <= now:
                out.append(sr)
        return out

    def produce(self) -> BlockResult | None:
        """Build, apply and journal the next block if there is something to do; None otherwise."""
        if self.role not in ("single", "leader"):
            return None
        wall = int(self.clock())
        height, now = self.next_clock()
        if now - wall > self.cfg.max_time_lead_s:
            return None
        pending = self.mempool.head(self.cfg.max_block_txs)
        reports = self._select_reports(now)
        busy = bool(pending or reports) or wall > self.engine.state.time
        matched = self.book.prepare(height, now, busy) if self.book is not None else None
        if not busy and matched is None:
            return None
        t0 = time.perf_counter()
        prices = {MARKET.oracle: self.fixed_price} if self.fixed_price is not None else {}
        fills, book_inputs = matched if matched is not None else ((), ())
        block = Block(
            height, now, prices, (), tuple(sr.report for sr in reports),
            signed=block_signed(pending) + fills,
            report_signatures=tuple(ReportSig(sr.signature.signer, sr.signature.signature) for sr in reports),
            book=book_inputs,
        )
        try:
            result = self._apply(block, pending, t0)
        except Fenced as err:
            # Another sequencer owns the log: the block was rolled back; the replicator demotes us.
            log.warning("fenced", extra={"height": height, "error": str(err)})
            if self.book is not None:
                self.book.abort(height)
            self.step_down()
            return None
        except ClearhouseError as err:
            # A bad report (or a bug) refuses the whole block: drop the reports and retry next tick;
            # without reports to blame, refuse the transactions (never silently).
            log.error("block_failed", extra={"height": height, "error": str(err)})
            if self.book is not None:
                self.book.abort(height)
            for sr in reports:
                self.reports.pop((sr.report.asset, sr.report.source), None)
            if reports:
                return None
            for p in pending:
                self.dropped[p.tx_hash] = {"hash": p.tx_hash, "status": "rejected", "code": err.code}
            self.mempool.remove(pending)
            return None
        for sr in reports:
            key = (sr.report.asset, sr.report.source)
            if self.reports.get(key) is sr:
                del self.reports[key]
        return result

    def _apply(self, block: Block, pending: list[Pending], t0: float) -> BlockResult:
        t1 = time.perf_counter()
        result = self.engine.apply_block(block)  # journals the block, or raises and changes nothing
        apply_s = time.perf_counter() - t1
        outs = outcomes(block, result.events)
        self.index.record(block.height, outs)
        self.mempool.remove(pending)
        counts = self.counters.outcomes
        for o in outs:
            counts[o.status] = counts.get(o.status, 0) + 1
        self.counters.liquidations += sum(
            isinstance(e, ev.PositionClosedOut | ev.PositionLiquidated) for e in result.events
        )
        self.counters.last_apply_seconds = apply_s
        self.counters.last_block_seconds = time.perf_counter() - t0 if t0 else apply_s
        self._publish(result)
        return result

    def step_down(self) -> None:
        """Become a follower: what was pending here was never acknowledged as included (its status
        reads ``unknown``; the client re-sends to the new leader)."""
        if self.role == "leader":
            self.role = "follower"
            self.mempool.remove(self.mempool.head(len(self.mempool)))
            self.reports.clear()
            if self.book is not None:  # orders accepted here but in no published block
                self.book.queue = []

    def apply_replicated(self, block_bytes: bytes) -> BlockResult:
        """Re-execute one block of the leader's (a follower); the sink checks the resulting row. Then
        the block's book inputs, if any: the book replays them and checks the block's fills against its
        own (``NodeBook.follow``)."""
        block = decode_block(block_bytes)
        result = self._apply(block, [], 0.0)
        had_book = self.book is not None
        self.ensure_book()
        if block.book:
            if self.book is None:
                raise Diverged(f"block {result.height} has book inputs but this node has no book")
            if had_book:  # a book made just now replayed the whole journal, this block included
                self.book.follow(result.height)
        return result

    # -- stream ------------------------------------------------------------------------------------

    def next_seq(self) -> int:
        return self.seq_base[-1]

    def items_of(
        self, height: int, block_bytes: bytes, events_bytes: bytes, root: str
    ) -> list[tuple[int, bytes]]:
        """The stream items of one block: its header (with every envelope's outcome and the block
        itself) and one item per event, numbered from ``seq_base[height]``."""
        base = self.seq_base[height]
        events = msgspec.json.decode(events_bytes)
        txs = [outcome_dict(o) for o in self.index.outcomes_at(height)]
        header = _enc.encode({
            "seq": base, "type": "block", "height": height, "state_root": root, "events": len(events),
            "txs": txs, "block": msgspec.Raw(block_bytes),
        })
        items = [(base, header)]
        for i, e in enumerate(events):
            items.append((base + 1 + i, _enc.encode(
                {"seq": base + 1 + i, "type": "event", "height": height, "index": i, "event": e}
            )))
        return items

    def _publish(self, result: BlockResult) -> None:
        h = result.height
        if len(self.seq_base) == h + 1:
            self.seq_base.append(self.seq_base[h] + 1 + len(result.events))
        items = self.items_of(h, result.block_bytes, result.events_bytes, result.state_root)
        self.recent.extend(items)
        self._recent_bytes += sum(len(data) for _, data in items)
        while self._recent_bytes > RECENT_BYTES and len(self.recent) > 1:
            self._recent_bytes -= len(self.recent.popleft()[1])
        for cb in self.listeners:
            cb()
        for bcb in self.block_listeners:
            bcb(result, self.counters.last_block_seconds)

    def items_from(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` stream items with sequence >= ``seq``, in order, without gaps."""
        seq = max(seq, 1)
        if seq >= self.next_seq():
            return []
        if self.recent and self.recent[0][0] <= seq:
            start = seq - self.recent[0][0]
            return list(itertools.islice(self.recent, start, start + limit))
        height = bisect.bisect_right(self.seq_base, seq, lo=1) - 1
        out: list[tuple[int, bytes]] = []
        for row in self.store.rows(height):
            out.extend(item for item in self.items_of(row.height, row.block, row.events, row.state_root)
                       if item[0] >= seq)
            if len(out) >= limit:
                break
        return out[:limit]

    # -- queries -----------------------------------------------------------------------------------

    def tx_status(self, tx_hash: str) -> dict[str, object]:
        if tx_hash in self.mempool:
            return {"hash": tx_hash, "status": "pending", "height": None, "index": None, "code": None,
                    "message": ""}
        rec = self.index.get(tx_hash)
        if rec is not None:
            return {"hash": rec.hash, "status": rec.status, "height": rec.height, "index": rec.index,
                    "code": rec.code, "message": rec.message}
        if tx_hash in self.dropped:
            return {**self.dropped[tx_hash], "height": None, "index": None, "message": ""}
        return {"hash": tx_hash, "status": "unknown", "height": None, "index": None, "code": None,
                "message": ""}

    def close(self) -> None:
        if self.book is not None:
            self.book.close()
        self.index.close()
        self.store.close()


__all__ = ["NodeService", "Refused", "check_numbers"]
