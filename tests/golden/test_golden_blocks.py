"""Golden block files: the stored blocks replay to the stored state roots and event hashes.

Each ``tests/golden/*.jsonl`` holds histories of canonical blocks (a ``{"history": ...}`` line starts a
fresh engine) with the state root and the sha256 of the events bytes after every block. Replay is pure
integers (no numpy, no floats), so these pin the engine's behaviour through refactors. They change only
in a commit that changes behaviour on purpose and says why; regenerate with
``PYTHONPATH=src python tests/golden/capture.py`` and review the diff.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest

from clearhouse.ledger.block import decode_block, decode_events, encode_block
from clearhouse.ledger.commands import AnyCommand
from clearhouse.ledger.engine import Engine
from clearhouse.oracle.states import OracleState

HERE = Path(__file__).resolve().parent
FILES = sorted(HERE.glob("*.jsonl"))
SCENARIOS = {
    "black_thursday_clip", "black_thursday_flip", "cascade_2025_10_10", "contagion_amm", "mango_median3",
}  # fmt: skip


def histories(path: Path) -> Iterator[tuple[str, list[dict[str, str]]]]:
    name, rows = "", []
    for text in path.read_text().splitlines():
        row = json.loads(text)
        if "history" in row:
            if rows:
                yield name, rows
            name, rows = row["history"], []
        else:
            rows.append(row)
    if rows:
        yield name, rows


def test_every_golden_file_is_present() -> None:
    assert {p.stem for p in FILES} == SCENARIOS | {"ledger_commands", "signed_demo", "steward", "options"}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden_blocks_replay_to_the_same_roots_and_events(path: Path) -> None:
    count = 0
    for name, rows in histories(path):
        engine = Engine()
        for row in rows:
            data = row["block"].encode()
            block = decode_block(data)
            assert encode_block(block) == data, f"{name}: block {block.height} does not round-trip"
            result = engine.apply_block(block)
            digest = hashlib.sha256(result.events_bytes).hexdigest()
            assert digest == row["events"], f"{name}: events of block {block.height} changed"
            assert result.state_root == row["root"], f"{name}: state root after block {block.height} changed"
            count += 1
    assert count > 0


def test_the_ledger_file_covers_every_command_type_and_oracle_state() -> None:
    commands: set[str] = set()
    events: set[str] = set()
    states: set[str] = set()
    disposals: set[str] = set()
    text = (HERE / "ledger_commands.jsonl").read_text()
    # ConfigureAuth: the signed session's genesis; the steward's and the contracts' own histories
    extra = [h for name in ("signed_demo", "steward", "options") for h in histories(HERE / f"{name}.jsonl")]
    for _, rows in [*histories(HERE / "ledger_commands.jsonl"), *extra]:
        engine = Engine()
        for row in rows:
            block = decode_block(row["block"].encode())
            commands.update(type(t).__name__ for t in block.txs)
            for e in decode_events(engine.apply_block(block).events_bytes):
                events.add(type(e).__name__)
                if type(e).__name__ == "OracleStateChanged":
                    states.add(e.new)  # type: ignore[union-attr]
                if type(e).__name__ == "PositionLiquidated":
                    disposals.add(e.disposal)  # type: ignore[union-attr]
    assert commands == {t.__name__ for t in get_args(AnyCommand)}
    assert states == {s.value for s in OracleState}
    assert disposals == {"adl", "amm", "keeper_takeover", "vault"}
    assert {"BadDebtSocialised", "PositionDeleveraged", "StabilityPoolOffset", "StabilityPoolBypassed",
            "VaultLiquidatedAave", "BackstopPoolUsed", "WithdrawalsGated"} <= events  # fmt: skip
    assert {"ContractListed", "ScenarioTableSet", "ContractTraded", "ContractLegLiquidated", "ExpiryWaiting",
            "ContractSettled", "ExpirySettled"} <= events  # fmt: skip
    for tag in ("open_interest", "tiered", "volatility", "dutch_auction", "english_auction",
                "fixed_discount", "stability_pool", "aave", "backstop_vault"):  # fmt: skip
        assert f'\\"{tag}\\"' in text, tag
