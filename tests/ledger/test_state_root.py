"""The state root's globals encoding, assembled from cached parts, equals encoding the whole list."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import msgspec
import pytest

from clearhouse.ledger.block import decode_block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.model import AssetSpec, LedgerState
from clearhouse.ledger.state_root import encode_globals, full_state_root

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
_encoder = msgspec.json.Encoder(order="deterministic")


def reference_globals(state: LedgerState) -> bytes:
    """The globals encoded as one list, as the state root defined them before any caching."""
    markets = [
        [
            mid, m.spec, m.funding_index, m.last_funding_time, m.last_trade_price, m.last_trade_time,
            m.open_interest, m.pnl_pool, m.vol_multiplier, m.mark_price, m.mark.state(),
            *([m.amm_account, m.amm_base, m.amm_quote] if m.amm_account else []),
            m.interval_value, m.interval_size,
        ]
        for mid, m in sorted(state.markets.items())
    ]  # fmt: skip
    pools, debt, sp = state.pools, state.debt, state.stability_pool
    extension: list[object] = []
    used = state.vault_types or debt.auctions or debt.kicks or debt.hole or state.drawn or state.repaid
    if used or sp.used():
        extension = [
            [[v, t.spec, t.rate, t.rho, t.art, t.dirt] for v, t in sorted(state.vault_types.items())],
            [debt.hole, debt.dirt, debt.kicks, [debt.auctions[i] for i in sorted(debt.auctions)]],
            sorted(state.drawn.items()),
            sorted(state.repaid.items()),
        ]
        if sp.used():
            extension.append(sp.encode())
    return _encoder.encode(
        [
            state.params, state.height, state.time, state.sequencer_up, state.sequencer_up_since,
            [state.assets[a] for a in sorted(state.assets)], markets, sorted(state.prices.items()),
            sorted(pools.insurance.items()), sorted(pools.fees.items()), sorted(pools.bad_debt.items()),
            sorted(pools.backstop.items()),
            [pools.insurance_used_height, pools.insurance_used, pools.withdrawals_gated_until],
            sorted(state.deposited.items()), sorted(state.withdrawn.items()),
            [[k, hashlib.sha256(f.encode_state()).hexdigest()] for k, f in sorted(state.oracles.items())],
            *extension,
            *([["steward", state.steward.encode()]] if state.steward.used() else []),
            *([["contracts", state.contracts.encode()]] if state.contracts.used() else []),
        ]
    )  # fmt: skip


#: Files that use vaults and auctions, the stability pool, the AMM, oracle feeds, the steward, dated
#: contracts and signed blocks between them.
FILES = ["black_thursday_flip", "contagion_amm", "ledger_commands", "mango_median3", "options", "steward"]


@pytest.mark.parametrize("name", FILES)
def test_globals_equal_the_whole_list_encoding_on_golden_histories(name: str) -> None:
    blocks = 0
    for text in (GOLDEN / f"{name}.jsonl").read_text().splitlines():
        row = json.loads(text)
        if "history" in row:
            engine = Engine()
            continue
        engine.apply_block(decode_block(row["block"].encode()))
        assert encode_globals(engine.state) == reference_globals(engine.state)
        blocks += 1
    assert blocks > 0


def test_mutation_in_place_is_seen() -> None:
    """The cached middle (pools, deposits) is checked against a copy, not by identity."""
    state = LedgerState()
    first, root = encode_globals(state), full_state_root(state)
    state.pools.insurance["USDC"] = 5
    state.deposited["USDC"] = 7
    assert encode_globals(state) == reference_globals(state) != first
    state.pools.insurance["USDC"] = 6
    assert encode_globals(state) == reference_globals(state)
    del state.pools.insurance["USDC"], state.deposited["USDC"]
    assert encode_globals(state) == first and full_state_root(state) == root


def test_assets_listed_updated_and_restored_in_place_are_seen() -> None:
    """The cached asset list is keyed by the (id, spec) pairs' values: listing, replacing a spec and
    restoring (as a rolled-back block does) in the same dict each give the whole list's encoding."""
    state = LedgerState()
    first = encode_globals(state)
    state.assets["USDC"] = AssetSpec("USDC", decimals=6)
    assert encode_globals(state) == reference_globals(state) != first
    state.assets["ETH"] = AssetSpec("ETH", haircut=9 * 10**17)
    with_eth = encode_globals(state)
    assert with_eth == reference_globals(state)
    state.assets["ETH"] = AssetSpec("ETH", haircut=8 * 10**17)  # an update: a new spec, same id
    assert encode_globals(state) == reference_globals(state) != with_eth
    state.assets["ETH"] = AssetSpec("ETH", haircut=9 * 10**17)  # restored: an equal, distinct spec
    assert encode_globals(state) == with_eth
    state.assets.clear()
    assert encode_globals(state) == first
