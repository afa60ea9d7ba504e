"""The command registry: every mechanism's ``HANDLERS`` merged into one table, checked at import.

The tables must be disjoint (one handler per command type) and their union must be exactly the wire
union ``AnyCommand``: a command without a handler, or a handler for no command, fails at import instead of
rolling back a block later (the pattern of ``oracle/registry.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, get_args

from clearhouse.ledger.commands import AnyCommand
from clearhouse.ledger.kernel import Handler, Handlers
from clearhouse.mechanisms import accounts, amm, options, perp_liquidation, perps, signing, steward, vaults

#: Mechanism name -> its handler table (the layout: one module or package per mechanism).
MECHANISMS: Mapping[str, Handlers] = MappingProxyType(
    {
        "accounts": accounts.HANDLERS,
        "perps": perps.HANDLERS,
        "perp_liquidation": perp_liquidation.HANDLERS,
        "amm": amm.HANDLERS,
        "vaults": vaults.HANDLERS,
        "signing": signing.HANDLERS,
        "steward": steward.HANDLERS,
        "options": options.HANDLERS,
    }
)


def merge(tables: Mapping[str, Handlers], union: tuple[type[Any], ...]) -> dict[type[Any], Handler]:
    """Merge the mechanisms' tables; raise ``ImportError`` on an overlap or a gap against ``union``."""
    merged: dict[type[Any], Handler] = {}
    owner: dict[type[Any], str] = {}
    for name, table in tables.items():
        for command, handler in table.items():
            if command in merged:
                raise ImportError(f"{command.__name__} is handled by both {owner[command]} and {name}")
            merged[command], owner[command] = handler, name
    missing = sorted(t.__name__ for t in union if t not in merged)
    extra = sorted(t.__name__ for t in merged if t not in union)
    if missing or extra:
        raise ImportError(f"handlers do not match AnyCommand: missing {missing}, not commands {extra}")
    return merged


#: Command type -> handler, for every command of ``AnyCommand``.
HANDLERS: Mapping[type[Any], Handler] = MappingProxyType(merge(MECHANISMS, get_args(AnyCommand)))
