"""Numbered server-sent events: the one loop behind every stream of the node (blocks and events, book
deltas). Each item carries its sequence number as the SSE ``id``, so a client resumes with ``from_seq``
or ``Last-Event-ID`` without gaps or duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from starlette.requests import Request

#: Items per read of the backlog.
BATCH = 500

#: ``(seq, room) -> [(seq, data), ...]``: the next at most ``room`` items from ``seq`` on, ascending.
Fetch = Callable[[int, int], Sequence[tuple[int, bytes]]]


def resume_from(from_seq: int | None, last_event_id: str | None, default: int | None) -> int | None:
    """Where a subscription starts: ``from_seq``, else after the ``Last-Event-ID`` a reconnecting
    browser sends (ignored unless a plain number), else ``default``."""
    if from_seq is not None:
        return from_seq
    if last_event_id is not None and last_event_id.isdigit() and len(last_event_id) < 19:
        return int(last_event_id) + 1
    return default


def frame(seq: int, data: bytes) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (seq, data)


async def numbered_events(
    request: Request, listeners: list[Callable[[], None]], fetch: Fetch, seq: int, limit: int | None,
    sent: int = 0,
) -> AsyncIterator[bytes]:
    """Yield items from ``seq`` on until ``limit`` items were sent (``sent`` already were) or the client
    leaves; wait for a new block when caught up (a listener the service calls), with a keep-alive
    comment every 10 s."""
    wake = asyncio.Event()
    listeners.append(wake.set)
    try:
        while limit is None or sent < limit:
            items = fetch(seq, BATCH if limit is None else min(BATCH, limit - sent))
            if items:
                for s, data in items:
                    yield frame(s, data)
                seq = items[-1][0] + 1
                sent += len(items)
                continue
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), 10)
            except TimeoutError:
                yield b": keep-alive\n\n"
            if await request.is_disconnected():
                break
    finally:
        listeners.remove(wake.set)
