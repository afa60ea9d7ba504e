"""Blocks and their canonical encoding.

A block is everything the engine needs to move from one state to the next: its height, its time, the
oracle prices published with it and the transactions in order. The canonical encoding (JSON with sorted
keys and arbitrary-precision integers) is what the journal stores and hashes.

Signed content (docs/auth.md) travels in two trailing fields that are left out of the encoding when
empty, so a block without signed content encodes byte for byte as before they existed:

* ``signed`` — signed transaction envelopes, each exactly the canonical bytes received from the client
  (a ``msgspec.Raw`` is journalled verbatim), applied after the bare ``txs``;
* ``report_signatures`` — one reporter signature per entry of ``reports`` (same order);
* ``book`` — the order book's inputs of the block (docs/book.md "The book in the journal"): the
  canonical bytes of each input the sequencer fed its book, in order (the block's context, the engine
  positions it told the book, and the signed orders, cancels and cancel-alls accepted at the edge). The
  engine does not execute them (the ``MatchedFill`` s in ``signed`` are what change state); it only
  checks that they journal byte for byte. A replica and ``clearhouse verify --book`` replay them.

A block without ``book`` entries encodes without the field, so every block written before it existed
keeps its bytes and hashes.

The ledger does not decode envelopes here (``mechanisms.signing`` does), so this module does
not depend on the auth package.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from clearhouse.ledger.commands import AnyCommand
from clearhouse.ledger.events import AnyEvent, Event
from clearhouse.oracle.reports import SourceReport


class ReportSig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A reporter's ed25519 signature of one source report (``clearhouse.auth.reports``)."""

    #: Lower-case hex public key of the reporter.
    signer: str
    #: Lower-case hex of the 64-byte signature.
    signature: str


class Block(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    height: int
    #: Seconds since the epoch of the chain or scenario; strictly increasing.
    time: int
    #: Price key -> price (WAD) set directly by the block (keys without an oracle feed).
    prices: dict[str, int] = {}
    txs: tuple[AnyCommand, ...] = ()
    #: Source reports for the oracle feeds, aggregated before the transactions.
    reports: tuple[SourceReport, ...] = ()
    #: L2 sequencer status (Aave's sentinel feed); only matters with ``sequencer_grace`` > 0.
    sequencer_up: bool = True
    #: Signed envelopes (canonical bytes as received), applied after ``txs``; their transaction index
    #: in events is ``len(txs) + i``.
    signed: tuple[msgspec.Raw, ...] = ()
    #: Signatures of ``reports``, index for index (empty, or as long as ``reports``).
    report_signatures: tuple[ReportSig, ...] = ()
    #: The order book's inputs (canonical bytes, ``clearhouse.book.journal``); hashed, not executed.
    book: tuple[msgspec.Raw, ...] = ()


class _SignedBlock(msgspec.Struct, frozen=True):
    """The encoding of a block without book inputs: the fields as they were before ``book``."""

    height: int
    time: int
    prices: dict[str, int]
    txs: tuple[AnyCommand, ...]
    reports: tuple[SourceReport, ...]
    sequencer_up: bool
    signed: tuple[msgspec.Raw, ...]
    report_signatures: tuple[ReportSig, ...]


class _PlainBlock(msgspec.Struct, frozen=True):
    """The encoding of a block without signed content: the fields as they were before signing."""

    height: int
    time: int
    prices: dict[str, int]
    txs: tuple[AnyCommand, ...]
    reports: tuple[SourceReport, ...]
    sequencer_up: bool


_encoder = msgspec.json.Encoder(order="deterministic")
_block_decoder = msgspec.json.Decoder(Block)
_events_decoder = msgspec.json.Decoder(list[AnyEvent])


def has_signed_content(block: Block) -> bool:
    return bool(block.signed or block.report_signatures or block.book)


def encode_block(block: Block) -> bytes:
    b = block
    if b.book:
        return _encoder.encode(block)
    if has_signed_content(block):
        return _encoder.encode(
            _SignedBlock(b.height, b.time, b.prices, b.txs, b.reports, b.sequencer_up, b.signed,
                         b.report_signatures)
        )
    return _encoder.encode(_PlainBlock(b.height, b.time, b.prices, b.txs, b.reports, b.sequencer_up))


def decode_block(data: bytes) -> Block:
    return _block_decoder.decode(data)


def encode_events(events: Sequence[Event]) -> bytes:
    if not events:
        return b"[]"  # a calm block's (what the encoder writes for an empty list)
    return _encoder.encode(list(events))


def decode_events(data: bytes) -> list[AnyEvent]:
    return _events_decoder.decode(data)
