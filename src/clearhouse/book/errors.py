"""Refusals of the order book (the book's own; fill rules reuse :mod:`clearhouse.auth.errors`)."""

from __future__ import annotations

from clearhouse.ledger.errors import ClearhouseError


class BookRefused(ClearhouseError):
    """An input the book does not accept; the book is unchanged."""

    code = "book_refused"


class DuplicateOrder(BookRefused):
    """The order id is resting already, or was seen before and is not yet expired."""

    code = "duplicate_order"


class UnknownOrder(BookRefused):
    """A cancel names an order that is not resting."""

    code = "unknown_order"


class WrongSigner(BookRefused):
    """A cancel signed by another key than the order's signer."""

    code = "wrong_signer"


class WouldCross(BookRefused):
    """A post-only order that would take liquidity."""

    code = "post_only_would_cross"


class ReduceOnlyRefused(BookRefused):
    """A reduce-only order with nothing to reduce on its side."""

    code = "reduce_only_refused"


class StaleCancelAll(BookRefused):
    """A cancel-all whose nonce is not above the signer's last one (a replay)."""

    code = "stale_cancel_all"


__all__ = [
    "BookRefused",
    "DuplicateOrder",
    "ReduceOnlyRefused",
    "StaleCancelAll",
    "UnknownOrder",
    "WouldCross",
    "WrongSigner",
]
