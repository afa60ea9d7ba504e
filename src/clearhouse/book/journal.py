"""The book in the journal: a block's book inputs (``Block.book``) and the check of its fills.

The sequencer journals, in each block where its book did something, the canonical bytes of:

1. a :class:`FillSigner` naming the key that signs the book's ``MatchedFill`` envelopes (the node key;
   after a fail-over, another node's);
2. every input it fed its book for that block: the block's :class:`~clearhouse.book.replay.SetContext`
   (height and time must be the block's), the :class:`~clearhouse.book.replay.SetPosition` s it derived
   from the engine, then the signed orders, cancels and cancel-alls accepted at the edge in arrival order
   (refused ones included).

Replaying the journal's inputs through the book library rebuilds the book; each block's replayed fills
must be exactly, in order, the ``MatchedFill`` envelopes of the block signed by its fill signer. So a
sequencer cannot invent, drop or reorder fills without the replay seeing it (a ``MatchedFill`` signed by
another key is a client's own, permissionless, and not the book's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import msgspec

from clearhouse.auth.commands import MatchedFill
from clearhouse.auth.envelope import Envelope, decode_signed, signing_digest
from clearhouse.book.book import BookConfig, BookContext, OrderBook, Outcome
from clearhouse.book.replay import BookInput, Place, Refusal, SetContext, SetPosition, apply_input
from clearhouse.ledger.block import Block
from clearhouse.ledger.errors import ClearhouseError
from clearhouse.ledger.model import LedgerState

_encoder = msgspec.json.Encoder(order="deterministic")

class FillSigner(msgspec.Struct, frozen=True, tag=True, forbid_unknown_fields=True):
    """``Block.book[0]``: the public key (hex) that signs this block's book fills."""

    signer: str


_decoder = msgspec.json.Decoder(FillSigner | BookInput)


#: The book's first context (every block's inputs start with its own ``SetContext``).
ORIGIN = BookContext(0, 0, 1)


class BookJournalError(ClearhouseError):
    """A block's book inputs are malformed, or its fills are not what the book produces from them."""

    code = "book_mismatch"
    #: The height of the bad block.
    height = 0


def _error(block: Block, message: str) -> BookJournalError:
    err = BookJournalError(f"block {block.height}: {message}")
    err.height = block.height
    return err


def encode_input(item: FillSigner | BookInput) -> msgspec.Raw:
    """The canonical bytes of one input, as journalled in ``Block.book``."""
    return msgspec.Raw(_encoder.encode(item))


def block_inputs(block: Block) -> tuple[str, list[BookInput]]:
    """Decode ``block.book`` into (fill signer, inputs): every entry must be canonical, the first a
    :class:`FillSigner`, the second a ``SetContext`` of this block's height and time. ``("", [])`` for a
    block without book inputs."""
    items: list[FillSigner | BookInput] = []
    for i, raw in enumerate(block.book):
        data = bytes(raw)
        try:
            item = _decoder.decode(data)
        except msgspec.DecodeError as err:
            raise _error(block, f"book[{i}] is not a book input: {err}") from None
        if _encoder.encode(item) != data:
            raise _error(block, f"book[{i}] is not in canonical encoding")
        items.append(item)
    if not items:
        return "", []
    head, rest = items[0], items[1:]
    if not isinstance(head, FillSigner):
        raise _error(block, "the book inputs do not start with the fill signer")
    inputs: list[BookInput] = []
    for item in rest:
        if isinstance(item, FillSigner):
            raise _error(block, "the book inputs name a second fill signer")
        inputs.append(item)
    if not inputs or not isinstance(inputs[0], SetContext):
        raise _error(block, "the book inputs do not start with the block's context")
    ctx = inputs[0].context
    if ctx.height != block.height or ctx.now_ms != block.time * 1000:
        raise _error(
            block,
            f"book context (height {ctx.height}, time {ctx.now_ms} ms) is not "
            f"the block's (height {block.height}, time {block.time * 1000} ms)",
        )
    return head.signer, inputs


def apply_all(book: OrderBook, inputs: Iterable[BookInput]) -> list[Outcome | Refusal]:
    """Apply inputs in order; a refused one is recorded as :class:`Refusal` and changes nothing."""
    results: list[Outcome | Refusal] = []
    for item in inputs:
        try:
            results.append(apply_input(book, item))
        except ClearhouseError as err:
            results.append(Refusal(err.code, str(err)))
    return results


def _envelope(raw: msgspec.Raw) -> Envelope | None:
    try:
        return decode_signed(bytes(raw)).envelope
    except ClearhouseError:  # a malformed envelope (the engine refused it): not a fill of the book
        return None


def book_fills(block: Block, signer: str) -> list[tuple[MatchedFill, str]]:
    """Every ``MatchedFill`` envelope of the block signed by ``signer``, in order, as (fill, transaction
    hash hex)."""
    out: list[tuple[MatchedFill, str]] = []
    for raw in block.signed:
        env = _envelope(raw)
        if env is not None and env.signer == signer and isinstance(env.command, MatchedFill):
            out.append((env.command, signing_digest(env).hex()))
    return out


