"""The book's inputs as values, and the replay that rebuilds a book from them.

A book is a pure function of its configuration, its first context and the sequence of inputs the
sequencer fed it: :func:`replay` applies them in order and returns the book and, per input, the
:class:`~clearhouse.book.book.Outcome` or the refusal. A node journals the accepted inputs (they are
in its blocks: placed orders, cancels, contexts) and a replica rebuilds the same resting orders, the same
fills and the same :meth:`~clearhouse.book.book.OrderBook.root` from them.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from clearhouse.auth.orders import SignedOrder
from clearhouse.book.book import BookConfig, BookContext, OrderBook, Outcome
from clearhouse.book.cancels import SignedCancel, SignedCancelAll
from clearhouse.ledger.errors import ClearhouseError


class Place(msgspec.Struct, frozen=True, tag=True, forbid_unknown_fields=True):
    order: SignedOrder


class Cancel(msgspec.Struct, frozen=True, tag=True, forbid_unknown_fields=True):
    cancel: SignedCancel


class CancelAllInput(msgspec.Struct, frozen=True, tag=True, forbid_unknown_fields=True):
    cancel: SignedCancelAll


class SetContext(msgspec.Struct, frozen=True, tag=True, forbid_unknown_fields=True):
    context: BookContext


class SetPosition(msgspec.Struct, frozen=True, tag=True, forbid_unknown_fields=True):
    account: str
    size: int


BookInput = Place | Cancel | CancelAllInput | SetContext | SetPosition


class Refusal(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: str
    message: str


def apply_input(book: OrderBook, item: BookInput) -> Outcome:
    """Apply one input; raises the refusal (the book is unchanged then)."""
    if isinstance(item, Place):
        return book.place(item.order)
    if isinstance(item, Cancel):
        return book.cancel(item.cancel)
    if isinstance(item, CancelAllInput):
        return book.cancel_all(item.cancel)
    if isinstance(item, SetContext):
        return book.set_context(item.context)
    book.set_position(item.account, item.size)
    return Outcome()


def replay(
    config: BookConfig, context: BookContext, inputs: Iterable[BookInput]
) -> tuple[OrderBook, list[Outcome | Refusal]]:
    """Rebuild a book from its inputs; refused inputs are recorded as :class:`Refusal` and skipped."""
    book = OrderBook(config, context)
    results: list[Outcome | Refusal] = []
    for item in inputs:
        try:
            results.append(apply_input(book, item))
        except ClearhouseError as err:
            results.append(Refusal(err.code, str(err)))
    return book, results


_encoder = msgspec.json.Encoder(order="deterministic")
_decoder = msgspec.json.Decoder(list[BookInput])


def encode_inputs(inputs: Iterable[BookInput]) -> bytes:
    return _encoder.encode(list(inputs))


def decode_inputs(data: bytes) -> list[BookInput]:
    return _decoder.decode(data)


__all__ = [
    "BookInput",
    "Cancel",
    "CancelAllInput",
    "Place",
    "Refusal",
    "SetContext",
    "SetPosition",
    "apply_input",
    "decode_inputs",
    "encode_inputs",
    "replay",
]
