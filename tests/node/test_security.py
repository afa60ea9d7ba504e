"""Security cases through HTTP against a real node process: each refused with its typed error code, and
nothing changed (the account, the mempool, the transaction unknown)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import msgspec
import pytest

from clearhouse.auth.envelope import encode_signed, sign
from clearhouse.auth.keys import KeyPair
from clearhouse.auth.reports import sign_report
from clearhouse.client import Client, W
from clearhouse.ledger import commands as c
from clearhouse.oracle.reports import SourceReport

from .devnet import Devnet

ALICE = KeyPair.from_seed(b"\x01" * 32)
MALLORY = KeyPair.from_seed(b"\x02" * 32)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    d = Devnet(tmp_path_factory.mktemp("sec"), reporters=1, extra={"max_body_bytes": 4096})
    d.start()
    d.open_and_fund({"alice": (ALICE, "1000"), "mallory": (MALLORY, "1000")})
    yield d
    d.stop()


def post(net: Devnet, body: bytes, path: str = "/v1/txs") -> httpx.Response:
    return httpx.post(net.url + path, content=body, headers={"content-type": "application/json"}, timeout=10)


def snapshot(net: Devnet) -> tuple[object, int]:
    with Client(net.url) as cl:
        return cl.account("alice"), cl.status()["mempool"]


def refused(net: Devnet, body: bytes, status: int, code: str, path: str = "/v1/txs") -> None:
    before = snapshot(net)
    r = post(net, body, path)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code, r.text
    time.sleep(0.25)  # a block later, still nothing changed
    assert snapshot(net) == before


def envelope(key: KeyPair, cmd: object, **kw: object) -> bytes:
    args: dict[str, object] = {"chain_id": "clearhouse-devnet", "nonce": int(time.time() * 1000),
                               "good_til_time": int(time.time() * 1000) + 60_000}
    args.update(kw)
    return encode_signed(sign(key, cmd, **args))  # type: ignore[arg-type]


def test_tampered_signature(net: Devnet) -> None:
    raw = envelope(ALICE, c.Withdraw("alice", "USDC", W(1)))
    sig = raw.rindex(b'"signature":"') + len(b'"signature":"')
    flipped = raw[:sig] + (b"0" if raw[sig:sig + 1] != b"0" else b"1") + raw[sig + 1:]
    refused(net, flipped, 401, "bad_signature")
    tampered_amount = raw.replace(b'"amount":1000000000000000000', b'"amount":2000000000000000000')
    refused(net, tampered_amount, 401, "bad_signature")


def test_another_key_withdrawing(net: Devnet) -> None:
    refused(net, envelope(MALLORY, c.Withdraw("alice", "USDC", W(1))), 403, "unauthorized")


def test_replay_and_reused_nonce(net: Devnet) -> None:
    with Client(net.url) as cl:
        nonce = int(time.time() * 1000)
        raw = envelope(ALICE, c.Withdraw("alice", "USDC", W(1)), nonce=nonce)
        h = cl.submit(raw)
        assert cl.wait(h)["status"] == "included"
    refused(net, raw, 409, "nonce_reused")  # the same bytes again
    refused(net, envelope(ALICE, c.Withdraw("alice", "USDC", W(2)), nonce=nonce), 409, "nonce_reused")


def test_wrong_chain(net: Devnet) -> None:
    raw = envelope(ALICE, c.Withdraw("alice", "USDC", W(1)), chain_id="other-chain")
    refused(net, raw, 400, "wrong_chain")


def test_expired(net: Devnet) -> None:
    past = int(time.time() * 1000) - 120_000
    refused(net, envelope(ALICE, c.Withdraw("alice", "USDC", W(1)), good_til_time=past), 400, "expired")
    refused(net, envelope(ALICE, c.Withdraw("alice", "USDC", W(1)), good_til_time=None, good_til_block=1),
            400, "expired")


def test_reporter_not_whitelisted(net: Devnet) -> None:
    rep = SourceReport("src0", "ETH", W(1), int(time.time()))
    body = msgspec.json.encode({"report": rep, "signature": sign_report(rep, "clearhouse-devnet", MALLORY)})
    before = httpx.get(net.url + "/v1/oracles").json()
    refused(net, body, 403, "unauthorized", "/v1/reports")
    assert httpx.get(net.url + "/v1/oracles").json() == before


def test_oversized_malformed_non_utf8_huge_number(net: Devnet) -> None:
    refused(net, b"{" + b" " * 5000 + b"}", 413, "body_too_large")
    refused(net, b'{"envelope": 1', 400, "malformed_envelope")
    good = envelope(ALICE, c.Withdraw("alice", "USDC", W(1)))
    refused(net, good.replace(b",", b", ", 1), 400, "malformed_envelope")  # not canonical
    refused(net, b'{"envelope":"\xff\xfe"}', 400, "malformed_envelope")
    huge = envelope(ALICE, c.Withdraw("alice", "USDC", 10**70))
    refused(net, huge, 400, "number_too_large")
    refused(net, b"[" * 40 + b"]" * 40, 400, "malformed_envelope")


def test_read_paths_refuse_garbage_with_4xx(net: Devnet) -> None:
    paths = ("/v1/txs/zz", "/v1/blocks/0", "/v1/blocks/abc", "/v1/accounts/nobody", "/v1/events?from_seq=-1")
    for path in paths:
        r = httpx.get(net.url + path, timeout=10)
        assert 400 <= r.status_code < 500, (path, r.status_code)
