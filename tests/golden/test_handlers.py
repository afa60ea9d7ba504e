"""Every command type in the wire union has exactly one handler, and every handler one command type."""

from __future__ import annotations

from typing import get_args

from clearhouse.engine.registry import HANDLERS as _HANDLERS
from clearhouse.ledger.commands import AnyCommand


def test_every_command_type_has_exactly_one_handler() -> None:
    union = get_args(AnyCommand)
    assert len(set(union)) == len(union)
    assert sorted(t.__name__ for t in _HANDLERS) == sorted(t.__name__ for t in union)
    assert all(callable(h) for h in _HANDLERS.values())
    assert len(set(_HANDLERS.values())) == len(_HANDLERS)  # no handler serves two command types
