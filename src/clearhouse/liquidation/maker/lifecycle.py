"""Lifecycle of one Clipper sale as an explicit state machine.

States
    ``ABSENT``      the id was never kicked;
    ``ACTIVE``      running and takeable: ``now - tic <= tail`` and ``price / top >= cusp``;
    ``NEEDS_REDO``  running but past ``tail`` or below ``cusp``: only ``redo`` (or ``yank``) may follow;
    ``DONE``        ended by a ``take`` that emptied the lot or covered the tab (sale deleted);
    ``YANKED``      cancelled by governance / emergency shutdown (sale deleted).

``ACTIVE`` -> ``NEEDS_REDO`` happens by the passage of time (no operation); it is derived from
``(now, tic, top, tail, cusp, calc)`` exactly as clip.sol ``status`` computes it.

:data:`TRANSITIONS` lists every allowed ``(state, action) -> {possible next states}``. Any other pair raises:
the dss revert where there is one (:data:`REJECTIONS`), :class:`InvalidSaleTransition` otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from clearhouse.liquidation.maker.errors import (
    ClipperCannotReset,
    ClipperNeedsReset,
    ClipperNotRunningAuction,
    InvalidSaleTransition,
)

__all__ = ["REJECTIONS", "TRANSITIONS", "SaleAction", "SaleState", "check_allowed", "check_result"]


class SaleState(StrEnum):
    ABSENT = "absent"
    ACTIVE = "active"
    NEEDS_REDO = "needs_redo"
    DONE = "done"
    YANKED = "yanked"


class SaleAction(StrEnum):
    KICK = "kick"
    TAKE = "take"
    REDO = "redo"
    YANK = "yank"


_S = SaleState
_A = SaleAction

#: Allowed transitions. ``kick``/``redo`` may land directly in ``NEEDS_REDO`` (e.g. ``cusp > RAY`` or a
#: linear curve with ``tau == 0``): clip.sol does not forbid it, the next ``take`` will then revert.
TRANSITIONS: Mapping[tuple[SaleState, SaleAction], frozenset[SaleState]] = MappingProxyType(
    {
        (_S.ABSENT, _A.KICK): frozenset({_S.ACTIVE, _S.NEEDS_REDO}),
        (_S.ACTIVE, _A.TAKE): frozenset({_S.ACTIVE, _S.DONE}),
        (_S.ACTIVE, _A.YANK): frozenset({_S.YANKED}),
        (_S.NEEDS_REDO, _A.REDO): frozenset({_S.ACTIVE, _S.NEEDS_REDO}),
        (_S.NEEDS_REDO, _A.YANK): frozenset({_S.YANKED}),
    }
)

#: The typed error for a forbidden pair, matching the dss revert reason.
REJECTIONS: Mapping[tuple[SaleState, SaleAction], type[InvalidSaleTransition]] = MappingProxyType(
    {
        (_S.ACTIVE, _A.REDO): ClipperCannotReset,
        (_S.NEEDS_REDO, _A.TAKE): ClipperNeedsReset,
        **{
            (state, action): ClipperNotRunningAuction
            for state in (_S.ABSENT, _S.DONE, _S.YANKED)
            for action in (_A.TAKE, _A.REDO, _A.YANK)
        },
    }
)


def check_allowed(state: SaleState, action: SaleAction, sale_id: int) -> frozenset[SaleState]:
    """Return the states ``action`` may lead to from ``state``; raise the typed error if it is forbidden."""
    nxt = TRANSITIONS.get((state, action))
    if nxt is None:
        err = REJECTIONS.get((state, action), InvalidSaleTransition)
        raise err(f"sale {sale_id} is {state.value}; cannot {action.value}")
    return nxt


def check_result(before: SaleState, action: SaleAction, after: SaleState, sale_id: int) -> None:
    """Internal invariant: the state reached must be one the table allows."""
    if after not in check_allowed(before, action, sale_id):
        raise InvalidSaleTransition(
            f"sale {sale_id}: {action.value} from {before.value} reached {after.value}, not in the table"
        )
