"""The replicated block log on NATS JetStream, and the lease naming the leader.

Stream sequence ``n`` holds the journal row of block ``n``: the leader publishes row ``h`` with
``Nats-Msg-Id: h`` (a duplicate is refused) and ``Nats-Expected-Last-Sequence: h - 1`` (a publish by a
second, stale sequencer fails: the single writer is enforced by JetStream, not by the lease). The lease
is one key in a key-value bucket whose TTL expires it when its holder stops refreshing.

nats-py is asyncio; the engine's journal sink is synchronous and runs on the node's event loop. So the
NATS client lives on its own event loop in a daemon thread (:class:`Bridge`): the sink waits on a
publish there, and the node's tasks await the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import msgspec
import nats
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from clearhouse.journal.rows import JournalRow
from clearhouse.replication.errors import Fenced

T = TypeVar("T")
LEASE_KEY = "leader"


class RowMsg(msgspec.Struct, frozen=True, array_like=True):
    """A journal row on the wire (msgpack)."""

    height: int
    block: bytes
    events: bytes
    state_root: str
    prev_hash: str
    row_hash: str
    leader: str

    def row(self) -> JournalRow:
        return JournalRow(self.height, self.block, self.events, self.state_root, self.prev_hash,
                          self.row_hash)


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(RowMsg)


def encode_row(row: JournalRow, leader: str) -> bytes:
    return _enc.encode(RowMsg(row.height, row.block, row.events, row.state_root, row.prev_hash,
                              row.row_hash, leader))


def decode_row(data: bytes) -> RowMsg:
    return _dec.decode(data)


class Bridge:
    """An asyncio loop in a daemon thread for the NATS client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="nats", daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the NATS loop and block until it finishes (for synchronous callers)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def acall(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the NATS loop and await it from another loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        """Cancel what still runs there (the lease refresher), then stop the loop and the thread."""

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_all(), self.loop).result(3)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class BlockLog:
    """The stream of journal rows and the leader lease, as async operations (run them on a Bridge)."""

    def __init__(self, servers: list[str], stream: str, bucket: str, lease_ttl_s: float, replicas: int,
                 name: str) -> None:
        self.servers = servers
        self.stream = stream
        self.subject = f"{stream}.rows"
        self.bucket = bucket
        self.lease_ttl_s = lease_ttl_s
        self.replicas = replicas
        self.name = name
        self.nc: Any = None
        self.js: Any = None
        self.kv: Any = None

    async def connect(self, timeout: float = 20.0) -> None:
        """Connect and create the stream and the lease bucket (idempotent); retries while the cluster
        elects its JetStream meta leader."""
        self.nc = await nats.connect(self.servers, name=self.name, connect_timeout=2,
                                     reconnect_time_wait=0.2, max_reconnect_attempts=-1,
                                     allow_reconnect=True)
        self.js = self.nc.jetstream(timeout=3)
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self._ensure()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    async def _ensure(self) -> None:
        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(StreamConfig(
                name=self.stream, subjects=[self.subject], num_replicas=self.replicas,
                storage=StorageType.FILE, duplicate_window=120.0,
            ))
        try:
            self.kv = await self.js.key_value(self.bucket)
        except Exception:
            self.kv = await self.js.create_key_value(KeyValueConfig(
                bucket=self.bucket, history=1, ttl=self.lease_ttl_s, replicas=self.replicas,
            ))

    def max_payload(self) -> int:
        """The largest message the connected server takes (its ``max_payload``)."""
        return int(self.nc.max_payload) if self.nc is not None else 0

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()

    # -- the stream ------------------------------------------------------------------------------

    async def publish(self, row: JournalRow, timeout: float) -> int:
        """Append row ``h`` at stream sequence ``h`` or raise :class:`Fenced`.

        A publish whose outcome is unknown (no answer while the stream elects a new leader after a
        server died, a timeout) is retried with the same message id until ``timeout``: if an earlier
        attempt landed, the retry is refused (duplicate id, or last sequence already ``h``) and the row
        at ``h`` is ours, which counts as success; a row at ``h`` that is not ours means another
        sequencer wrote it."""
        headers = {"Nats-Msg-Id": str(row.height), "Nats-Expected-Last-Sequence": str(row.height - 1)}
        payload = encode_row(row, self.name)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                ack = await self.js.publish(self.subject, payload, timeout=max(0.2, min(left, 2.0)),
                                            stream=self.stream, headers=headers)
                if not ack.duplicate and ack.seq == row.height:
                    return int(ack.seq)
                refused = f"duplicate of seq {ack.seq}"
            except APIError as err:
                refused = str(err)
            except Exception as err:  # timeout, no responders, connection lost: outcome unknown
                if time.monotonic() + 0.2 >= deadline:
                    raise Fenced(f"publish of block {row.height} not confirmed: {type(err).__name__} "
                                 f"{err}") from None
                await asyncio.sleep(0.2)
                continue
            try:
                there = await self.get(row.height)
            except Exception as err:
                raise Fenced(f"block {row.height} refused ({refused}); the log cannot be read: "
                             f"{err}") from None
            if there is not None and there.row_hash == row.row_hash and there.leader == self.name:
                return row.height  # an earlier attempt of ours landed
            raise Fenced(f"JetStream refused block {row.height}: {refused}")

    async def get(self, height: int) -> RowMsg | None:
        """The row of block ``height``, or None if the log does not have it yet."""
        try:
            msg = await self.js.get_msg(self.stream, seq=height)
        except NotFoundError:
            return None
        return decode_row(msg.data)

    async def last(self) -> int:
        """Height of the last block in the log."""
        info = await self.js.stream_info(self.stream)
        return int(info.state.last_seq)

    # -- the lease -------------------------------------------------------------------------------

    async def holder(self) -> str | None:
        """Who holds the lease, or None when it has expired (or was released)."""
        try:
            entry = await self.kv.get(LEASE_KEY)
        except KeyNotFoundError:
            return None
        return bytes(entry.value or b"").decode() or None

    async def acquire(self) -> int | None:
        """Take the lease if nobody holds it; its revision, or None."""
        try:
            return int(await self.kv.create(LEASE_KEY, self.name.encode()))
        except KeyWrongLastSequenceError:
            return None
        except APIError:
            return None

    async def refresh(self, revision: int) -> int | None:
        """Renew a held lease; None if it was lost (expired and taken, or the bucket unreachable)."""
        try:
            return int(await self.kv.update(LEASE_KEY, self.name.encode(), last=revision))
        except KeyWrongLastSequenceError:
            return None
        except APIError:
            return None

    async def release(self, revision: int) -> None:
        with contextlib.suppress(Exception):  # best effort: the TTL expires it anyway
            await self.kv.delete(LEASE_KEY, last=revision)


__all__ = ["BlockLog", "Bridge", "Fenced", "RowMsg", "decode_row", "encode_row"]
