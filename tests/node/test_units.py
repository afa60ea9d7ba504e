"""Small pieces of the node: config loading, the number guard, token buckets, reporter price sources."""

from __future__ import annotations

from decimal import Decimal
from itertools import islice
from pathlib import Path

import pytest

from clearhouse.ledger.errors import InvalidValue
from clearhouse.node.config import NodeConfig, dump_config, load_config
from clearhouse.node.ratelimit import RateLimiter
from clearhouse.node.reporter import csv_prices, path_prices
from clearhouse.node.service import MAX_INT, Refused, check_numbers

KEY = "ab" * 32


def test_config_round_trip_and_refusals(tmp_path: Path) -> None:
    cfg = NodeConfig(admin_keys=(KEY,), port=9999)
    path = tmp_path / "node.toml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg
    path.write_text(dump_config(cfg) + "\ntypo_field = 1\n")
    with pytest.raises(InvalidValue, match="typo_field"):
        load_config(path)
    path.write_text(dump_config(NodeConfig(admin_keys=(KEY,), host="0.0.0.0")))
    with pytest.raises(InvalidValue, match="loopback"):
        load_config(path)
    path.write_text(dump_config(NodeConfig()))
    with pytest.raises(InvalidValue, match="admin_keys"):
        load_config(path)


def test_number_guard() -> None:
    check_numbers({"a": [1, MAX_INT - 1, {"b": -(MAX_INT - 1)}]})
    for bad in ({"a": MAX_INT}, [0, [-MAX_INT]], {"x": {"y": [10**80]}}):
        with pytest.raises(Refused) as err:
            check_numbers(bad)
        assert err.value.code == "number_too_large" and err.value.status == 400
    deep: list[object] = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(Refused, match="deeply"):
        check_numbers(deep)


def test_token_bucket_bursts_then_refills() -> None:
    now = [0.0]
    rl = RateLimiter(5.0, clock=lambda: now[0])
    assert [rl.allow("ip") for _ in range(11)] == [True] * 10 + [False]
    assert rl.allow("other")
    now[0] += 0.2  # one token back
    assert rl.allow("ip") and not rl.allow("ip")


def test_reporter_price_sources(tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"
    csv.write_text(",open,close\n2020-03-12 00:00:00,195.2,194.5\n2020-03-12 00:10:00,194.5,\n"
                   "2020-03-12 00:20:00,193.9,180.25\n")
    assert list(csv_prices(csv, "close", Decimal(10))) == [Decimal("1945.0"), Decimal("1802.50")]
    assert list(csv_prices(csv, "close", start=2)) == [Decimal("180.25")]
    assert list(islice(path_prices([Decimal(2000), Decimal(1850)]), 4)) == [2000, 1850, 1850, 1850]
