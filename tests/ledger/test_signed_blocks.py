"""The block format with signed content: unsigned blocks encode exactly as before it existed, signed
envelopes are journalled byte for byte as received, and an unsigned ledger never loads the auth package."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import msgspec

from clearhouse.demo.session import session_blocks
from clearhouse.ledger.block import Block, ReportSig, decode_block, encode_block
from clearhouse.ledger.engine import Engine
from clearhouse.oracle.reports import SourceReport

#: sha256 over every demo block's bytes and events bytes, computed with the engine before signed blocks.
DEMO_BYTES_DIGEST = "9dfb690c85a46d23042a1406f8ff20c8f48bac13ba17a20582fce727a46d0354"


def test_unsigned_blocks_and_their_events_encode_exactly_as_before() -> None:
    engine = Engine()
    digest = hashlib.sha256()
    for block in session_blocks():
        result = engine.apply_block(block)
        assert result.block_bytes == encode_block(block)
        digest.update(result.block_bytes)
        digest.update(result.events_bytes)
    assert digest.hexdigest() == DEMO_BYTES_DIGEST
    fields = list(msgspec.json.decode(encode_block(Block(1, 2))))
    assert fields == ["height", "time", "prices", "txs", "reports", "sequencer_up"]
    assert engine.state.auth is None


def test_signed_envelopes_are_kept_byte_for_byte() -> None:
    raw = b'{"envelope":{"x":[1,2]},"signature":"ab"}'
    sig = ReportSig("aa" * 32, "bb" * 64)
    block = Block(
        3, 4, reports=(SourceReport("s", "BTC", 1, 1),), signed=(msgspec.Raw(raw),), report_signatures=(sig,)
    )
    data = encode_block(block)
    assert raw in data
    back = decode_block(data)
    assert bytes(back.signed[0]) == raw and back.report_signatures == (sig,)
    assert encode_block(back) == data
    spaced = data.replace(b'{"envelope":', b'{ "envelope" :')
    assert bytes(decode_block(spaced).signed[0]) == b'{ "envelope" :{"x":[1,2]},"signature":"ab"}'


def test_an_unsigned_engine_does_not_import_the_auth_package() -> None:
    code = (
        "import sys\n"
        "from clearhouse.demo.session import session_blocks\n"
        "from clearhouse.ledger.engine import Engine\n"
        "e = Engine()\n"
        "[e.apply_block(b) for b in session_blocks()]\n"
        "print(sorted(m for m in sys.modules if m.startswith(('clearhouse.auth', 'nacl'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
