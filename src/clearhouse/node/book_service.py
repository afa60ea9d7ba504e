"""The order book inside the node: edge checks, the sequencer's matching, the journalled book, outcomes.

Clients submit signed orders, cancels and cancel-alls; :meth:`NodeBook.submit_order` /
:meth:`NodeBook.submit_cancel` check them at the edge (canonical bytes, chain, signature, the signer
controls the account in the engine's registry, market, tick/step, expiry, band for a resting order) and
queue them in arrival order. When the producer builds block ``h`` it calls :meth:`NodeBook.prepare`: the
queued inputs go through :class:`clearhouse.book.book.OrderBook` after a ``SetContext`` (height, block
time, index price) and a ``SetPosition`` for every account whose engine position the book does not know;
every match becomes a ``MatchedFill`` with both signed orders in an envelope signed by the node's key,
appended to the block's signed transactions. The engine re-validates every fill (signatures, control,
limits, remaining size, band, reduce-only, margin): the book is an optimisation, the engine is the judge.

**The book in the journal.** The inputs of block ``h`` (exactly as fed to the book, refused ones
included, starting with its ``SetContext``) go into the block itself (``Block.book``, canonical bytes,
``clearhouse.book.journal``), next to the fills they produced. At start the node replays every journalled
block's inputs through the book library and checks that each block's replayed fills are exactly the
block's book fills: a restarted node, a replica (which replays each block it receives) and
``clearhouse verify --book`` rebuild the same book, the same L2 delta numbering and the same order
outcomes from the journal alone, or refuse. There is no side file (a ``book.sqlite`` left by an older
version is ignored).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec

from clearhouse.auth.envelope import encode_signed, sign, signing_digest
from clearhouse.auth.errors import MalformedEnvelope, OrderMismatch, PriceOutsideBand, WrongChain
from clearhouse.auth.keys import KeyPair, load_key, save_key
from clearhouse.auth.orders import (
    SignedOrder,
    check_grid,
    check_not_expired,
    decode_signed_order,
    order_id,
)
from clearhouse.book.book import BookConfig, BookContext, OrderBook, Outcome
from clearhouse.book.cancels import SignedCancel, SignedCancelAll, verify_cancel
from clearhouse.book.errors import DuplicateOrder
from clearhouse.book.journal import ORIGIN, BookJournalError, FillSigner, encode_input, replay_blocks
from clearhouse.book.replay import (
    BookInput,
    Cancel,
    CancelAllInput,
    Place,
    Refusal,
    SetContext,
    SetPosition,
    apply_input,
)
from clearhouse.engine.engine import Engine
from clearhouse.journal.store import JournalStore
from clearhouse.ledger.block import Block, decode_block
from clearhouse.ledger.errors import ClearhouseError
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.margin import fresh_price_lookup
from clearhouse.mechanisms.signing.admission import VerifiedSignatures
from clearhouse.node.config import NodeConfig
from clearhouse.node.genesis import MARKET
from clearhouse.node.txs import registry


class BookHost(Protocol):
    """What the book reads of the node service (``node.service.NodeService``), without importing it."""

    cfg: NodeConfig
    engine: Engine
    fixed_price: int | None
    sigcache: VerifiedSignatures
    store: JournalStore

    def next_clock(self) -> tuple[int, int]: ...

    def tx_status(self, tx_hash: str) -> dict[str, object]: ...

log = logging.getLogger("clearhouse.node.book")

_enc = msgspec.json.Encoder(order="deterministic")
#: In the bytes of every block with book inputs (a block without them may contain it inside a string).
_BOOK_KEY = b'"book":['
_cancel_decoder = msgspec.json.Decoder(SignedCancel)
_cancel_all_decoder = msgspec.json.Decoder(SignedCancelAll)

_REASON_STATUS = {
    "filled": "filled",
    "cancelled": "cancelled",
    "cancel_all": "cancelled",
    "ioc_remainder": "cancelled",
    "self_trade": "cancelled",
    "outside_band": "cancelled",
    "reduce_only": "cancelled",
    "expired": "expired",
}


#: The journal's book does not match its fills (refuse to start rather than serve a wrong book).
BookLogError = BookJournalError


def node_key(data_dir: Path) -> KeyPair:
    """The node's own key (``node.key`` in the data directory, made at the first start): it signs the
    envelopes of matched fills and the account directory heads of non-inclusion proofs."""
    path = data_dir / "node.key"
    if not path.exists():
        save_key(path, KeyPair.generate())
    return load_key(path)


@dataclass(slots=True)
class OrderRecord:
    order_id: str
    signed: SignedOrder
    status: str = "pending"
    reason: str | None = None
    code: str | None = None
    message: str = ""
    height: int | None = None
    matched: int = 0
    fills: list[dict[str, Any]] = field(default_factory=list)


def _entry_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class NodeBook:
    """The ETH perpetual's book in the node (one market: the devnet lists one)."""

    def __init__(self, svc: BookHost) -> None:
        self.svc = svc
        data = Path(svc.cfg.data_dir)
        self.key = node_key(data)
        spec = svc.engine.state.markets[MARKET.id].spec
        self.config = BookConfig(
            svc.cfg.chain_id, MARKET.id, tick_size=1, step_size=spec.step_size, band=spec.price_band,
            verify_signatures=False,  # verified at the edge; the engine re-verifies every fill
        )
        #: Accepted at the edge, waiting for the next block: (entry id, input).
        self.queue: list[tuple[str, BookInput]] = []
        self._inflight: list[tuple[str, BookInput]] = []
        self.orders: dict[str, OrderRecord] = {}
        self.cancels: dict[str, dict[str, Any]] = {}
        window = self._auth_window()
        self._nonce = window[-1] if window else 0
        self.book = OrderBook(self.config, ORIGIN)
        self._rebuild()

    # -- edge ------------------------------------------------------------------------------------------

    def _auth_window(self) -> tuple[int, ...]:
        from clearhouse.mechanisms.signing.admission import ledger_auth

        auth = ledger_auth(self.svc.engine.state)
        return () if auth is None else auth.state.nonces.window(self.key.public_hex)

    def _index_price(self) -> int:
        if self.svc.fixed_price is not None:
            return int(self.svc.fixed_price)
        return int(fresh_price_lookup(self.svc.engine.state)(MARKET.oracle))

    def submit_order(self, raw: bytes) -> OrderRecord:
        """Check a signed order at the edge and queue it; raises a typed error if refused."""
        signed = decode_signed_order(raw)
        order = signed.order
        # verified once here and remembered: the engine's check of the fill's orders hits the cache
        oid = self.svc.sigcache.verify_order(signed, self.svc.cfg.chain_id).hex()
        if order.market != MARKET.id:
            raise OrderMismatch(f"no book for market {order.market!r} (this node trades {MARKET.id})")
        registry(self.svc.engine.state).authorize_order(signed.signer, order.account)
        check_grid(order, tick_size=self.config.tick_size, step_size=self.config.step_size)
        height, now = self.svc.next_clock()
        check_not_expired(order, height=height, now_ms=now * 1000)
        if order.time_in_force != "ioc":
            index = self._index_price()
            reach = self.config.band * index // WAD
            lo, hi = index - reach, index + reach
            if order.limit_price > hi if order.side == "buy" else order.limit_price < lo:
                raise PriceOutsideBand(
                    f"{order.side} limit {order.limit_price} would rest beyond the band around {index}"
                )
        known = self.orders.get(oid)
        if known is not None:
            raise DuplicateOrder(f"order {oid[:16]}… was already submitted ({known.status})")
        rec = OrderRecord(oid, signed)
        self.orders[oid] = rec
        self.queue.append((oid, Place(signed)))
        return rec

    def submit_cancel(self, raw: bytes) -> dict[str, Any]:
        """Check a signed cancel or cancel-all (signature, chain, market) and queue it."""
        item: BookInput
        sc: SignedCancel | SignedCancelAll
        try:
            one = _cancel_decoder.decode(raw)
            sc, item = one, Cancel(one)
        except msgspec.DecodeError:
            try:
                sc = _cancel_all_decoder.decode(raw)
            except msgspec.DecodeError as err:
                raise MalformedEnvelope(f"not a signed cancel or cancel-all: {err}") from None
            item = CancelAllInput(sc)
        if _enc.encode(sc) != raw:
            raise MalformedEnvelope("cancel is not in canonical encoding")
        if sc.cancel.chain_id != self.svc.cfg.chain_id:
            raise WrongChain(f"cancel is for chain {sc.cancel.chain_id!r}, not {self.svc.cfg.chain_id!r}")
        if sc.cancel.market != MARKET.id:
            raise OrderMismatch(f"no book for market {sc.cancel.market!r}")
        verify_cancel(sc)
        if isinstance(sc, SignedCancelAll):
            registry(self.svc.engine.state).authorize_order(sc.signer, sc.cancel.account)
        cid = _entry_id(raw)
        if cid in self.cancels:
            raise DuplicateOrder(f"cancel {cid[:16]}… was already submitted")
        rec: dict[str, Any] = {"id": cid, "kind": "cancel" if isinstance(item, Cancel) else "cancel_all",
                               "status": "pending", "code": None, "message": "", "height": None,
                               "removed": []}
        self.cancels[cid] = rec
        self.queue.append((cid, item))
        return rec

    # -- the sequencer -----------------------------------------------------------------------------------

    def prepare(
        self, height: int, now: int, busy: bool
    ) -> tuple[tuple[msgspec.Raw, ...], tuple[msgspec.Raw, ...]] | None:
        """Match the queued inputs for block ``height``: the node-signed fill envelopes to append to the
        block's signed entries and the inputs for ``Block.book``, or None when the book has nothing to
        do (the book is unchanged then)."""
        if not self.queue and not (busy and self.book.by_id):
            return None
        try:
            index = self._index_price()
        except ClearhouseError as err:
            log.warning("book_no_price", extra={"height": height, "error": str(err)})
            return None
        inputs: list[BookInput] = [SetContext(BookContext(height, now * 1000, index))]
        self._inflight, self.queue = self.queue, []
        accounts = set(self.book.positions)
        accounts.update(r.signed.order.account for r in self.book.by_id.values())
        accounts.update(i.order.order.account for _, i in self._inflight if isinstance(i, Place))
        state = self.svc.engine.state
        for account in sorted(accounts):
            acct = state.accounts.get(account)
            pos = acct.positions.get(MARKET.id) if acct is not None else None
            size = 0 if pos is None else int(pos.size)
            if self.book.positions.get(account, 0) != size:
                inputs.append(SetPosition(account, size))
        refs: list[str | None] = [None] * len(inputs) + [ref for ref, _ in self._inflight]
        inputs += [item for _, item in self._inflight]
        results = [self._apply(item) for item in inputs]
        raws: list[msgspec.Raw] = []
        hashes: list[str] = []
        for res in results:
            for fill in res.fills if isinstance(res, Outcome) else ():
                self._nonce = max(self._nonce + 1, now * 1000)
                env = sign(self.key, fill, chain_id=self.svc.cfg.chain_id, nonce=self._nonce,
                           good_til_block=height)
                raws.append(msgspec.Raw(encode_signed(env)))
                hashes.append(signing_digest(env.envelope).hex())
        self._note(height, refs, inputs, results, iter(hashes))
        book = (encode_input(FillSigner(self.key.public_hex)), *(encode_input(item) for item in inputs))
        return tuple(raws), book

    def abort(self, height: int) -> None:
        """The block was refused: rebuild the book from the journal, queue its inputs again."""
        self.queue = self._inflight + self.queue
        self._inflight = []
        self._rebuild()

    def _apply(self, item: BookInput) -> Outcome | Refusal:
        try:
            return apply_input(self.book, item)
        except ClearhouseError as err:
            return Refusal(err.code, str(err))

    # -- outcomes --------------------------------------------------------------------------------------

    def _note(self, height: int, refs: list[str | None], inputs: list[BookInput],
              results: list[Outcome | Refusal], hashes: Any) -> None:
        for ref, item, res in zip(refs, inputs, results, strict=True):
            if isinstance(item, Place):
                oid = verify_order_id(item.order)
                rec = self.orders.get(oid)
                if rec is None:
                    rec = self.orders[oid] = OrderRecord(oid, item.order)
                rec.height = height
                if isinstance(res, Refusal):
                    rec.status, rec.code, rec.message = "rejected", res.code, res.message
                    continue
                rec.status = "resting" if res.rested else "accepted"
            elif isinstance(item, Cancel | CancelAllInput):
                key = ref or _entry_id(_enc.encode(item.cancel))
                crec = self.cancels.setdefault(key, {"id": key, "kind": "cancel" if isinstance(item, Cancel)
                                                     else "cancel_all", "removed": []})
                crec["height"] = height
                if isinstance(res, Refusal):
                    crec.update(status="rejected", code=res.code, message=res.message)
                    continue
                crec.update(status="applied", code=None, message="",
                            removed=[r.order_id for r in res.removed])
            if isinstance(res, Refusal):
                continue
            for fill in res.fills:
                tx = next(hashes)
                for signed, role in ((fill.buy, "buy"), (fill.sell, "sell")):
                    r = self.orders.get(verify_order_id(signed))
                    if r is not None:
                        r.matched += fill.fill.size
                        r.fills.append({"tx": tx, "size": fill.fill.size, "price": fill.fill.price,
                                        "side": role, "height": height})
            for removed in res.removed:
                r = self.orders.get(removed.order_id)
                if r is not None:
                    r.status, r.reason = _REASON_STATUS[removed.reason], removed.reason

    def order_view(self, oid: str) -> dict[str, Any] | None:
        rec = self.orders.get(oid)
        if rec is None:
            return None
        fills = [{**f, "status": self.svc.tx_status(f["tx"])["status"]} for f in rec.fills]
        o = rec.signed.order
        return {
            "order_id": oid, "status": rec.status, "reason": rec.reason, "code": rec.code,
            "message": rec.message, "height": rec.height, "account": o.account, "market": o.market,
            "side": o.side, "size": o.size, "limit_price": o.limit_price, "matched": rec.matched,
            "cleared": sum(f["size"] for f in fills if f["status"] == "included"),
            "remaining": o.size - rec.matched if rec.status in ("resting", "pending") else 0,
            "fills": fills,
        }

    # -- rebuild from the journal ----------------------------------------------------------------------

    def _rebuild(self, below: int | None = None) -> None:
        """Replay every journalled block's book inputs (those under height ``below``, if given) into a
        fresh book (and outcomes), checking each block's fills against the book's
        (``clearhouse.book.journal``)."""
        pending = {ref for ref, _ in self.queue}
        self.book = OrderBook(self.config, ORIGIN)
        self.orders = {k: v for k, v in self.orders.items() if k in pending}
        self.cancels = {k: v for k, v in self.cancels.items() if k in pending}
        blocks = 0
        for row in self.svc.store.rows():
            if below is not None and row.height >= below:
                break
            if _BOOK_KEY not in row.block:  # most blocks: no book inputs, no need to decode
                continue
            block = decode_block(row.block)
            if block.book:
                self._replay_block(block)
                blocks += 1
        if blocks:
            log.info("book_rebuilt", extra={"blocks": blocks, "resting": len(self.book.by_id),
                                            "root": self.book.root()})

    def _replay_block(self, block: Block) -> None:
        for rep in replay_blocks(self.book, [block]):
            refs: list[str | None] = [
                verify_order_id(i.order) if isinstance(i, Place) else None for i in rep.inputs
            ]
            self._note(block.height, refs, rep.inputs, rep.results, iter(h for _, h in rep.fills))

    # -- replicas --------------------------------------------------------------------------------------

    def follow(self, height: int) -> None:
        """A replica: replay the book inputs of journalled block ``height`` (the leader's block, just
        re-executed here); its fills must be the book's (else :class:`BookJournalError`, and the book is
        rebuilt as it was)."""
        row = self.svc.store.get(height)
        if row is None:
            raise BookJournalError(f"block {height} is not in this node's journal")
        block = decode_block(row.block)
        if not block.book:
            return
        if self.book.context.height >= height:
            raise BookJournalError(f"the book is at block {self.book.context.height} already")
        try:
            self._replay_block(block)
        except BaseException:
            self._rebuild(below=height)  # the book as it was before this block
            raise

    def close(self) -> None:
        """Nothing to close: the book lives in the journal."""


def verify_order_id(signed: SignedOrder) -> str:
    """The order's id (hex); its signature was verified at the edge."""
    return order_id(signed.order).hex()


__all__ = ["BookLogError", "NodeBook", "OrderRecord", "node_key"]
