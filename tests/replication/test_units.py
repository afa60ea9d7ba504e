"""Replication pieces that need no server: the row check a follower makes, the wire format, config."""

from __future__ import annotations

import pytest

from clearhouse.journal.rows import GENESIS_HASH, make_row
from clearhouse.ledger.errors import InvalidValue
from clearhouse.node.config import NodeConfig, ReplicationConfig, dump_config, load_config
from clearhouse.replication.errors import Diverged
from clearhouse.replication.log import decode_row, encode_row
from clearhouse.replication.replica import check_row

ADMIN = "11" * 32


def test_check_row_accepts_only_the_identical_row() -> None:
    mine = make_row(3, b"block", b"[]", "aa" * 32, "bb" * 32)
    check_row(mine, mine)
    cases = {
        "block bytes": make_row(3, b"other", b"[]", "aa" * 32, "bb" * 32),
        "state root": make_row(3, b"block", b"[]", "cc" * 32, "bb" * 32),
        "events": make_row(3, b"block", b"[1]", "aa" * 32, "bb" * 32),
        "previous row hash": make_row(3, b"block", b"[]", "aa" * 32, "dd" * 32),
    }
    for what, leader in cases.items():
        with pytest.raises(Diverged, match=what):
            check_row(leader, mine)
    with pytest.raises(Diverged, match="not received"):
        check_row(None, mine)
    with pytest.raises(Diverged, match="not received"):
        check_row(make_row(4, b"block", b"[]", "aa" * 32, "bb" * 32), mine)
    # a row whose hash does not match its content is refused even if the fields agree
    bad = type(mine)(3, b"block", b"[]", "aa" * 32, "bb" * 32, "ee" * 32)
    with pytest.raises(Diverged, match="own hash"):
        check_row(bad, mine)


def test_row_wire_format_round_trips() -> None:
    row = make_row(1, b"\x00\xffblock", b"[]", "aa" * 32, GENESIS_HASH)
    msg = decode_row(encode_row(row, "http://127.0.0.1:8701"))
    assert msg.row() == row and msg.leader == "http://127.0.0.1:8701"


def test_replication_config_round_trips_and_is_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = NodeConfig(admin_keys=(ADMIN,), replication=ReplicationConfig(
        nats="nats://127.0.0.1:4222,nats://127.0.0.1:4223", lease_ttl_ms=3000, takeover=False))
    path = tmp_path / "node.toml"
    path.write_text(dump_config(cfg), encoding="utf-8")
    back = load_config(path)
    assert back == cfg
    assert back.replication.servers() == ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
    assert NodeConfig(admin_keys=(ADMIN,)).replication.servers() == []  # default: single node
    with pytest.raises(InvalidValue, match="nats://"):
        NodeConfig(admin_keys=(ADMIN,), replication=ReplicationConfig(nats="http://x")).validate()
    with pytest.raises(InvalidValue, match="lease_ttl_ms"):
        NodeConfig(admin_keys=(ADMIN,), replication=ReplicationConfig(lease_ttl_ms=10)).validate()
