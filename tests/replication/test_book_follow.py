"""A follower's order book comes from the blocks it receives (no server needed: the leader's journal rows
are fed to a follower node the way the replicator does, through its ``ReplicaSink``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from clearhouse.auth.commands import MatchedFill
from clearhouse.auth.envelope import decode_signed, encode_signed, sign
from clearhouse.book.journal import BookJournalError
from clearhouse.journal.open import open_store
from clearhouse.journal.store import JournalStore
from clearhouse.ledger.block import Block
from clearhouse.node.book_service import node_key
from clearhouse.node.config import NodeConfig
from clearhouse.node.service import NodeService
from clearhouse.replication.replica import ReplicaSink
from node.test_book_node import ADMIN, CHAIN, Node, _rewrite, _trade


def _follower(tmp: Path, clock: Any) -> tuple[NodeService, ReplicaSink]:
    cfg = NodeConfig(data_dir=str(tmp), journal=f"sqlite:///{tmp}/j.sqlite", admin_keys=(ADMIN.public_hex,))
    sinks: list[ReplicaSink] = []

    def sink(store: JournalStore) -> ReplicaSink:
        sinks.append(ReplicaSink(store, None, None))  # type: ignore[arg-type]  # a follower never publishes
        return sinks[-1]

    svc = NodeService(cfg, clock=clock, sink=sink)
    return svc, sinks[0]


def _feed(svc: NodeService, sink: ReplicaSink, journal: str) -> None:
    store = open_store(journal)
    try:
        for row in store.rows():
            sink.expect = row
            svc.apply_replicated(row.block)
    finally:
        store.close()


def test_a_follower_rebuilds_the_leaders_book_from_the_blocks(tmp_path: Path) -> None:
    leader = _trade(tmp_path / "leader")
    assert leader.svc.book is not None
    root, depth = leader.svc.book.book.root(), leader.depth()
    ids = list(leader.svc.book.orders)
    statuses = {i: leader.status(i)["status"] for i in ids}
    leader.close()
    svc, sink = _follower(tmp_path / "follower", leader.clock)
    _feed(svc, sink, f"sqlite:///{tmp_path}/leader/j.sqlite")
    assert svc.book is not None and svc.book.book.root() == root
    assert {i: svc.book.orders[i].status for i in ids} == statuses
    assert statuses and set(statuses.values()) == {"resting", "filled"}
    svc.close()
    # the follower's own journal alone rebuilds the same book (a restarted follower)
    again = Node(tmp_path / "follower", leader.clock)
    assert again.svc.book is not None and again.svc.book.book.root() == root and again.depth() == depth
    again.close()


def test_a_follower_refuses_a_block_whose_fill_the_book_would_not_produce(tmp_path: Path) -> None:
    leader = _trade(tmp_path / "leader")
    key = node_key(tmp_path / "leader")
    leader.close()

    def double_fill(block: Block) -> Block:
        signed = []
        for raw in block.signed:
            env = decode_signed(bytes(raw)).envelope
            if isinstance(env.command, MatchedFill) and env.signer == key.public_hex:
                cmd = msgspec.structs.replace(env.command, fill=msgspec.structs.replace(
                    env.command.fill, size=2 * env.command.fill.size))
                raw = msgspec.Raw(encode_signed(sign(key, cmd, chain_id=CHAIN, nonce=env.nonce,
                                                     good_til_block=env.good_til_block)))
            signed.append(raw)
        return msgspec.structs.replace(block, signed=tuple(signed))

    bad = f"sqlite:///{tmp_path}/bad.sqlite"
    h = _rewrite(tmp_path / "leader" / "j.sqlite", bad, double_fill)
    assert h > 0
    svc, sink = _follower(tmp_path / "follower", leader.clock)
    with pytest.raises(BookJournalError, match=f"block {h}: fill 0"):
        _feed(svc, sink, bad)
    assert svc.book is not None and svc.engine.state.height == h
    svc.close()
