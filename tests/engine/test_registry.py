"""The registry refuses overlapping mechanism tables and any gap against the command union."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from clearhouse.engine.registry import HANDLERS, MECHANISMS, merge
from clearhouse.ledger import commands as c
from clearhouse.ledger.commands import AnyCommand
from clearhouse.ledger.unit_of_work import TxContext


def handler(ctx: TxContext, command: Any) -> None: ...


def test_the_registry_covers_every_command_once() -> None:
    assert set(HANDLERS) == set(get_args(AnyCommand))
    assert sum(len(t) for t in MECHANISMS.values()) == len(HANDLERS)
    assert HANDLERS[c.Bark].__module__ == "clearhouse.mechanisms.vaults.bark"
    assert HANDLERS[c.Liquidate].__module__ == "clearhouse.mechanisms.perp_liquidation"


def test_an_overlap_is_refused() -> None:
    with pytest.raises(ImportError, match="Deposit is handled by both a and b"):
        merge({"a": {c.Deposit: handler}, "b": {c.Deposit: handler}}, (c.Deposit,))


def test_a_gap_or_a_stray_handler_is_refused() -> None:
    with pytest.raises(ImportError, match=r"missing \['Withdraw'\], not commands \[\]"):
        merge({"a": {c.Deposit: handler}}, (c.Deposit, c.Withdraw))
    with pytest.raises(ImportError, match=r"missing \[\], not commands \['int'\]"):
        merge({"a": {c.Deposit: handler, int: handler}}, (c.Deposit,))
