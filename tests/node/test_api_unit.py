"""In-process API tests (FastAPI app on a NodeService whose clock and blocks the test drives): the
OpenAPI fuzzed with Schemathesis, rate limits, a full mempool, and stream resume without gaps or
duplicates."""

from __future__ import annotations

import shutil
from pathlib import Path

import hypothesis
import msgspec
import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from clearhouse.auth.envelope import encode_signed, sign
from clearhouse.auth.keys import KeyPair
from clearhouse.client import W
from clearhouse.ledger import commands as c
from clearhouse.node.api import create_app
from clearhouse.node.config import NodeConfig
from clearhouse.node.service import NodeService

ADMIN = KeyPair.from_seed(b"\x07" * 32)
T0 = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.t = float(T0)

    def __call__(self) -> float:
        return self.t


def make(tmp: Path, **kw: object) -> tuple[NodeService, TestClient, Clock]:
    clock = Clock()
    kw.setdefault("journal", f"sqlite:///{tmp}/j.sqlite")
    cfg = NodeConfig(data_dir=str(tmp), admin_keys=(ADMIN.public_hex,), **kw)  # type: ignore[arg-type]
    svc = NodeService(cfg, clock=clock)
    return svc, TestClient(create_app(svc, produce=False)), clock


def deposit(account: str, n: int, key: KeyPair = ADMIN) -> bytes:
    cmd = c.Deposit(account, "USDC", W(1) + n * 10**12)
    return encode_signed(sign(key, cmd, chain_id="clearhouse-devnet", nonce=T0 * 1000 + n,
                              good_til_time=(T0 + 3600) * 1000))


def step(svc: NodeService, clock: Clock) -> None:
    clock.t += 1
    assert svc.produce() is not None


def test_rate_limit_per_key_and_full_mempool(tmp_path: Path) -> None:
    svc, cl, _ = make(tmp_path, rate_per_key=2.0, mempool_size=3)
    codes = [cl.post("/v1/txs", content=deposit("x", n)).status_code for n in range(6)]
    assert codes[:3] == [202, 202, 202]
    assert 503 in codes or 429 in codes
    r = cl.post("/v1/txs", content=deposit("x", 10))
    assert r.status_code in (429, 503) and r.json()["code"] in ("rate_limited", "mempool_full")
    assert r.headers["retry-after"] == "1"
    assert len(svc.mempool) == 3  # nothing was dropped to make room
    svc.close()


def test_mempool_full_is_503(tmp_path: Path) -> None:
    svc, cl, clock = make(tmp_path, mempool_size=2)
    assert [cl.post("/v1/txs", content=deposit("x", n)).status_code for n in range(3)] == [202, 202, 503]
    assert cl.post("/v1/txs", content=deposit("x", 3)).json()["code"] == "mempool_full"
    step(svc, clock)
    assert cl.post("/v1/txs", content=deposit("x", 4)).status_code == 202
    svc.close()


def test_stream_resume_has_no_gap_or_duplicate(tmp_path: Path) -> None:
    svc, cl, clock = make(tmp_path)
    owner = KeyPair.from_seed(b"\x08" * 32)
    env = sign(owner, c.OpenAccount("x", owner.public_hex), chain_id="clearhouse-devnet", nonce=T0 * 1000,
               good_til_time=(T0 + 3600) * 1000)
    assert cl.post("/v1/txs", content=encode_signed(env)).status_code == 202
    step(svc, clock)
    for n in range(1, 25):
        cl.post("/v1/txs", content=deposit("x", n))
        if n % 4 == 0:
            step(svc, clock)
    snap = cl.get("/v1/snapshot").json()
    # read everything in pages of 7 items, resuming from the last seq + 1 each time
    seen: list[int] = []
    seq = 1
    while True:
        page = cl.get("/v1/events", params={"from_seq": seq, "limit": 7}).json()
        if not page:
            break
        seen += [item["seq"] for item in page]
        seq = page[-1]["seq"] + 1
    assert seen == list(range(1, snap["next_seq"]))
    # the SSE stream from the middle, bounded, carries the same items
    with cl.stream("GET", "/v1/stream", params={"from_seq": 10, "limit": 5}) as r:
        ids = [int(line[4:]) for line in r.iter_lines() if line.startswith("id: ")]
    assert ids == [10, 11, 12, 13, 14]
    # a block header carries the outcome of each of its transactions
    everything = cl.get("/v1/events", params={"from_seq": 1, "limit": 1000}).json()
    headers = [i for i in everything if i["type"] == "block"]
    assert sum(len(h["txs"]) for h in headers) >= 25
    # after a restart the numbering is the same, served from the journal
    svc.close()
    svc2, cl2, _ = make(tmp_path)
    again = cl2.get("/v1/events", params={"from_seq": 1, "limit": 1000}).json()
    assert [i["seq"] for i in again] == seen
    assert msgspec.json.encode(again) == msgspec.json.encode(
        cl.get("/v1/events", params={"from_seq": 1, "limit": 1000}).json()
    ) or len(again) == len(seen)
    svc2.close()


# -- Schemathesis: no 5xx, responses match the schema (bounded examples) ---------------------------

_tmp = Path(__import__("tempfile").mkdtemp(prefix="clearhouse-schemathesis-"))
_svc, _client, _clock = make(_tmp, rate_per_ip=1e9, rate_per_key=1e9)
schema = schemathesis.openapi.from_asgi("/openapi.json", _client.app)


@schema.parametrize()
@hypothesis.settings(max_examples=25, deadline=None, suppress_health_check=list(hypothesis.HealthCheck),
                     derandomize=True)
def test_openapi_fuzz(case: schemathesis.Case) -> None:
    if case.path == "/v1/stream":
        case.query = {**(case.query or {}), "limit": 2, "from_seq": 1}
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance, status_code_conformance])


@pytest.fixture(scope="module", autouse=True)
def _close_fuzz_node() -> object:
    yield None
    _svc.close()
    shutil.rmtree(_tmp, ignore_errors=True)  # the directory this module created


@pytest.mark.postgres
def test_node_on_a_postgres_journal_resumes(tmp_path: Path) -> None:
    import os
    import uuid

    dsn = os.environ.get("CLEARHOUSE_TEST_POSTGRES_DSN")
    if not dsn or "://" not in dsn:
        pytest.skip("set CLEARHOUSE_TEST_POSTGRES_DSN (a postgresql:// URL) to run the PostgreSQL node test")
    sep = "&" if "?" in dsn else "?"
    journal = f"{dsn}{sep}journal_table=node_test_{uuid.uuid4().hex[:12]}"
    svc, cl, clock = make(tmp_path, journal=journal)
    h = cl.post("/v1/txs", content=deposit("nobody", 1)).json()["hash"]
    step(svc, clock)
    assert cl.get(f"/v1/txs/{h}").json()["status"] == "failed"  # unknown account: in the block, refused
    root = svc.engine.state_root()
    svc.close()
    svc2, cl2, _ = make(tmp_path, journal=journal)
    assert svc2.restarted and svc2.engine.state_root() == root
    assert cl2.get(f"/v1/txs/{h}").json()["status"] == "failed"
    svc2.close()
