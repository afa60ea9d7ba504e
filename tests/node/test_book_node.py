"""The order book inside the node (in-process app, a test-driven clock): orders and cancels through the
API, matching in the sequencer, fills cleared by the engine, outcomes, L2 depth and the book stream,
restart rebuilds from the journal alone, ``verify --book`` catching a tampered journal, a forged fill
refused, and the account-proof endpoint checked by ``check-proof``."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import hypothesis
import msgspec
import pytest
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from typer.testing import CliRunner

from clearhouse.auth.commands import MatchedFill
from clearhouse.auth.envelope import decode_signed, encode_signed, sign
from clearhouse.auth.keys import KeyPair
from clearhouse.auth.orders import Order, SignedOrder, encode_signed_order, sign_order
from clearhouse.book.cancels import CancelAll, CancelOrder, sign_cancel, sign_cancel_all
from clearhouse.cli.main import app as cli_app
from clearhouse.client import W
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block, decode_block
from clearhouse.node.api import create_app
from clearhouse.node.book_service import BookLogError
from clearhouse.node.config import NodeConfig
from clearhouse.node.service import NodeService

from .devnet import Devnet

CHAIN = "clearhouse-devnet"
MKT = "ETH-PERP"
ADMIN = KeyPair.from_seed(b"\x07" * 32)
T0 = 1_800_000_000
NAMES = ("alice", "bob", "carol", "dave")
KEYS = {n: KeyPair.from_seed(bytes([0x20 + i]) * 32) for i, n in enumerate(NAMES)}
GTT = (T0 + 3600) * 1000


class Clock:
    def __init__(self) -> None:
        self.t = float(T0)

    def __call__(self) -> float:
        return self.t


class Node:
    def __init__(self, tmp: Path, clock: Clock | None = None) -> None:
        self.tmp = tmp
        self.clock = clock or Clock()
        cfg = NodeConfig(data_dir=str(tmp), journal=f"sqlite:///{tmp}/j.sqlite",
                         admin_keys=(ADMIN.public_hex,))
        self.svc = NodeService(cfg, clock=self.clock)
        self.cl = TestClient(create_app(self.svc, produce=False))
        self.n = 0

    def step(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.clock.t += 1
            assert self.svc.produce() is not None

    def tx(self, key: KeyPair, cmd: Any) -> str:
        self.n += 1
        env = sign(key, cmd, chain_id=CHAIN, nonce=T0 * 1000 + self.n, good_til_time=GTT)
        r = self.cl.post("/v1/txs", content=encode_signed(env))
        assert r.status_code == 202, r.text
        return str(r.json()["hash"])

    def fund(self, *names: str) -> None:
        for name in names:
            self.tx(KEYS[name], c.OpenAccount(name, KEYS[name].public_hex))
        self.step()
        for name in names:
            self.tx(ADMIN, c.Deposit(name, "USDC", W(100_000)))
        self.step()

    def order(self, name: str, side: Literal["buy", "sell"], size: str, price: str, *, tif: str = "gtc",
              reduce_only: bool = False, cid: int = 0, key: KeyPair | None = None) -> SignedOrder:
        o = Order(CHAIN, name, MKT, side, W(size), W(price), cid, tif, reduce_only,  # type: ignore[arg-type]
                  good_til_time=GTT)
        return sign_order(o, key or KEYS[name])

    def place(self, signed: SignedOrder, status: int = 202) -> dict[str, Any]:
        r = self.cl.post("/v1/orders", content=encode_signed_order(signed))
        assert r.status_code == status, r.text
        return dict(r.json())

    def status(self, order_id: str) -> dict[str, Any]:
        r = self.cl.get(f"/v1/orders/{order_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def cancel(self, signed: Any) -> str:
        r = self.cl.post("/v1/cancels", content=msgspec.json.encode(signed, order="deterministic"))
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    def position(self, name: str) -> int:
        pos = self.svc.engine.state.accounts[name].positions.get(MKT)
        return 0 if pos is None else int(pos.size)

    def depth(self) -> dict[str, Any]:
        return dict(self.cl.get(f"/v1/book/{MKT}", params={"depth": 10}).json())

    def close(self) -> None:
        self.svc.close()


def matched_fills(block: Block) -> list[tuple[str, MatchedFill]]:
    """(signer, fill) of every MatchedFill envelope in ``block``."""
    out = []
    for raw in block.signed:
        env = decode_signed(bytes(raw)).envelope
        if isinstance(env.command, MatchedFill):
            out.append((env.signer, env.command))
    return out


def test_crossing_orders_match_and_clear_through_the_engine(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.fund("alice", "bob")
    buy = node.place(node.order("alice", "buy", "1", "2000"))
    assert buy["status"] == "pending"
    node.step()
    assert node.status(buy["order_id"])["status"] == "resting"
    assert node.depth()["bids"] == [[W(2000), W(1)]]
    sell = node.place(node.order("bob", "sell", "0.4", "1990"))
    node.step()
    s, b = node.status(sell["order_id"]), node.status(buy["order_id"])
    assert s["status"] == "filled" and s["cleared"] == W("0.4")
    assert s["fills"][0]["price"] == W(2000)  # the maker's price
    assert s["fills"][0]["status"] == "included"
    assert b["status"] == "resting" and b["matched"] == W("0.4") and b["remaining"] == W("0.6")
    assert node.position("alice") == W("0.4") and node.position("bob") == -W("0.4")
    # the block carries the fill as a MatchedFill with both signed orders, signed by the node's key
    height = node.svc.engine.state.height
    block = decode_block(node.svc.store.get(height).block)  # type: ignore[union-attr]
    mf = matched_fills(block)
    assert len(mf) == 1 and mf[0][0] == node.cl.get("/v1/node-key").json()["public_key"]
    assert mf[0][1].buy.order.account == "alice" and mf[0][1].sell.order.account == "bob"
    assert node.depth()["bids"] == [[W(2000), W("0.6")]]
    node.close()


def test_price_time_priority(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.fund(*NAMES)
    a = node.place(node.order("alice", "sell", "1", "2010"))
    cc = node.place(node.order("carol", "sell", "1", "2010"))
    d = node.place(node.order("dave", "sell", "1", "2005"))
    node.step()
    b = node.place(node.order("bob", "buy", "2.5", "2010"))
    node.step()
    fills = node.status(b["order_id"])["fills"]
    assert [(f["price"], f["size"]) for f in fills] == [(W(2005), W(1)), (W(2010), W(1)), (W(2010), W("0.5"))]
    assert node.status(d["order_id"])["status"] == "filled"
    assert node.status(a["order_id"])["status"] == "filled"  # first at 2010: filled first
    carol = node.status(cc["order_id"])
    assert carol["status"] == "resting" and carol["remaining"] == W("0.5")
    assert node.position("bob") == W("2.5") and node.position("carol") == -W("0.5")
    node.close()


def test_ioc_post_only_reduce_only(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.fund("alice", "bob")
    flat = node.place(node.order("alice", "buy", "1", "1990", reduce_only=True, cid=1))
    node.place(node.order("alice", "sell", "1", "2000"))
    node.step()
    assert node.status(flat["order_id"])["code"] == "reduce_only_refused"  # nothing to reduce
    post = node.place(node.order("bob", "buy", "1", "2000", tif="post_only"))
    ioc = node.place(node.order("bob", "buy", "3", "2000", tif="ioc"))
    node.step()
    p = node.status(post["order_id"])
    assert p["status"] == "rejected" and p["code"] == "post_only_would_cross"
    i = node.status(ioc["order_id"])
    assert i["status"] == "cancelled" and i["reason"] == "ioc_remainder" and i["cleared"] == W(1)
    assert node.depth()["bids"] == [] and node.depth()["asks"] == []  # the IOC remainder did not rest
    assert node.position("alice") == -W(1)
    # alice is short 1: a reduce-only buy of 3 fills at most 1, its remainder is cancelled
    r2 = node.place(node.order("alice", "buy", "3", "2000", reduce_only=True, cid=2))
    node.place(node.order("bob", "sell", "2", "2000", cid=3))
    node.step()
    st = node.status(r2["order_id"])
    assert st["cleared"] == W(1) and st["status"] == "cancelled" and st["reason"] == "reduce_only"
    assert node.position("alice") == 0
    assert node.depth()["asks"] == [[W(2000), W(1)]]  # bob's unfilled rest
    node.close()


def test_cancel_cancel_all_and_self_trade_prevention(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.fund("alice", "bob")
    o1 = node.place(node.order("alice", "buy", "1", "1990", cid=1))
    o2 = node.place(node.order("alice", "buy", "1", "1980", cid=2))
    o3 = node.place(node.order("alice", "buy", "1", "1970", cid=3))
    node.step()
    wrong = node.cancel(sign_cancel(CancelOrder(CHAIN, MKT, o1["order_id"]), KEYS["bob"]))
    right = node.cancel(sign_cancel(CancelOrder(CHAIN, MKT, o1["order_id"]), KEYS["alice"]))
    node.step()
    assert node.cl.get(f"/v1/cancels/{wrong}").json()["code"] == "wrong_signer"
    assert node.cl.get(f"/v1/cancels/{right}").json()["status"] == "applied"
    assert node.status(o1["order_id"])["status"] == "cancelled"
    # self-trade prevention (cancel_maker): alice's sell meets her own best bid, which is removed
    s = node.place(node.order("alice", "sell", "1", "1980", cid=4))
    node.step()
    assert node.status(o2["order_id"])["reason"] == "self_trade"
    assert node.status(s["order_id"])["matched"] == 0
    assert node.position("alice") == 0
    ca = node.cancel(sign_cancel_all(CancelAll(CHAIN, MKT, "alice", 1), KEYS["alice"]))
    node.step()
    assert node.cl.get(f"/v1/cancels/{ca}").json()["status"] == "applied"
    assert node.status(o3["order_id"])["status"] == "cancelled"
    assert node.status(s["order_id"])["status"] == "cancelled"
    assert node.depth()["bids"] == [] and node.depth()["asks"] == []
    node.close()


def test_edge_refusals(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.fund("alice", "bob")
    assert node.place(node.order("alice", "buy", "1", "2000", key=KEYS["bob"]), 403)["code"] == "unauthorized"
    assert node.place(node.order("alice", "buy", "0.0005", "2000"), 400)["code"] == "off_grid"
    assert node.place(node.order("alice", "buy", "1", "2500"), 400)["code"] == "price_outside_band"
    other = sign_order(Order("other-chain", "alice", MKT, "buy", W(1), W(2000), 0, good_til_time=GTT),
                       KEYS["alice"])
    assert node.place(other, 400)["code"] == "wrong_chain"
    good = node.order("alice", "buy", "1", "2000")
    forged = SignedOrder(msgspec.structs.replace(good.order, size=W(2)), good.signer, good.signature)
    assert node.place(forged, 401)["code"] == "bad_signature"
    node.place(good)
    assert node.place(good, 400)["code"] == "duplicate_order"
    node.close()


def test_restart_rebuilds_the_same_book(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.fund(*NAMES)
    ids = []
    for i, (name, side, size, price) in enumerate([
        ("alice", "buy", "1", "1990"), ("bob", "sell", "2", "2010"), ("carol", "buy", "0.5", "1995"),
        ("dave", "sell", "1", "1995"), ("alice", "buy", "1", "2010"), ("carol", "sell", "0.3", "2020"),
    ]):
        ids.append(node.place(node.order(name, side, size, price, cid=i))["order_id"])  # type: ignore[arg-type]
        if i % 2:
            node.step()
    node.cancel(sign_cancel(CancelOrder(CHAIN, MKT, ids[0]), KEYS["alice"]))
    node.step()
    book = node.svc.book
    assert book is not None
    root, depth = book.book.root(), node.depth()
    deltas = node.cl.get(f"/v1/book/{MKT}/deltas", params={"limit": 1000}).json()
    statuses = [node.status(i) for i in ids]
    clock = node.clock
    node.close()
    assert not (tmp_path / "book.sqlite").exists()  # the journal is the only source of the book
    res = CliRunner().invoke(cli_app, ["verify", "--book", f"sqlite:///{tmp_path}/j.sqlite"])
    assert res.exit_code == 0 and "book OK" in res.output, res.output
    again = Node(tmp_path, clock)
    assert again.svc.book is not None and again.svc.book.book.root() == root
    assert again.depth() == depth
    assert again.cl.get(f"/v1/book/{MKT}/deltas", params={"limit": 1000}).json() == deltas
    assert [again.status(i) for i in ids] == statuses
    # and it keeps trading on the rebuilt book
    t = again.place(again.order("dave", "buy", "0.3", "2020", cid=99))
    again.step()
    assert again.status(t["order_id"])["status"] == "filled"
    again.close()


def test_forged_fill_is_refused_by_the_engine(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.fund("alice", "bob")
    node.place(node.order("alice", "buy", "1", "2000"))
    node.place(node.order("bob", "sell", "1", "2000"))
    node.step()
    block = decode_block(node.svc.store.get(node.svc.engine.state.height).block)  # type: ignore[union-attr]
    mf = matched_fills(block)[0][1]
    # alter alice's signed order (a bigger size keeps its old signature) and claim a new fill of it
    buy = SignedOrder(msgspec.structs.replace(mf.buy.order, size=W(5)), mf.buy.signer, mf.buy.signature)
    sell = node.order("bob", "sell", "1", "2000", cid=7)
    forged = MatchedFill(buy, sell, msgspec.structs.replace(mf.fill, size=W(1)))
    h = node.tx(KEYS["bob"], forged)
    node.step()
    st = node.cl.get(f"/v1/txs/{h}").json()
    assert st["status"] in ("failed", "rejected") and st["code"] == "bad_signature"
    assert node.position("alice") == W(1)  # only the real fill
    node.close()
    # the journal, book fills and the refused forgery included, replays and verifies from genesis
    res = CliRunner().invoke(cli_app, ["verify", f"sqlite:///{tmp_path}/j.sqlite"])
    assert res.exit_code == 0 and "verified" in res.output, res.output


def test_l2_and_book_stream_with_sequence_numbers(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.fund("alice", "bob")
    node.place(node.order("alice", "buy", "1", "1990", cid=1))
    node.place(node.order("alice", "buy", "2", "1990", cid=2))
    node.place(node.order("alice", "buy", "1", "1980", cid=3))
    node.step()
    snap = node.depth()
    assert snap["bids"] == [[W(1990), W(3)], [W(1980), W(1)]] and snap["asks"] == []
    assert node.cl.get(f"/v1/book/{MKT}", params={"depth": 1}).json()["bids"] == [[W(1990), W(3)]]
    assert node.cl.get("/v1/book/BTC-PERP").status_code == 404
    node.place(node.order("bob", "sell", "1.5", "1990", cid=4))
    node.place(node.order("bob", "sell", "1", "2050", cid=5))
    node.step()
    # snapshot first, then deltas with contiguous numbers
    with node.cl.stream("GET", f"/v1/book/{MKT}/stream", params={"limit": 1}) as r:
        first = [msgspec.json.decode(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert first[0]["type"] == "snapshot" and first[0]["bids"] == [[W(1990), W("1.5")], [W(1980), W(1)]]
    last = first[0]["seq"]
    all_deltas = node.cl.get(f"/v1/book/{MKT}/deltas", params={"from_seq": 1, "limit": 1000}).json()
    assert [d["seq"] for d in all_deltas] == list(range(1, last + 1))
    # replaying the deltas from empty gives the snapshot
    levels: dict[tuple[str, int], int] = {}
    for d in all_deltas:
        levels[(d["side"], d["price"])] = d["size"]
    bids = sorted([p, s] for (side, p), s in levels.items() if side == "bid" and s)
    assert bids == sorted(first[0]["bids"])
    # resume from the middle with Last-Event-ID: no gap, no duplicate
    with node.cl.stream("GET", f"/v1/book/{MKT}/stream", params={"limit": 3},
                        headers={"Last-Event-ID": "2"}) as r:
        ids = [int(line[4:]) for line in r.iter_lines() if line.startswith("id: ")]
    assert ids == [3, 4, 5]
    node.close()


def test_account_proof_endpoint_verifies_with_check_proof(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.fund("alice", "bob")
    node.place(node.order("alice", "buy", "1", "2000"))
    node.place(node.order("bob", "sell", "1", "2000"))
    node.step()
    height = node.svc.engine.state.height - 1
    root = node.cl.get(f"/v1/blocks/{height}").json()["state_root"]
    r = node.cl.get("/v1/proof/account/alice", params={"height": height})
    assert r.status_code == 200 and r.json()["kind"] == "inclusion" and r.json()["height"] == height
    runner = CliRunner()
    good = tmp_path / "proof.json"
    good.write_bytes(r.content)
    ok = runner.invoke(cli_app, ["check-proof", str(good), "--root", root])
    assert ok.exit_code == 0, ok.output
    # one altered byte (a digit of the account's canonical bytes) makes it fail
    data = bytearray(r.content)
    i = data.index(b'"account":"') + 30
    data[i] = ord("7") if data[i] != ord("7") else ord("8")
    bad = tmp_path / "bad.json"
    bad.write_bytes(bytes(data))
    assert runner.invoke(cli_app, ["check-proof", str(bad), "--root", root]).exit_code != 0
    # another root does not verify it either
    other = node.cl.get(f"/v1/blocks/{height - 1}").json()["state_root"]
    assert runner.invoke(cli_app, ["check-proof", str(good), "--root", other]).exit_code != 0
    # an absent account: a non-inclusion proof signed by the node's key
    absent = node.cl.get("/v1/proof/account/zed")
    assert absent.json()["kind"] == "non-inclusion"
    key = node.cl.get("/v1/node-key").json()["public_key"]
    head_root = node.cl.get("/v1/status").json()["state_root"]
    (tmp_path / "absent.json").write_bytes(absent.content)
    res = runner.invoke(cli_app, ["check-proof", str(tmp_path / "absent.json"), "--root", head_root,
                                  "--key", key])
    assert res.exit_code == 0, res.output
    assert node.cl.get("/v1/proof/account/alice", params={"height": 10**6}).status_code == 404
    node.close()


def test_real_node_process_two_clients_trade_through_the_book_and_restart(tmp_path: Path) -> None:
    """A node process on 127.0.0.1 (its own block producer): two clients' orders match and clear; after
    kill -9 and a restart the node rebuilds the same book from its journal alone."""
    net = Devnet(tmp_path, reporters=0, block_time_ms=100)
    alice, bob = KEYS["alice"], KEYS["bob"]
    net.start()
    try:
        net.open_and_fund({"alice": (alice, "100000"), "bob": (bob, "100000")})
        with net.client(alice) as ca, net.client(bob) as cb:
            rest = ca.place(ca.order(alice, "alice", MKT, "buy", W(2), W(1990)))
            ca.place(ca.order(alice, "alice", MKT, "buy", W(1), W(1980)))
            assert ca.wait_order(rest)["status"] == "resting"
            take = cb.place(cb.order(bob, "bob", MKT, "sell", W("1.5"), W(1950), time_in_force="ioc"))
            st = cb.wait_order(take)
            assert st["status"] == "filled" and st["cleared"] == W("1.5")
            assert [f["price"] for f in st["fills"]] == [W(1990)]
            assert ca.account("alice")["positions"][0]["size"] == W("1.5")
            before = ca.book(MKT, depth=10)
            assert before["bids"] == [[W(1990), W("0.5")], [W(1980), W(1)]]
        net.kill9()
        net.start()
        with net.client(alice) as ca:
            assert ca.book(MKT, depth=10) == before
            assert ca.order_status(rest)["status"] == "resting"
            assert ca.order_status(take)["fills"][0]["status"] == "included"
    finally:
        net.stop()


_ORDER = st.tuples(
    st.sampled_from(("alice", "bob", "carol")), st.sampled_from(("buy", "sell")),
    st.integers(1, 4), st.integers(-3, 3), st.sampled_from(("gtc", "gtc", "ioc", "post_only")),
    st.booleans(),
)


@hypothesis.settings(max_examples=6, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(blocks=st.lists(st.lists(_ORDER, max_size=6), min_size=1, max_size=4))
def test_property_replay_rebuilds_book_and_engine_agrees(blocks: list[list[Any]]) -> None:
    """Random orders over several blocks: every book fill the engine included is in the positions, and
    a restart rebuilds the same book root, depth, deltas and outcomes."""
    tmp = Path(tempfile.mkdtemp(prefix="clearhouse-book-prop-"))
    try:
        node = Node(tmp)
        node.fund("alice", "bob", "carol")
        ids: list[str] = []
        for b, orders in enumerate(blocks):
            for i, (name, side, size, ticks, tif, reduce_only) in enumerate(orders):
                signed = node.order(name, side, str(size / 2), str(2000 + 5 * ticks), tif=tif,
                                    reduce_only=reduce_only, cid=100 * b + i)
                ids.append(node.place(signed)["order_id"])
            node.step()
        views = [node.status(i) for i in ids]
        assert all(v["status"] != "pending" for v in views)
        net: dict[str, int] = {}
        for v in views:
            for f in v["fills"]:
                if f["status"] == "included":
                    signed_size = f["size"] if v["side"] == "buy" else -f["size"]
                    net[v["account"]] = net.get(v["account"], 0) + signed_size
        for name in ("alice", "bob", "carol"):
            assert node.position(name) == net.get(name, 0)
        book = node.svc.book
        assert book is not None
        bids, asks = node.depth()["bids"], node.depth()["asks"]
        assert not bids or not asks or bids[0][0] < asks[0][0]  # never crossed
        root = book.book.root()
        deltas = node.cl.get(f"/v1/book/{MKT}/deltas", params={"limit": 1000}).json()
        clock = node.clock
        node.close()
        again = Node(tmp, clock)
        assert again.svc.book is not None and again.svc.book.book.root() == root
        assert again.cl.get(f"/v1/book/{MKT}/deltas", params={"limit": 1000}).json() == deltas
        assert [again.status(i) for i in ids] == views
        again.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the directory this test made


def _trade(tmp: Path) -> Node:
    """A node with a resting bid, a resting ask and a block where a sell filled part of the bid."""
    node = Node(tmp)
    node.fund("alice", "bob")
    node.place(node.order("alice", "buy", "2", "1990"))
    node.place(node.order("alice", "sell", "1", "2010", cid=1))
    node.step()
    node.place(node.order("bob", "sell", "1", "1990", cid=2))
    node.step()
    return node


def test_journal_alone_rebuilds_the_book(tmp_path: Path) -> None:
    """No side file: a node started on a copy of the journal alone (another data directory, another node
    key) rebuilds the same book, depth and order outcomes; the blocks carry the book inputs."""
    leader = _trade(tmp_path / "leader")
    assert leader.svc.book is not None
    root, depth = leader.svc.book.book.root(), leader.depth()
    ids = list(leader.svc.book.orders)
    statuses = [leader.status(i) for i in ids]
    leader_key = leader.svc.book.key.public_hex
    head = decode_block(leader.svc.store.get(leader.svc.engine.state.height).block)  # type: ignore[union-attr]
    assert head.book and [s for s, _ in matched_fills(head)] == [leader_key]
    leader.close()
    assert not (tmp_path / "leader" / "book.sqlite").exists()
    (tmp_path / "replica").mkdir()
    shutil.copy(tmp_path / "leader" / "j.sqlite", tmp_path / "replica" / "j.sqlite")
    replica = Node(tmp_path / "replica", leader.clock)
    book = replica.svc.book
    assert book is not None and book.key.public_hex != leader_key and book.book.root() == root
    assert replica.depth() == depth and depth["bids"] == [[W(1990), W(1)]]
    assert [replica.status(i) for i in ids] == statuses
    replica.close()


def _rewrite(src: Path, dst: str, edit: Any) -> int:
    """Re-apply every block of journal ``src`` through a fresh engine into journal ``dst`` (a consistent
    hash chain and state roots, as a dishonest sequencer would write it), ``edit(block)`` changing the
    blocks; the height of the first block it changed."""
    from clearhouse.engine.engine import Engine
    from clearhouse.journal.open import open_store

    first = 0
    src_store, dst_store = open_store(f"sqlite:///{src}"), open_store(dst)
    engine = Engine(journal=dst_store)
    for row in src_store.rows():
        block = decode_block(row.block)
        changed = edit(block)
        if changed != block and not first:
            first = block.height
        engine.apply_block(changed)
    src_store.close()
    dst_store.close()
    return first


def _verify_book(location: str) -> Any:
    return CliRunner().invoke(cli_app, ["verify", "--book", location])


def test_verify_book_catches_a_dropped_order_or_a_changed_fill(tmp_path: Path) -> None:
    """``verify --book`` re-derives every block's fills from the journalled book inputs. A journal whose
    engine replay is intact still fails at the right block when an order was taken out of the book
    inputs (the fill has no order behind it), a fill was altered and re-signed with the node key, or the
    index price told to the book is not the engine's."""
    from clearhouse.book.replay import Place
    from clearhouse.node.book_service import node_key

    node = _trade(tmp_path / "n")
    key = node_key(tmp_path / "n")
    node.close()
    journal = tmp_path / "n" / "j.sqlite"
    res = _verify_book(f"sqlite:///{journal}")
    assert res.exit_code == 0 and "book OK" in res.output and "1 fills" in res.output, res.output

    bob_place = None

    def drop_bob(block: Block) -> Block:
        nonlocal bob_place
        from clearhouse.book.journal import _decoder  # the journal entry decoder

        kept = []
        for raw in block.book:
            item = _decoder.decode(bytes(raw))
            if isinstance(item, Place) and item.order.order.account == "bob":
                bob_place = item
                continue
            kept.append(raw)
        return msgspec.structs.replace(block, book=tuple(kept))

    h = _rewrite(journal, f"sqlite:///{tmp_path}/dropped.sqlite", drop_bob)
    assert bob_place is not None
    assert CliRunner().invoke(cli_app, ["verify", f"sqlite:///{tmp_path}/dropped.sqlite"]).exit_code == 0
    res = _verify_book(f"sqlite:///{tmp_path}/dropped.sqlite")
    assert res.exit_code == 1 and f"FAILED at block {h}" in res.output and "produces 0 fills" in res.output, (
        res.output
    )

    def halve_fill(block: Block) -> Block:
        signed = []
        for raw in block.signed:
            env = decode_signed(bytes(raw)).envelope
            if isinstance(env.command, MatchedFill) and env.signer == key.public_hex:
                fill = msgspec.structs.replace(env.command.fill, size=env.command.fill.size // 2)
                cmd = msgspec.structs.replace(env.command, fill=fill)
                raw = msgspec.Raw(encode_signed(sign(key, cmd, chain_id=CHAIN, nonce=env.nonce,
                                                     good_til_block=env.good_til_block)))
            signed.append(raw)
        return msgspec.structs.replace(block, signed=tuple(signed))

    h2 = _rewrite(journal, f"sqlite:///{tmp_path}/halved.sqlite", halve_fill)
    assert h2 == h
    assert CliRunner().invoke(cli_app, ["verify", f"sqlite:///{tmp_path}/halved.sqlite"]).exit_code == 0
    res = _verify_book(f"sqlite:///{tmp_path}/halved.sqlite")
    assert res.exit_code == 1 and f"FAILED at block {h}" in res.output, res.output
    assert "not the fill the book produces" in res.output, res.output

    def bump_index(block: Block) -> Block:
        from clearhouse.book.book import BookContext
        from clearhouse.book.journal import _decoder, encode_input
        from clearhouse.book.replay import SetContext

        out = []
        for raw in block.book:
            item = _decoder.decode(bytes(raw))
            if isinstance(item, SetContext) and block.height == h:
                ctx = item.context
                raw = encode_input(SetContext(BookContext(ctx.height, ctx.now_ms, ctx.index_price + 1)))
            out.append(raw)
        return msgspec.structs.replace(block, book=tuple(out))

    assert _rewrite(journal, f"sqlite:///{tmp_path}/index.sqlite", bump_index) == h
    res = _verify_book(f"sqlite:///{tmp_path}/index.sqlite")
    assert res.exit_code == 1 and f"FAILED at block {h}" in res.output, res.output
    assert "is not the engine's index" in res.output, res.output
    # and a node refuses to start on such a journal rather than serve a book it cannot stand behind
    (tmp_path / "m").mkdir()
    shutil.copy(tmp_path / "halved.sqlite", tmp_path / "m" / "j.sqlite")
    with pytest.raises(BookLogError):
        Node(tmp_path / "m")


def test_good_til_block_order_expires(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.fund("alice")
    h = node.svc.engine.state.height
    o = Order(CHAIN, "alice", MKT, "buy", W(1), W(1990), 5, good_til_block=h + 2)
    oid = node.place(sign_order(o, KEYS["alice"]))["order_id"]
    node.step()
    assert node.status(oid)["status"] == "resting"
    node.step(2)
    st = node.status(oid)
    assert st["status"] == "expired" and st["reason"] == "expired" and st["remaining"] == 0
    assert node.depth()["bids"] == []
    node.close()


def test_book_inputs_are_checked_against_the_engine_state_before_the_block(tmp_path: Path) -> None:
    """``check_against_state``: a ``SetPosition`` must be the engine's position, the index its price."""
    from clearhouse.book.book import BookContext
    from clearhouse.book.journal import BookJournalError, FillSigner, check_against_state, encode_input
    from clearhouse.book.replay import SetContext, SetPosition
    from clearhouse.ledger.margin import fresh_price_lookup

    node = _trade(tmp_path)
    state = node.svc.engine.state
    index = int(fresh_price_lookup(state)(state.markets[MKT].spec.oracle))
    alice = node.position("alice")
    assert alice == W(1)  # bought 1 from bob

    def block(size: int, price: int) -> Block:
        ctx = BookContext(state.height + 1, (state.time + 1) * 1000, price)
        items = (FillSigner("ab" * 32), SetContext(ctx), SetPosition("alice", size), SetPosition("carol", 0))
        return Block(state.height + 1, state.time + 1, book=tuple(encode_input(i) for i in items))

    check_against_state(block(alice, index), state, MKT)
    with pytest.raises(BookJournalError, match="position of alice"):
        check_against_state(block(alice + 1, index), state, MKT)
    with pytest.raises(BookJournalError, match="index"):
        check_against_state(block(alice, index - 1), state, MKT)
    node.close()
