"""Bad input to the liquidation, vault, auction, pool and AMM commands: a typed rejection that names what
was wrong, and nothing changed (balances, pools, totals, vaults, auctions)."""

from __future__ import annotations

import pytest

from clearhouse.ledger import commands as c
from clearhouse.ledger.fixedpoint import MAX_ABS

from .builders import W
from .vault_fixtures import ETH_A, codes, crashed_vault, snapshot_all, step

BAD: list[tuple[c.AnyCommand, str]] = [
    # vaults
    (c.Lock("dave", ETH_A, 0), "invalid_value"),
    (c.Lock("dave", ETH_A, -W(1)), "invalid_value"),
    (c.Lock("dave", ETH_A, MAX_ABS), "value_out_of_range"),
    (c.Lock("nobody", ETH_A, W(1)), "unknown_account"),
    (c.Draw("dave", "BTC-A", W(1)), "unknown_vault_type"),
    (c.Free("dave", ETH_A, W(5)), "vault_unsafe"),
    (c.Draw("dave", ETH_A, W(1)), "vault_unsafe"),
    (c.Wipe("alice", ETH_A, W(1)), "insufficient_balance"),  # no debt to wipe
    (c.Wipe("dave", ETH_A, MAX_ABS), "value_out_of_range"),
    (c.Bark("alice", ETH_A, "keeper"), "not_liquidatable"),
    (c.Bark("dave", "BTC-A", "keeper"), "unknown_vault_type"),
    # auctions
    (c.TakeAuction(99, W(1), W(1), "keeper"), "unknown_auction"),
    (c.RedoAuction(99, "keeper"), "unknown_auction"),
    (c.Tend(99, "keeper", W(1), W(1)), "unknown_auction"),
    (c.Deal(99, "keeper"), "unknown_auction"),
    # stability pool
    (c.ProvideToSP("alice", 0), "invalid_value"),
    (c.ProvideToSP("alice", W(10**9)), "insufficient_balance"),
    # perps: liquidation, backstop pool, AMM
    (c.Liquidate("alice", "keeper"), "not_liquidatable"),
    (c.Liquidate("nobody", "keeper"), "unknown_account"),
    (c.DepositBackstop("USDC", 0), "invalid_value"),
    (c.DepositBackstop("DOGE", W(1)), "unknown_asset"),
    (c.ConfigureAmm("ETH-PERP", "keeper", 0, W(1)), "invalid_value"),
    (c.ConfigureAmm("NOPE-PERP", "keeper", W(1), W(1)), "unknown_market"),
    (c.SwapAmm("alice", "ETH-PERP", 0, W(1)), "invalid_value"),
    (c.SwapAmm("alice", "ETH-PERP", W(1), W(2000)), "unknown_pool"),  # no pool configured
]


@pytest.mark.parametrize(("command", "code"), BAD, ids=[f"{type(x).__name__}-{code}" for x, code in BAD])
def test_bad_mechanism_commands_are_refused_and_change_nothing(command: c.AnyCommand, code: str) -> None:
    engine = crashed_vault()  # dave's vault is unsafe at ETH 1500; nobody else has a vault
    before = snapshot_all(engine)
    events = step(engine, [command])
    assert codes(events) == [code]
    assert snapshot_all(engine) == before
