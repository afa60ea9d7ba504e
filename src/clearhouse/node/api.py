"""The HTTP API (FastAPI, OpenAPI at ``/openapi.json``): ``/v1`` REST, the SSE stream, ``/metrics``.

Every refusal is JSON ``{"code", "message"}`` with a 4xx status; the codes are the typed errors of
:mod:`clearhouse.auth.errors` and the ledger (``bad_signature``, ``wrong_chain``, ``expired``,
``nonce_reused``, ``unauthorized`` ...) plus the edge's own: ``body_too_large`` (413),
``malformed_envelope`` (400, also for non-UTF-8 and non-canonical bodies), ``number_too_large`` (400),
``rate_limited`` (429), ``mempool_full`` (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

import msgspec
from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from clearhouse.ledger.errors import ClearhouseError
from clearhouse.node import book_routes, vault_views, views
from clearhouse.node.index import outcome_dict
from clearhouse.node.metrics import NodeMetrics
from clearhouse.node.ratelimit import RateLimiter
from clearhouse.node.service import NodeService, Refused, refusal
from clearhouse.node.sse import numbered_events, resume_from
from clearhouse.node.steward_views import steward_view

log = logging.getLogger("clearhouse.node.api")


class ErrorBody(BaseModel):
    code: str
    message: str


class Ack(BaseModel):
    hash: str
    status: str


class TxStatus(BaseModel):
    hash: str
    status: str
    height: int | None = None
    index: int | None = None
    code: str | None = None
    message: str = ""


class Status(BaseModel):
    chain_id: str
    height: int
    time: int
    state_root: str
    mempool: int
    next_seq: int
    restarted: bool
    #: "single", or in replicated mode "leader", "follower" or "halted" (diverged; docs/replication.md).
    role: str = "single"


class ReplicationStatus(BaseModel):
    """docs/replication.md: who leads, how far the log and this node are."""

    role: str
    leader: str | None = None
    log_height: int
    height: int
    state_root: str
    halted: str | None = None
    takeovers: int
    published: int


class BatchResult(BaseModel):
    hash: str | None = None
    code: str | None = None
    message: str | None = None


class Batch(BaseModel):
    results: list[BatchResult]


_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody} for s in (400, 401, 403, 404, 409, 413, 429, 503)
}
_ENVELOPE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object", "description": "A signed envelope in canonical encoding (docs/auth.md)",
            "required": ["envelope", "signature"],
            "properties": {"envelope": {"type": "object"}, "signature": {"type": "string"}},
        }}},
    }
}


def _error(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    headers = {"Retry-After": "1"} if status in (429, 503) else None
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status, headers=headers)


async def _body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise Refused(413, "body_too_large", f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, "body_too_large", f"body larger than {limit} bytes")
    return bytes(body)


def create_app(
    svc: NodeService,
    *,
    produce: bool = True,
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    replica_status: Callable[[], dict[str, object]] | None = None,
) -> FastAPI:
    """``background``: more tasks for the node's loop (the replicator); ``replica_status`` feeds
    ``GET /v1/replication`` (docs/replication.md)."""
    cfg = svc.cfg
    metrics = NodeMetrics(svc)
    per_ip = RateLimiter(cfg.rate_per_ip)
    per_key = RateLimiter(cfg.rate_per_key)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_producer())] if produce else []
        tasks += [asyncio.create_task(make()) for make in background]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _producer() -> None:
        loop = asyncio.get_running_loop()
        interval = cfg.block_time_ms / 1000
        deadline = loop.time()
        while True:
            deadline += interval
            try:
                result = svc.produce()
                if result is not None:
                    emit = log.info if result.events else log.debug
                    emit("block", extra={"height": result.height, "root": result.state_root,
                                         "events": len(result.events)})
            except Exception:
                log.exception("producer")
            delay = deadline - loop.time()
            if delay < 0:
                deadline = loop.time()
            await asyncio.sleep(max(0.0, delay))

    app = FastAPI(
        title="clearhouse node", version="1",
        description="Signed transactions in, blocks out: a clearhouse devnet node (docs/node.md).",
        lifespan=lifespan,
    )
    app.state.svc = svc
    app.state.metrics = metrics

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(ClearhouseError)
    async def _typed(request: Request, exc: ClearhouseError) -> JSONResponse:
        r = refusal(exc)
        return _error(r.status, r.code, r.message)

    @app.middleware("http")
    async def _limit_ip(request: Request, call_next: Any) -> Response:
        ip = request.client.host if request.client else "?"
        if request.url.path.startswith("/v1/") and not per_ip.allow(ip):
            return _error(429, "rate_limited", f"too many requests from {ip}")
        response: Response = await call_next(request)
        return response

    # -- writes ------------------------------------------------------------------------------------

    @app.post("/v1/txs", status_code=202, response_model=Ack, responses=_ERRORS, openapi_extra=_ENVELOPE_BODY,
              summary="Submit a signed transaction")
    async def submit(request: Request) -> Ack:
        raw = await _body(request, cfg.max_body_bytes)
        signed = svc.decode(raw)
        if not per_key.allow(signed.envelope.signer):
            raise Refused(429, "rate_limited", "too many transactions from this key")
        return Ack(hash=svc.submit(raw, signed), status="pending")

    @app.post("/v1/txs/batch", response_model=Batch, responses=_ERRORS,
              summary="Submit many signed transactions",
              openapi_extra={"requestBody": {"required": True, "content": {"text/plain": {
                  "schema": {"type": "string", "description": "canonical signed envelopes, one per line"}}}}})
    async def submit_batch(request: Request) -> Batch:
        raw = await _body(request, cfg.max_body_bytes * 256)
        lines = [line for line in raw.split(b"\n") if line]
        if len(lines) > cfg.max_block_txs:
            raise Refused(413, "body_too_large", f"at most {cfg.max_block_txs} transactions per batch")
        decoded: list[Any] = []
        for line in lines:
            try:
                decoded.append(svc.decode(line))
            except Refused as err:
                decoded.append(err)
        good = [d for d in decoded if not isinstance(d, Refused)]
        hashes = iter(svc.sigcache.verify_many(good, cfg.chain_id))
        results = []
        for line, d in zip(lines, decoded, strict=True):
            if isinstance(d, Refused):
                results.append(BatchResult(code=d.code, message=d.message))
                continue
            h = next(hashes)
            try:
                if isinstance(h, ClearhouseError):
                    raise refusal(h)
                if not per_key.allow(d.envelope.signer):
                    raise Refused(429, "rate_limited", "too many transactions from this key")
                results.append(BatchResult(hash=svc.submit(line, d, h.hex())))
            except Refused as err:
                results.append(BatchResult(code=err.code, message=err.message))
        return Batch(results=results)

    @app.post("/v1/reports", status_code=202, response_model=Ack, responses=_ERRORS,
              summary="Submit a signed oracle report")
    async def submit_report(request: Request) -> Ack:
        raw = await _body(request, cfg.max_body_bytes)
        return Ack(hash=svc.submit_report(raw), status="pending")

    # -- reads -------------------------------------------------------------------------------------

    @app.get("/v1/status", response_model=Status)
    async def status() -> Status:
        s = svc.engine.state
        return Status(chain_id=cfg.chain_id, height=s.height, time=s.time, state_root=svc.engine.state_root(),
                      mempool=len(svc.mempool), next_seq=svc.next_seq(), restarted=svc.restarted,
                      role=svc.role)

    @app.get("/v1/replication", response_model=ReplicationStatus, responses={404: {"model": ErrorBody}})
    async def replication() -> ReplicationStatus:
        """Role, lease holder, the log's height and this node's (404 on a single node)."""
        if replica_status is None:
            raise Refused(404, "not_replicated", "this node runs in single-node mode")
        return ReplicationStatus.model_validate({**replica_status(), "height": svc.engine.state.height,
                                                 "state_root": svc.engine.state_root()})

    @app.get("/v1/txs/{tx_hash}", response_model=TxStatus, responses=_ERRORS)
    async def tx(tx_hash: str = Path(pattern="^[0-9a-f]{64}$")) -> TxStatus:
        return TxStatus(**svc.tx_status(tx_hash))  # type: ignore[arg-type]

    @app.get("/v1/accounts")
    async def accounts(
        offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)
    ) -> dict[str, Any]:
        ids = sorted(svc.engine.state.accounts)
        return {"total": len(ids), "accounts": ids[offset: offset + limit]}

    @app.get("/v1/accounts/{account_id}", responses=_ERRORS)
    async def account(account_id: str) -> dict[str, Any]:
        view = views.account_view(svc.engine.state, account_id)
        if view is None:
            raise Refused(404, "unknown_account", f"unknown account {account_id!r}")
        return view

    @app.get("/v1/markets")
    async def markets() -> list[dict[str, Any]]:
        return views.market_views(svc.engine.state)

    @app.get("/v1/oracles")
    async def oracles() -> list[dict[str, Any]]:
        return views.oracle_views(svc.engine.state)

    @app.get("/v1/insurance")
    async def insurance() -> dict[str, Any]:
        return views.insurance_view(svc.engine.state)

    @app.get("/v1/liquidations")
    async def liquidations() -> list[dict[str, Any]]:
        return views.queue_view(svc.engine.state)

    @app.get("/v1/steward")
    async def steward() -> dict[str, Any]:
        """The risk steward: config, guardrails, pending proposals, last application per parameter."""
        return steward_view(svc.engine.state)

    @app.get("/v1/blocks/{height}", responses=_ERRORS)
    async def block(height: int = Path(ge=1, le=2**62)) -> Response:
        row = svc.store.get(height)
        if row is None:
            raise Refused(404, "unknown_block", f"no block {height} yet")
        body = msgspec.json.encode({
            "height": row.height, "state_root": row.state_root, "row_hash": row.row_hash,
            "block": msgspec.Raw(row.block), "events": msgspec.Raw(row.events),
            "txs": [outcome_dict(o) for o in svc.index.outcomes_at(row.height)],
        })
        return Response(body, media_type="application/json")

    @app.get("/v1/events", responses=_ERRORS)
    async def events(
        from_seq: int = Query(1, ge=1, le=2**62), limit: int = Query(100, ge=1, le=1000)
    ) -> Response:
        items = svc.items_from(from_seq, limit)
        body = b"[" + b",".join(data for _, data in items) + b"]"
        return Response(body, media_type="application/json")

    @app.get("/v1/snapshot")
    async def snapshot() -> dict[str, Any]:
        """The state now and the sequence number the stream continues from (snapshot + delta)."""
        s = svc.engine.state
        return {
            "next_seq": svc.next_seq(), "height": s.height, "time": s.time,
            "state_root": svc.engine.state_root(),
            "accounts": [views.account_view(s, a) for a in sorted(s.accounts)],
            "markets": views.market_views(s), "oracles": views.oracle_views(s),
            "insurance": views.insurance_view(s),
        }

    @app.get("/v1/stream", summary="Server-sent events: blocks and events, numbered; resume with from_seq "
             "or Last-Event-ID")
    async def stream(request: Request, from_seq: int | None = Query(None, ge=1, le=2**62),
                     limit: int | None = Query(None, ge=1, le=10**9)) -> StreamingResponse:
        start = resume_from(from_seq, request.headers.get("last-event-id"), svc.next_seq())
        assert start is not None
        gen = numbered_events(request, svc.listeners, svc.items_from, start, limit)
        return StreamingResponse(gen, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    book_routes.install(app, svc, _ERRORS)
    vault_views.install(app, svc)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return app