def check_block(
    block: Block, signer: str, results: list[Outcome | Refusal]
) -> list[tuple[MatchedFill, str]]:
    """The block's book fills (see :func:`book_fills`), checked equal, in order, to the fills of the
    replayed ``results``; raises :class:`BookJournalError` naming the block otherwise."""
    fills = [f for r in results if isinstance(r, Outcome) for f in r.fills]
    got = book_fills(block, signer)
    if len(got) != len(fills):
        raise _error(
            block,
            f"the book produces {len(fills)} fills from the block's inputs, the block has {len(got)} "
            f"MatchedFill(s) signed by its fill signer {signer[:16]}…",
        )
    for i, (want, (have, _)) in enumerate(zip(fills, got, strict=True)):
        if want != have:
            raise _error(
                block,
                f"fill {i} of the block is not the fill the book produces "
                f"(book: {want.fill.size} at {want.fill.price}; block: {have.fill.size} at {have.fill.price})"
            )
    return got


def check_against_state(block: Block, state: LedgerState, market: str) -> None:
    """What the sequencer told its book about the engine, checked against the engine's state *before*
    ``block``: the context's index price is the market's oracle price, and each ``SetPosition`` is
    the account's position in ``market``. (The node derives both from exactly that state.)"""
    _, inputs = block_inputs(block)
    if not inputs:
        return
    m = state.markets.get(market)
    if m is None:
        raise _error(block, f"the book's market {market!r} is not listed before this block")
    ctx = inputs[0]
    assert isinstance(ctx, SetContext)
    # The recorded price, not a freshness-checked one: a fixed-price node trades on its configured price
    # (which every block records) even after a pause; the engine judges each fill with its fresh index.
    entry = state.prices.get(m.spec.oracle)
    if entry is None:
        raise _error(block, f"the book traded without an index price for {m.spec.oracle}")
    index = int(entry[0])
    if ctx.context.index_price != index:
        raise _error(
            block, f"book index price {ctx.context.index_price} is not the engine's index {index}"
        )
    for item in inputs[1:]:
        if isinstance(item, SetPosition):
            acct = state.accounts.get(item.account)
            pos = acct.positions.get(market) if acct is not None else None
            size = 0 if pos is None else int(pos.size)
            if item.size != size:
                raise _error(
                    block,
                    f"book position of {item.account} is {item.size}, the engine's is {size}",
                )


@dataclass(frozen=True, slots=True)
class BookReport:
    """What ``clearhouse verify --book`` checked: blocks with book inputs, inputs, fills, final book."""

    blocks: int
    inputs: int
    fills: int
    resting: int
    root: str


def verify_book(blocks: Callable[[], Iterable[Block]], config: Callable[[str], BookConfig]) -> BookReport:
    """Replay the book inputs of a whole journal (``blocks()`` iterates it from genesis; called twice)
    through a fresh book of ``config(market)`` (the market of the first order or cancel), checking each
    block's inputs against the engine's state before it (:func:`check_against_state`; the engine replays
    alongside) and each block's fills; raises :class:`BookJournalError` (with ``height``) at the first bad
    block."""
    market = market_of(blocks())
    if market is None:
        return BookReport(0, 0, 0, 0, "")
    book = OrderBook(config(market), ORIGIN)
    n_blocks = n_inputs = n_fills = 0

    def with_state() -> Iterator[Block]:
        from clearhouse.engine.engine import Engine

        engine = Engine()
        for block in blocks():
            check_against_state(block, engine.state, market)
            yield block
            engine.apply_block(block)

    for rep in replay_blocks(book, with_state()):
        n_blocks += 1
        n_inputs += len(rep.inputs)
        n_fills += len(rep.fills)
    return BookReport(n_blocks, n_inputs, n_fills, len(book.by_id), book.root())


@dataclass(frozen=True, slots=True)
class BlockReplay:
    """One block's replay: its inputs, their results and the block's book fills (with hashes)."""

    block: Block
    inputs: list[BookInput]
    results: list[Outcome | Refusal]
    fills: list[tuple[MatchedFill, str]]


def replay_blocks(book: OrderBook, blocks: Iterable[Block]) -> Iterator[BlockReplay]:
    """Replay the book inputs of ``blocks`` (in height order) into ``book``, checking every block's
    fills; blocks without book inputs are skipped (the book had no part in them)."""
    for block in blocks:
        signer, inputs = block_inputs(block)
        if not inputs:
            continue
        results = apply_all(book, inputs)
        yield BlockReplay(block, inputs, results, check_block(block, signer, results))


def market_of(blocks: Iterable[Block]) -> str | None:
    """The market of the first placed order (or cancel) in the journal's book inputs, if any."""
    for block in blocks:
        for item in block_inputs(block)[1]:
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
    "BookReport",
    "FillSigner",
    "apply_all",
    "block_inputs",
    "book_fills",
    "check_against_state",
    "check_block",
    "encode_input",
    "market_of",
    "replay_blocks",
    "verify_book",
]
