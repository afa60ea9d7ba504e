"""The book in the journal: a block's book inputs (``Block.book``) and the check of its fills.

The sequencer journals, in each block, the canonical bytes of every input it fed its book for that block
(:class:`~clearhouse.book.replay.SetContext` first, then the :class:`~clearhouse.book.replay.SetPosition` s
it derived from the engine, then the signed orders, cancels and cancel-alls accepted at the edge in
arrival order, refused ones included). Replaying the journal's inputs through the book library rebuilds
the book, and each block's replayed fills must be exactly the block's book fills: the **last** ``n``
entries of ``Block.signed`` (the sequencer appends them after the mempool's transactions), each a
``MatchedFill`` envelope, all signed by one key (the sequencer's), with no other ``MatchedFill`` of that
key in the block. So a sequencer cannot invent, drop or reorder fills without the replay seeing it
(a ``MatchedFill`` signed by someone else is a client's own, permissionless, and not the book's).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import msgspec

from clearhouse.auth.commands import MatchedFill
from clearhouse.auth.envelope import decode_signed, signing_digest
from clearhouse.book.book import BookContext, OrderBook, Outcome
from clearhouse.book.replay import BookInput, Place, Refusal, SetContext, apply_input
from clearhouse.ledger.block import Block
from clearhouse.ledger.errors import ClearhouseError

_encoder = msgspec.json.Encoder(order="deterministic")
_decoder = msgspec.json.Decoder(BookInput)

#: The book's first context (every block's inputs start with its own ``SetContext``).
ORIGIN = BookContext(0, 0, 1)


class BookJournalError(ClearhouseError):
    """A block's book inputs are malformed, or its fills are not what the book produces from them."""

    code = "book_mismatch"


def encode_input(item: BookInput) -> msgspec.Raw:
    """The canonical bytes of one input, as journalled in ``Block.book``."""
    return msgspec.Raw(_encoder.encode(item))


def block_inputs(block: Block) -> list[BookInput]:
    """Decode ``block.book``; every entry must be a canonical book input, the first a ``SetContext`` of
    this block's height and time."""
    out: list[BookInput] = []
    for i, raw in enumerate(block.book):
        data = bytes(raw)
        try:
            item = _decoder.decode(data)
        except msgspec.DecodeError as err:
            raise BookJournalError(f"block {block.height}: book[{i}] is not a book input: {err}") from None
        if _encoder.encode(item) != data:
            raise BookJournalError(f"block {block.height}: book[{i}] is not in canonical encoding")
        out.append(item)
    if out:
        first = out[0]
        if not isinstance(first, SetContext):
            raise BookJournalError(f"block {block.height}: the book inputs do not start with its context")
        ctx = first.context
        if ctx.height != block.height or ctx.now_ms != block.time * 1000:
            raise BookJournalError(
                f"block {block.height}: book context (height {ctx.height}, time {ctx.now_ms} ms) is not "
                f"the block's (height {block.height}, time {block.time * 1000} ms)"
            )
    return out


def apply_all(book: OrderBook, inputs: Iterable[BookInput]) -> list[Outcome | Refusal]:
    """Apply inputs in order; a refused one is recorded as :class:`Refusal` and changes nothing."""
    results: list[Outcome | Refusal] = []
    for item in inputs:
        try:
            results.append(apply_input(book, item))
        except ClearhouseError as err:
            results.append(Refusal(err.code, str(err)))
    return results


def book_fills(block: Block, n: int) -> list[tuple[MatchedFill, str]]:
    """The block's last ``n`` signed entries as (fill, transaction hash hex), checked to be the book's
    fills: ``MatchedFill`` envelopes of one signer, who signs no other ``MatchedFill`` in the block."""
    if n == 0:
        return []
    if n > len(block.signed):
        raise BookJournalError(
            f"block {block.height}: the book produces {n} fills, the block has {len(block.signed)} "
            "signed entries"
        )
    envs = [decode_signed(bytes(raw)).envelope for raw in block.signed]
    tail = envs[len(envs) - n :]
    signers = {env.signer for env in tail}
    if len(signers) != 1 or not all(isinstance(env.command, MatchedFill) for env in tail):
        raise BookJournalError(
            f"block {block.height}: its last {n} signed entries are not the book's fills (MatchedFill s of "
            "one signer)"
        )
    (signer,) = signers
    extra = sum(
        1 for env in envs[: len(envs) - n] if env.signer == signer and isinstance(env.command, MatchedFill)
    )
    if extra:
        raise BookJournalError(
            f"block {block.height}: {extra} more MatchedFill(s) signed by the book's signer than the book "
            "produces"
        )
    out: list[tuple[MatchedFill, str]] = []
    for env in tail:
        assert isinstance(env.command, MatchedFill)
        out.append((env.command, signing_digest(env).hex()))
    return out


def check_block(block: Block, results: list[Outcome | Refusal]) -> list[tuple[MatchedFill, str]]:
    """The block's book fills (see :func:`book_fills`), checked equal, in order, to the fills of the
    replayed ``results``; raises :class:`BookJournalError` naming the block otherwise."""
    fills = [f for r in results if isinstance(r, Outcome) for f in r.fills]
    got = book_fills(block, len(fills))
    for i, (want, (have, _)) in enumerate(zip(fills, got, strict=True)):
        if want != have:
            raise BookJournalError(
                f"block {block.height}: fill {i} of the block is not the fill the book produces "
                f"(book: {want.fill.size} at {want.fill.price}; block: {have.fill.size} at {have.fill.price})"
            )
    return got


@dataclass(frozen=True, slots=True)
class BlockReplay:
    """One block's replay: its inputs, their results and the block's book fills (with hashes)."""

    block: Block
    inputs: list[BookInput]
    results: list[Outcome | Refusal]
    fills: list[tuple[MatchedFill, str]]


def replay_blocks(book: OrderBook, blocks: Iterable[Block]) -> Iterator[BlockReplay]:
    """Replay the book inputs of ``blocks`` (in height order) into ``book``, checking every block's fills;
    blocks without book inputs must carry no fills the book would claim (none are expected)."""
    for block in blocks:
        inputs = block_inputs(block)
        if not inputs:
            continue
        results = apply_all(book, inputs)
        yield BlockReplay(block, inputs, results, check_block(block, results))


def market_of(blocks: Iterable[Block]) -> str | None:
    """The market of the first placed order (or cancel) in the journal's book inputs, if any."""
    for block in blocks:
        for item in block_inputs(block):
            if isinstance(item, Place):
                return item.order.order.market
            cancel = getattr(item, "cancel", None)
            if cancel is not None:
                return str(cancel.cancel.market)
    return None


__all__ = [
    "ORIGIN",
    "BlockReplay",
    "BookJournalError",
    "apply_all",
    "block_inputs",
    "book_fills",
    "check_block",
    "encode_input",
    "market_of",
    "replay_blocks",
]
