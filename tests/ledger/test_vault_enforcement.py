"""Step 4 for debt positions: unsafe vaults are reported or barked by the backstop, lowest health first."""

from __future__ import annotations

import msgspec

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev

from .builders import PARAMS, W
from .vault_fixtures import ETH_A, crashed_vault, only, step


def with_enforcement(engine, mode: str) -> None:  # type: ignore[no-untyped-def]
    params = msgspec.structs.replace(PARAMS, enforcement=mode, backstop_liquidator="keeper")
    step(engine, [c.SetLedgerParams(params)])


def test_report_mode_names_the_unsafe_vault_with_its_health() -> None:
    engine = crashed_vault()
    with_enforcement(engine, "report")
    events = step(engine, [])
    # 5 ETH at 1500 / mat 1.5 = 5000 of borrowing power against 6000 of debt: health 0.8333...
    (unsafe,) = only(events, ev.VaultBelowSafety)
    assert (unsafe.account, unsafe.vault_type) == ("dave", ETH_A)
    assert unsafe.health == 833_333_333_333_333_333  # floor(5000 / 6000 x 1e18), no stability fee
    assert not engine.state.debt.auctions  # reported only


def test_backstop_mode_barks_the_vault_into_its_auction() -> None:
    engine = crashed_vault()
    with_enforcement(engine, "backstop")
    step(engine, [])
    assert len(engine.state.debt.auctions) == 1
    vault = engine.state.accounts["dave"].vaults.get(ETH_A)
    assert vault is None or (vault.ink, vault.art) == (0, 0)  # the whole vault went to the auction
    # the next block has nothing left to enforce
    assert only(step(engine, []), ev.VaultBelowSafety) == []


def test_safe_vaults_are_left_alone() -> None:
    engine = crashed_vault()
    with_enforcement(engine, "report")
    assert only(step(engine, [], price=W(2000)), ev.VaultBelowSafety) == []
