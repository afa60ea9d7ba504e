"""A Python client of the clearhouse node: signs envelopes, orders and oracle reports and talks to
``/v1`` over HTTP (httpx).

    from clearhouse.client import Client
    from clearhouse.auth.keys import KeyPair
    alice = KeyPair.generate()
    with Client("http://127.0.0.1:8700", alice) as cl:
        cl.send(OpenAccount("alice", alice.public_hex))          # signs, submits, waits for the block

``send`` waits until the transaction's outcome is known and, if the node restarted meanwhile and
forgot it (``unknown``: the mempool is not durable), re-sends the *same* signed bytes: the same hash, so
it can never be applied twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Literal

import httpx
import msgspec

from clearhouse.auth.commands import MatchedFill, TxCommand
from clearhouse.auth.envelope import SignedEnvelope, encode_signed, sign
from clearhouse.auth.keys import KeyPair
from clearhouse.auth.orders import Fill, Order, SignedOrder, encode_signed_order, sign_order
from clearhouse.auth.reports import sign_report
from clearhouse.book.cancels import SignedCancel, SignedCancelAll
from clearhouse.ledger.fixedpoint import to_fixed
from clearhouse.oracle.reports import SourceReport

__all__ = ["Client", "NodeError", "W"]

_enc = msgspec.json.Encoder(order="deterministic")
FINAL = ("included", "failed", "rejected", "expired", "applied")


def W(value: str | int | Decimal) -> int:
    """Human number -> WAD."""
    return to_fixed(value)


class NodeError(Exception):
    """A typed refusal from the node: HTTP ``status`` and the error ``code``."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.body = body


