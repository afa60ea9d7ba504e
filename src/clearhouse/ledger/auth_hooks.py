"""The engine's call sites into signed transactions, importing the auth package only when used.

The engine imports this module at load time; it pulls in :mod:`clearhouse.ledger.admission` (and with it
PyNaCl and the auth package) only on a ledger that uses signatures, so a trusted-driver engine (the lab,
the unsigned demo) never loads them and the ledger does not depend on auth at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clearhouse.ledger.block import Block, has_signed_content
from clearhouse.ledger.events import Event
from clearhouse.ledger.model import LedgerState

if TYPE_CHECKING:
    from clearhouse.ledger.commands import ConfigureAuth
    from clearhouse.ledger.unit_of_work import BlockUndo, TxContext


def bare_commands_allowed(state: LedgerState) -> bool:
    """The genesis / bootstrap rule: a bare (unsigned) command of a block runs only if, at the start of
    its block, the ledger did not require signatures."""
    return state.auth is None or not state.auth.require_signatures


def uses_auth(state: LedgerState, block: Block) -> bool:
    return state.auth is not None or has_signed_content(block)


def check_block(state: LedgerState, block: Block) -> None:
    """Before the oracle step: the block's signed content is well-typed (what is applied is what replays)
    and every report signature comes from its whitelisted reporter (see admission)."""
    from clearhouse.ledger.admission import check_block as check

    check(state, block)


def apply_signed(engine: Any, block: Block, undo: BlockUndo, events: list[Event], touched: set[str]) -> None:
    """After the bare transactions: admit and run every signed envelope (see admission)."""
    from clearhouse.ledger.admission import apply_signed as run

    run(engine, block, undo, events, touched)


def configure_auth(engine: Any, ctx: TxContext, c: ConfigureAuth) -> None:
    """Handler of ``ConfigureAuth`` (see admission)."""
    from clearhouse.ledger.admission import configure_auth as configure

    configure(engine, ctx, c)
