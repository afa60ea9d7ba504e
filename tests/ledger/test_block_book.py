"""``Block.book``: the order book's inputs are hashed with the block but not executed; a block without
them encodes byte for byte as before the field existed."""

from __future__ import annotations

import msgspec
import pytest

from clearhouse.engine.engine import Engine
from clearhouse.ledger.block import Block, ReportSig, decode_block, encode_block
from clearhouse.ledger.errors import InvalidValue

SIGNED = (msgspec.Raw(b'{"a":1}'),)
BOOK = (
    msgspec.Raw(b'{"signer":"ab","type":"FillSigner"}'),
    msgspec.Raw(b'{"context":{},"type":"SetContext"}'),
)


def test_a_block_without_book_inputs_encodes_as_before() -> None:
    plain = encode_block(Block(3, 10))
    assert plain == b'{"height":3,"time":10,"prices":{},"txs":[],"reports":[],"sequencer_up":true}'
    signed = encode_block(Block(3, 10, signed=SIGNED, report_signatures=(ReportSig("aa", "bb"),)))
    assert signed == (
        b'{"height":3,"time":10,"prices":{},"txs":[],"reports":[],"sequencer_up":true,'
        b'"signed":[{"a":1}],"report_signatures":[{"signer":"aa","signature":"bb"}]}'
    )
    assert b"book" not in signed and decode_block(signed).book == ()


def test_book_inputs_trail_the_block_and_round_trip_byte_for_byte() -> None:
    block = Block(3, 10, signed=SIGNED, book=BOOK)
    data = encode_block(block)
    assert data.endswith(b',"report_signatures":[],"book":[{"signer":"ab","type":"FillSigner"},'
                         b'{"context":{},"type":"SetContext"}]}')
    back = decode_block(data)
    assert [bytes(r) for r in back.book] == [bytes(r) for r in BOOK]
    assert encode_block(back) == data
    only_book = encode_block(Block(3, 10, book=BOOK))
    assert b'"signed":[]' in only_book and encode_block(decode_block(only_book)) == only_book


def test_the_engine_journals_book_inputs_without_executing_them() -> None:
    """Same state root with or without the book inputs (not executed), different journalled bytes (hashed)."""
    from clearhouse.journal.memory import MemoryJournalStore

    with_book, without = MemoryJournalStore(), MemoryJournalStore()
    a, b = Engine(journal=with_book), Engine(journal=without)
    ra = a.apply_block(Block(1, 10, book=BOOK))
    rb = b.apply_block(Block(1, 10))
    assert ra.events == rb.events and a.state_root() == b.state_root()
    row_a, row_b = with_book.get(1), without.get(1)
    assert row_a is not None and row_b is not None
    assert row_a.block != row_b.block and row_a.row_hash != row_b.row_hash
    assert decode_block(row_a.block).book == BOOK


@pytest.mark.parametrize("entry", [b'{"a":1} ', b'{"a":1}{"b":2}', b"not json"])
def test_the_engine_refuses_book_entries_that_would_not_journal_byte_for_byte(entry: bytes) -> None:
    engine = Engine()
    with pytest.raises(InvalidValue, match="book"):
        engine.apply_block(Block(1, 10, book=(msgspec.Raw(entry),)))
    assert engine.state.height == 0


def test_the_engine_refuses_a_book_entry_that_is_not_raw() -> None:
    engine = Engine()
    with pytest.raises(InvalidValue, match=r"book\[0\]"):
        engine.apply_block(Block(1, 10, book=(b'{"a":1}',)))  # type: ignore[arg-type]
