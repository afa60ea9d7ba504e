"""Perps and debt positions implement the instrument interface, consistently with the margin arithmetic."""

from __future__ import annotations

import sys
from pathlib import Path

from clearhouse.core.fixedpoint import RAY, WAD
from clearhouse.ledger import commands as c
from clearhouse.ledger.instrument import Instrument, Requirement
from clearhouse.ledger.margin import cross_summary, fresh_price_lookup
from clearhouse.ledger.model import Position, Vault
from clearhouse.mechanisms.perps import PerpInstrument
from clearhouse.mechanisms.vaults.common import DebtInstrument

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ledger.builders import ETH_PERP_ID, W, apply_txs, genesis_engine
from ledger.vault_fixtures import ETH_A, vault_engine


def test_perp_instrument_sums_to_the_cross_summary() -> None:
    engine = genesis_engine()
    apply_txs(engine, [c.Trade(ETH_PERP_ID, "alice", "bob", W(2), W(2000))], prices={"ETH": W(2100)})
    state = engine.state
    perp: Instrument[Position] = PerpInstrument(state.markets[ETH_PERP_ID])
    price = W(2100)
    alice = state.accounts["alice"]
    pos = alice.positions[ETH_PERP_ID]
    # 2 ETH bought at 2000, marked at 2100: +200 less the taker fee already paid from the balance.
    assert perp.value(pos, price) == W(200) - perp.settlement_owed(pos)
    assert perp.requirement(pos, price) == Requirement(W(420), W(210))  # 10 % / 5 % of 4200
    assert perp.sensitivities(pos, price).delta == W(2)
    summary = cross_summary(state, alice, fresh_price_lookup(state))
    req = perp.requirement(pos, price)
    assert summary.equity == alice.balances["USDC"] + perp.value(pos, price)
    assert (summary.initial, summary.maintenance) == (req.initial, req.maintenance)


def test_debt_instrument_worked_example() -> None:
    engine = vault_engine()
    vt = engine.state.vault_types[ETH_A]
    debt: Instrument[Vault] = DebtInstrument(vt)
    vault = Vault(ink=W(5), art=W(6000) * RAY // vt.rate)
    assert debt.settlement_owed(vault) == W(6000)
    assert debt.value(vault, W(1500)) == W(7500) - W(6000)
    assert debt.requirement(vault, W(1500)) == Requirement(W(9000), W(9000))  # mat 150 % of 6000
    assert debt.sensitivities(vault, W(1500)).delta == W(5)
    # Unsafe exactly when the collateral is worth less than the requirement (Bark's trigger).
    assert debt.requirement(vault, W(1500)).maintenance > 5 * 1500 * WAD
