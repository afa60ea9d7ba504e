"""Blocks and their canonical encoding.

A block is everything the engine needs to move from one state to the next: its height, its time, the
oracle prices published with it and the transactions in order. The canonical encoding (JSON with sorted
keys and arbitrary-precision integers) is what the journal stores and hashes.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from clearhouse.ledger.commands import AnyCommand
from clearhouse.ledger.events import AnyEvent, Event
from clearhouse.oracle.reports import SourceReport


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


_encoder = msgspec.json.Encoder(order="deterministic")
_block_decoder = msgspec.json.Decoder(Block)
_events_decoder = msgspec.json.Decoder(list[AnyEvent])


def encode_block(block: Block) -> bytes:
    return _encoder.encode(block)


def decode_block(data: bytes) -> Block:
    return _block_decoder.decode(data)


def encode_events(events: Sequence[Event]) -> bytes:
    return _encoder.encode(list(events))


def decode_events(data: bytes) -> list[AnyEvent]:
    return _events_decoder.decode(data)
