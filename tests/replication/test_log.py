"""The block log and the lease against a real JetStream cluster, in process: the single writer is
JetStream's (expected-last-sequence, message id = height), the lease expires and moves, and a follower
re-executes the leader's blocks and halts on a forged row."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from clearhouse.auth.keys import KeyPair
from clearhouse.journal.rows import GENESIS_HASH, make_row
from clearhouse.ledger.block import Block, encode_block
from clearhouse.ledger.fixedpoint import to_fixed
from clearhouse.node.config import NodeConfig, ReplicationConfig
from clearhouse.node.genesis import MARKET
from clearhouse.node.service import NodeService
from clearhouse.replication.cluster import JetStreamCluster, nats_server_path
from clearhouse.replication.errors import Diverged, Fenced
from clearhouse.replication.log import BlockLog, Bridge
from clearhouse.replication.replica import Replicator

pytestmark = pytest.mark.skipif(
    nats_server_path() is None, reason="nats-server is not installed (apt-get install nats-server)"
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JetStreamCluster]:
    with JetStreamCluster(tmp_path_factory.mktemp("js")) as c:
        yield c


def _log(cluster: JetStreamCluster, stream: str, name: str, ttl: float = 1.0) -> BlockLog:
    return BlockLog(cluster.urls, stream, f"{stream}-lease", ttl, 3, name)


def test_single_writer_and_duplicates(cluster: JetStreamCluster) -> None:
    async def go() -> None:
        a, b = _log(cluster, "sw", "a"), _log(cluster, "sw", "b")
        await a.connect()
        await b.connect()
        r1 = make_row(1, b"block-1", b"[]", "11" * 32, GENESIS_HASH)
        assert await a.publish(r1, 3) == 1
        # the same height again, even with other content: the message id refuses it
        other1 = make_row(1, b"other-1", b"[]", "22" * 32, GENESIS_HASH)
        with pytest.raises(Fenced):
            await b.publish(other1, 3)
        r2 = make_row(2, b"block-2", b"[]", "33" * 32, r1.row_hash)
        assert await b.publish(r2, 3) == 2  # b is now the writer: the log is at 1, b writes 2
        # a stale sequencer that still thinks the head is 1 (it would publish 2): refused
        with pytest.raises(Fenced):
            await a.publish(make_row(2, b"stale-2", b"[]", "44" * 32, r1.row_hash), 3)
        # skipping ahead is refused too (expected last sequence 3, the log is at 2)
        with pytest.raises(Fenced):
            await a.publish(make_row(4, b"block-4", b"[]", "55" * 32, "66" * 32), 3)
        assert await a.last() == 2
        got = await a.get(2)
        assert got is not None and got.row() == r2 and got.leader == "b"
        assert await a.get(3) is None
        await a.close()
        await b.close()

    asyncio.run(go())


def test_lease_expires_and_moves(cluster: JetStreamCluster) -> None:
    async def go() -> None:
        a, b = _log(cluster, "ls", "node-a", ttl=1.0), _log(cluster, "ls", "node-b", ttl=1.0)
        await a.connect()
        await b.connect()
        rev = await a.acquire()
        assert rev is not None
        assert await b.acquire() is None
        assert await b.holder() == "node-a"
        rev = await a.refresh(rev)
        assert rev is not None
        t0 = time.monotonic()
        while await b.holder() is not None:  # a stops refreshing: the TTL expires the lease
            assert time.monotonic() - t0 < 5, "lease did not expire"
            await asyncio.sleep(0.1)
        assert await b.acquire() is not None
        assert await a.refresh(rev) is None  # a lost it
        assert await a.holder() == "node-b"
        await a.close()
        await b.close()

    asyncio.run(go())


def _node(
    tmp: Path, cluster: JetStreamCluster, stream: str, admin: KeyPair
) -> tuple[NodeService, Replicator]:
    cfg = NodeConfig(
        journal=f"sqlite:///{tmp}/journal.sqlite", data_dir=str(tmp / "data"),
        admin_keys=(admin.public_hex,),
        replication=ReplicationConfig(nats=cluster.url_list, stream=stream, lease_bucket=f"{stream}-lease"),
        genesis=msgspec.structs.replace(NodeConfig().genesis, start_time=1_700_000_000),
    )
    rep = Replicator(cfg, str(tmp))
    rep.connect()
    svc = NodeService(cfg, clock=lambda: 1_700_000_100.0, sink=rep.make_sink)
    rep.check_prefix(svc)
    return svc, rep


def test_follower_re_executes_and_halts_on_a_forged_row(cluster: JetStreamCluster, tmp_path: Path) -> None:
    admin = KeyPair.generate()
    lead, lrep = _node(tmp_path / "lead", cluster, "fw", admin)
    fol, frep = _node(tmp_path / "fol", cluster, "fw", admin)
    try:
        lrep._lead(1)  # the lease itself is tested above; the leader writes genesis through the log
        assert lead.engine.state.height == 1
        assert lead.role == "leader" and fol.role == "follower"
        assert asyncio.run(frep.catch_up()) == 1
        assert fol.engine.state_root() == lead.engine.state_root()
        # the follower's journal row is the leader's, byte for byte
        assert fol.store.head() == lead.store.head()
        # a forged row 2 (a state root the block does not give) is published by a writer outside the node
        head = lead.store.head()
        assert head is not None
        bridge = Bridge()
        block2 = Block(2, lead.engine.state.time + 1, {MARKET.oracle: to_fixed("2000")}, (), ())
        forged = make_row(2, encode_block(block2), b"[]", "ab" * 32, head.row_hash)
        raw = _log(cluster, "fw", "forger")
        try:
            bridge.call(raw.connect(), 20)
            bridge.call(raw.publish(forged, 3), 5)
        finally:
            bridge.call(raw.close(), 5)
            bridge.stop()
        assert asyncio.run(frep.catch_up()) == 0
        assert fol.role == "halted" and fol.engine.state.height == 1
        assert "block 2" in frep.halted and "state root" in frep.halted, frep.halted
        assert len(fol.store) == 1  # nothing of the forged block was journalled
        # and the leader, whose next publish expects sequence 1, is fenced off by the forger's write
        with pytest.raises(Fenced):
            lrep.sink.append_block(2, b"x", b"[]", "cd" * 32, head.row_hash)  # type: ignore[union-attr]
    finally:
        lrep.close()
        frep.close()
        lead.close()
        fol.close()


def test_a_journal_of_another_history_is_refused_at_start(cluster: JetStreamCluster, tmp_path: Path) -> None:
    admin = KeyPair.generate()
    # a leader writes genesis on stream "pa"; another node's journal was written on stream "pb"
    lead, lrep = _node(tmp_path / "lead", cluster, "pa", admin)
    other, orep = _node(tmp_path / "other", cluster, "pb", KeyPair.generate())
    try:
        lrep._lead(1)
        orep._lead(1)
        assert lead.store.head() != other.store.head()  # another admin key: another block 1
    finally:
        lrep.close()
        orep.close()
        lead.close()
        other.close()
    cfg = NodeConfig(
        journal=f"sqlite:///{tmp_path}/other/journal.sqlite", data_dir=str(tmp_path / "other" / "data"),
        admin_keys=(admin.public_hex,),
        replication=ReplicationConfig(nats=cluster.url_list, stream="pa", lease_bucket="pa-lease"),
    )
    rep = Replicator(cfg, "late")
    try:
        rep.connect()
        svc = NodeService(cfg, sink=rep.make_sink)
        with pytest.raises(Diverged, match="another history"):
            rep.check_prefix(svc)
        svc.close()
    finally:
        rep.close()


def test_a_leader_whose_genesis_is_fenced_steps_down(cluster: JetStreamCluster, tmp_path: Path) -> None:
    """If the genesis block cannot be published (here another writer has row 1), the node must not go
    on leading at height 0 (its producer would write a block 1 without the genesis): it follows."""
    admin = KeyPair.generate()
    lead, lrep = _node(tmp_path / "lead", cluster, "gf", admin)
    bridge = Bridge()
    raw = _log(cluster, "gf", "forger")
    try:
        bridge.call(raw.connect(), 20)
        bridge.call(raw.publish(make_row(1, b"block-1", b"[]", "11" * 32, GENESIS_HASH), 3), 5)
        lrep._lead(1)
        assert lead.role == "follower" and lead.engine.state.height == 0
        assert lrep.revision is None and lrep.sink is not None and not lrep.sink.leading
        assert len(lead.store) == 0
    finally:
        bridge.call(raw.close(), 5)
        bridge.stop()
        lrep.close()
        lead.close()


def test_a_follower_names_the_lease_holder_before_it_serves(
    cluster: JetStreamCluster, tmp_path: Path
) -> None:
    """A follower that has just started (no block applied, no lease poll yet) refuses a submission
    naming the leader: it reads the lease before its API serves."""
    bridge = Bridge()
    holder = _log(cluster, "ln", "http://127.0.0.1:1/leader", ttl=30.0)
    try:
        bridge.call(holder.connect(), 20)
        assert bridge.call(holder.acquire(), 5) is not None
        fol, frep = _node(tmp_path / "fol", cluster, "ln", KeyPair.generate())
        try:
            assert fol.role == "follower" and fol.engine.state.height == 0
            assert fol.leader == "http://127.0.0.1:1/leader"
        finally:
            frep.close()
            fol.close()
    finally:
        bridge.call(holder.close(), 5)
        bridge.stop()