class Client:
    def __init__(self, url: str, key: KeyPair | None = None, *, chain_id: str | None = None,
                 timeout: float = 10.0, ttl_ms: int = 120_000) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout)
        self.key = key
        self.ttl_ms = ttl_ms
        self._chain_id = chain_id
        self._last_nonce = 0

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    @property
    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = str(self.status()["chain_id"])
        return self._chain_id

    # -- signing ---------------------------------------------------------------------------------

    def next_nonce(self) -> int:
        """Milliseconds of the wall clock, strictly increasing per client (Hyperliquid's convention)."""
        self._last_nonce = max(int(time.time() * 1000), self._last_nonce + 1)
        return self._last_nonce

    def sign(self, command: TxCommand, key: KeyPair | None = None, *, nonce: int | None = None,
             good_til_time: int | None = None) -> SignedEnvelope:
        key = key or self.key
        if key is None:
            raise ValueError("no key to sign with")
        nonce = nonce if nonce is not None else self.next_nonce()
        return sign(key, command, chain_id=self.chain_id, nonce=nonce,
                    good_til_time=good_til_time or int(time.time() * 1000) + self.ttl_ms)

    def order(self, key: KeyPair, account: str, market: str, side: Literal["buy", "sell"], size: int,
              limit_price: int, *, client_id: int | None = None,
              time_in_force: Literal["gtc", "ioc", "post_only"] = "gtc",
              reduce_only: bool = False) -> SignedOrder:
        order = Order(self.chain_id, account, market, side, size, limit_price,
                      client_id if client_id is not None else self.next_nonce(), time_in_force, reduce_only,
                      good_til_time=int(time.time() * 1000) + self.ttl_ms)
        return sign_order(order, key)

    def fill(self, buy: SignedOrder, sell: SignedOrder, size: int, price: int,
             taker: Literal["buyer", "seller"] = "buyer") -> MatchedFill:
        return MatchedFill(buy, sell, Fill(buy.order.market, size, price, taker))

    # -- HTTP ------------------------------------------------------------------------------------

    def _check(self, r: httpx.Response) -> Any:
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = {"code": "http_error", "message": r.text}
            raise NodeError(r.status_code, str(body.get("code")), str(body.get("message")), body)
        return r.json()

    def submit(self, signed: SignedEnvelope | bytes) -> str:
        raw = signed if isinstance(signed, bytes) else encode_signed(signed)
        r = self.http.post("/v1/txs", content=raw, headers={"content-type": "application/json"})
        return str(self._check(r)["hash"])

    def submit_batch(self, signed: list[SignedEnvelope]) -> list[dict[str, Any]]:
        body = b"\n".join(encode_signed(s) for s in signed)
        r = self.http.post("/v1/txs/batch", content=body, headers={"content-type": "text/plain"})
        return list(self._check(r)["results"])

    def tx(self, tx_hash: str) -> dict[str, Any]:
        return dict(self._check(self.http.get(f"/v1/txs/{tx_hash}")))

    def wait(self, tx_hash: str, timeout: float = 15.0, resend: bytes | None = None) -> dict[str, Any]:
        """Poll until the outcome is final; re-send ``resend`` (the same bytes) if the node forgot it."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.tx(tx_hash)
            if st["status"] in FINAL:
                return st
            if st["status"] == "unknown" and resend is not None:
                try:
                    self.submit(resend)
                except NodeError as err:
                    if err.code != "nonce_reused":
                        raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"transaction {tx_hash} still {st['status']} after {timeout} s")
            time.sleep(0.05)

    def send(self, command: TxCommand, key: KeyPair | None = None, *, wait: bool = True,
             timeout: float = 15.0) -> dict[str, Any]:
        """Sign, submit and (by default) wait for the outcome; raises :class:`NodeError` on a refusal."""
        signed = self.sign(command, key)
        raw = encode_signed(signed)
        h = self.submit(raw)
        if not wait:
            return {"hash": h, "status": "pending"}
        return self.wait(h, timeout, resend=raw)

    def report(self, key: KeyPair, source: str, asset: str, price: int, observed_at: int) -> str:
        rep = SourceReport(source, asset, price, observed_at)
        body = _enc.encode({"report": rep, "signature": sign_report(rep, self.chain_id, key)})
        r = self.http.post("/v1/reports", content=body, headers={"content-type": "application/json"})
        return str(self._check(r)["hash"])

    # -- reads -----------------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        return self._check(self.http.get(path, params=params or None))

    def status(self) -> dict[str, Any]:
        return dict(self.get("/v1/status"))

    def account(self, account_id: str) -> dict[str, Any]:
        return dict(self.get(f"/v1/accounts/{account_id}"))

    def markets(self) -> list[dict[str, Any]]:
        return list(self.get("/v1/markets"))

    def oracles(self) -> list[dict[str, Any]]:
        return list(self.get("/v1/oracles"))

    def liquidations(self) -> list[dict[str, Any]]:
        return list(self.get("/v1/liquidations"))

    def vaults(self, unsafe: bool = False) -> list[dict[str, Any]]:
        return list(self.get("/v1/vaults", unsafe=unsafe))

    def auctions(self) -> list[dict[str, Any]]:
        return list(self.get("/v1/auctions"))

    # -- the node's order book (docs/book.md "Trading through the node") ------------------------------

    def place(self, signed: SignedOrder) -> str:
        """Submit a signed order to the node's book; its order id (the outcome follows the next block)."""
        r = self.http.post("/v1/orders", content=encode_signed_order(signed),
                           headers={"content-type": "application/json"})
        return str(self._check(r)["order_id"])

    def cancel(self, signed: SignedCancel | SignedCancelAll) -> str:
        r = self.http.post("/v1/cancels", content=_enc.encode(signed),
                           headers={"content-type": "application/json"})
        return str(self._check(r)["id"])

    def order_status(self, order_id: str) -> dict[str, Any]:
        return dict(self.get(f"/v1/orders/{order_id}"))

    def wait_order(self, order_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """Poll until the order is out of ``pending`` and its fills are out of the mempool."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.order_status(order_id)
            if st["status"] != "pending" and all(f["status"] != "pending" for f in st["fills"]):
                return st
            if time.monotonic() > deadline:
                raise TimeoutError(f"order {order_id[:16]}… still pending")
            time.sleep(0.05)

    def book(self, market: str, depth: int = 20) -> dict[str, Any]:
        return dict(self.get(f"/v1/book/{market}", depth=depth))

    def block(self, height: int) -> dict[str, Any]:
        return dict(self.get(f"/v1/blocks/{height}"))

    def snapshot(self) -> dict[str, Any]:
        return dict(self.get("/v1/snapshot"))

    def wait_height(self, height: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.status()["height"] < height:
            if time.monotonic() > deadline:
                raise TimeoutError(f"node did not reach height {height}")
            time.sleep(0.05)

    def stream(self, from_seq: int | None = None, limit: int | None = None,
               timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Stream items (``{"seq", "type": "block"|"event", ...}``) from ``from_seq``; to resume after a
        drop, call again with the last seen ``seq + 1``: no gap, no duplicate."""
        params: dict[str, int] = {}
        if from_seq is not None:
            params["from_seq"] = from_seq
        if limit is not None:
            params["limit"] = limit
        t = httpx.Timeout(10.0, read=timeout)
        with self.http.stream("GET", "/v1/stream", params=params, timeout=t) as r:
            if r.status_code >= 400:
                r.read()
                self._check(r)
            for line in r.iter_lines():
                if line.startswith("data: "):
                    yield msgspec.json.decode(line[6:])
