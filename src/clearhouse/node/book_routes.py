"""The node API's order-book and proof routes (``/v1/orders``, ``/v1/cancels``, ``/v1/book/...``,
``/v1/proof/account/...``), installed by :func:`install` on the app :mod:`clearhouse.node.api` builds.

Orders and cancels are answered ``202 pending`` once checked at the edge; their outcome (``resting``,
``filled``, ``cancelled``, ``expired``, ``rejected`` with a code) is read back by id after the next block.
The L2 book is a snapshot ``{market, seq, bids, asks}`` plus level deltas numbered 1, 2, 3, ... without
gaps; the SSE stream starts with a snapshot (its ``id`` is the snapshot's ``seq``) and resumes from
``from_seq`` or ``Last-Event-ID`` with no gap and no duplicate, across restarts (the numbering is rebuilt
from the book inputs in the journal).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec
from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from clearhouse.book.book import LevelDelta
from clearhouse.ledger.errors import ClearhouseError
from clearhouse.node.genesis import MARKET
from clearhouse.node.sse import frame, numbered_events, resume_from

if TYPE_CHECKING:
    from clearhouse.node.book_service import NodeBook
    from clearhouse.node.service import NodeService

_enc = msgspec.json.Encoder(order="deterministic")


class OrderAck(BaseModel):
    order_id: str
    status: str


class CancelAck(BaseModel):
    id: str
    status: str


def _json_body(description: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "description": description}}}}}


def delta_item(market: str, d: LevelDelta) -> bytes:
    return _enc.encode({"seq": d.seq, "type": "delta", "market": market, "side": d.side,
                        "price": d.price, "size": d.size})


def install(app: FastAPI, svc: NodeService, errors: dict[int | str, dict[str, Any]]) -> None:
    """Add the book and proof routes; ``errors`` is the API's declared error responses."""
    from clearhouse.node.service import Refused

    cfg = svc.cfg

    def book() -> NodeBook:
        if svc.book is None:
            raise Refused(503, "book_unavailable", "the order book is not running")
        return svc.book

    def market_of(market: str) -> None:
        if market != MARKET.id:
            raise Refused(404, "unknown_market", f"no book for market {market!r}")

    async def body(request: Request) -> bytes:
        raw = await request.body()
        if len(raw) > cfg.max_body_bytes:
            raise Refused(413, "body_too_large", f"body larger than {cfg.max_body_bytes} bytes")
        return raw

    def refused(err: ClearhouseError) -> Refused:
        from clearhouse.node.service import refusal

        return refusal(err)

    @app.post("/v1/orders", status_code=202, response_model=OrderAck, responses=errors,
              openapi_extra=_json_body("A signed limit order in canonical encoding (docs/auth.md)"),
              summary="Submit a signed limit order to the book")
    async def submit_order(request: Request) -> OrderAck:
        svc.check_writable()  # a follower refuses (not_leader): docs/replication.md
        raw = await body(request)
        try:
            rec = book().submit_order(raw)
        except ClearhouseError as err:
            raise refused(err) from None
        return OrderAck(order_id=rec.order_id, status=rec.status)

    @app.get("/v1/orders/{order_id}", responses=errors, summary="An order's outcome and its fills")
    async def get_order(order_id: str = Path(min_length=64, max_length=64)) -> dict[str, Any]:
        view = book().order_view(order_id)
        if view is None:
            raise Refused(404, "unknown_order", f"no order {order_id[:16]}…")
        return view

    @app.post("/v1/cancels", status_code=202, response_model=CancelAck, responses=errors,
              openapi_extra=_json_body("A signed cancel or cancel-all in canonical encoding (docs/book.md)"),
              summary="Submit a signed cancel or cancel-all")
    async def submit_cancel(request: Request) -> CancelAck:
        svc.check_writable()
        raw = await body(request)
        try:
            rec = book().submit_cancel(raw)
        except ClearhouseError as err:
            raise refused(err) from None
        return CancelAck(id=rec["id"], status=rec["status"])

    @app.get("/v1/cancels/{cancel_id}", responses=errors, summary="A cancel's outcome")
    async def get_cancel(cancel_id: str = Path(min_length=64, max_length=64)) -> dict[str, Any]:
        rec = book().cancels.get(cancel_id)
        if rec is None:
            raise Refused(404, "unknown_cancel", f"no cancel {cancel_id[:16]}…")
        return dict(rec)

    @app.get("/v1/book/{market}", responses=errors, summary="L2 depth: [price, size] levels, best first")
    async def depth(market: str, depth: int = Query(20, ge=1, le=10_000)) -> Response:
        market_of(market)
        return Response(_enc.encode(book().book.depth(depth)), media_type="application/json")

    @app.get("/v1/book/{market}/deltas", responses=errors, summary="L2 level deltas from a sequence number")
    async def deltas(market: str, from_seq: int = Query(1, ge=1, le=2**62),
                     limit: int = Query(100, ge=1, le=1000)) -> Response:
        market_of(market)
        items = book().book.deltas_since(from_seq - 1)[:limit]
        return Response(b"[" + b",".join(delta_item(market, d) for d in items) + b"]",
                        media_type="application/json")

    @app.get("/v1/book/{market}/stream", responses=errors,
             summary="Server-sent events: an L2 snapshot, then numbered deltas; resume with from_seq or "
             "Last-Event-ID")
    async def book_stream(request: Request, market: str, from_seq: int | None = Query(None, ge=1, le=2**62),
                          limit: int | None = Query(None, ge=1, le=10**9),
                          depth: int = Query(50, ge=1, le=10_000)) -> StreamingResponse:
        market_of(market)
        nb = book()
        start = resume_from(from_seq, request.headers.get("last-event-id"), None)

        async def gen() -> AsyncIterator[bytes]:
            sent = 0
            seq = start
            if seq is None:
                snap = nb.book.depth(depth)
                data = _enc.encode({"type": "snapshot", "market": snap.market, "seq": snap.seq,
                                    "bids": snap.bids, "asks": snap.asks})
                yield frame(snap.seq, data)
                sent += 1
                seq = snap.seq + 1

            def deltas(after: int, room: int) -> list[tuple[int, bytes]]:
                found = svc.book.book.deltas_since(after - 1)[:room] if svc.book is not None else []
                return [(d.seq, delta_item(market, d)) for d in found]

            async for item in numbered_events(request, svc.listeners, deltas, seq, limit, sent):
                yield item

        return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/v1/proof/account/{account_id}", responses=errors,
             summary="Account inclusion / non-inclusion proof against a block's state root "
             "(check with `clearhouse check-proof PROOF.json --root HEX`)")
    async def account_proof(account_id: str = Path(min_length=1, max_length=256),
                            height: int | None = Query(None, ge=1, le=2**62)) -> Response:
        from clearhouse.proofs.accounts import encode_proof, prove_account
        from clearhouse.proofs.history import engine_at

        head = svc.engine.state.height
        if height is not None and height > head:
            raise Refused(404, "unknown_block", f"no block {height} yet (head is {head})")
        current = height is None or height == head
        state = svc.engine.state if current else engine_at(svc.store, height).state
        key = book().key if account_id not in state.accounts else None
        try:
            proof = prove_account(state, account_id, key=key)
        except ClearhouseError as err:
            raise refused(err) from None
        return Response(encode_proof(proof), media_type="application/json")

    @app.get("/v1/node-key", summary="The node's public key (signs matched fills and directory heads)")
    async def node_key() -> dict[str, str]:
        return {"public_key": book().key.public_hex}


__all__ = ["delta_item", "install"]
