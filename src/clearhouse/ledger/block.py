"""Blocks and their canonical encoding.

A block is everything the engine needs to move from one state to the next: its height, its time, the
oracle prices published with it and the transactions in order. The canonical encoding (JSON with sorted
keys and arbitrary-precision integers) is what the journal stores and hashes.

Signed content (docs/auth.md) travels in two trailing fields that are left out of the encoding when
empty, so a block without signed content encodes byte for byte as before they existed:

* ``signed`` — signed transaction envelopes, each exactly the canonical bytes received from the client
  (a ``msgspec.Raw`` is journalled verbatim), applied after the bare ``txs``;
* ``report_signatures`` — one reporter signature per entry of ``reports`` (same order).

The ledger does not decode envelopes here (``clearhouse.ledger.admission`` does), so this module does
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
    return bool(block.signed or block.report_signatures)


def encode_block(block: Block) -> bytes:
    if has_signed_content(block):
        return _encoder.encode(block)
    b = block
    return _encoder.encode(_PlainBlock(b.height, b.time, b.prices, b.txs, b.reports, b.sequencer_up))


def decode_block(data: bytes) -> Block:
    return _block_decoder.decode(data)


def encode_events(events: Sequence[Event]) -> bytes:
    return _encoder.encode(list(events))


def decode_events(data: bytes) -> list[AnyEvent]:
    return _events_decoder.decode(data)
