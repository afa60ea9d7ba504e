"""Debt positions (Maker vaults): Lock / Free / Draw / Wipe, stability fees, refusals, state root, replay.

Worked integers on ETH-A (mat 150%, dust 100, line 1M) with dave's 5 ETH at ETH = 2000:
collateral value 10000, so the most he may owe is 10000 / 1.5 = 6666.66...
"""

from __future__ import annotations

import msgspec
import pytest

from clearhouse.journal.memory import MemoryJournalStore
from clearhouse.journal.replay import verify_journal
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.fixedpoint import RAY
from clearhouse.ledger.model import Vault
from clearhouse.ledger.state_root import full_state_root
from clearhouse.liquidation.vault import spot

from .builders import ETH_PERP_ID, W, balance, conservation_gap, genesis_block, snapshot
from .vault_fixtures import (
    DUTCH,
    ENGLISH,
    ETH_A,
    FIXED,
    codes,
    only,
    step,
    vault_engine,
    vault_spec,
)


def spot_of(price: int) -> int:
    return spot(price, RAY * 3 // 2)


def vault(engine: Engine, account: str = "dave") -> Vault | None:
    return engine.state.accounts[account].vaults.get(ETH_A)


def test_lock_draw_free_wipe_worked_example() -> None:
    e = vault_engine()
    events = step(e, [c.Lock("dave", ETH_A, W(5)), c.Draw("dave", ETH_A, W(6000))])
    assert codes(events) == []
    assert vault(e) == Vault(ink=W(5), art=W(6000))  # rate is exactly 1.0: art = debt
    assert balance(e, "dave", "ETH") == 0 and balance(e, "dave") == W(6000)
    assert e.state.drawn == {"USDC": W(6000)} and e.state.vault_types[ETH_A].art == W(6000)
    # Freeing 1 ETH leaves 4 x 2000 / 1.5 = 5333.33 < 6000: refused, nothing changes.
    before = snapshot(e)
    events = step(e, [c.Free("dave", ETH_A, W(1))])
    assert codes(events) == ["vault_unsafe"] and snapshot(e) == before and vault(e) == Vault(W(5), W(6000))
    # 0.5 ETH would leave exactly 4.5 x 2000 / 1.5 = 6000 = debt, but spot = 2000 / 1.5 is rounded down
    # (dss spotter, in the protocol's favour): 4.5 x 1333.33..3 < 6000, refused. 0.4999 ETH is fine.
    assert spot_of(W(2000)) == 1333_333333333333333333333333333333333333333333333 // 10**18
    assert codes(step(e, [c.Free("dave", ETH_A, W("0.5"))])) == ["vault_unsafe"]
    assert codes(step(e, [c.Free("dave", ETH_A, W("0.4999"))])) == []
    assert vault(e) == Vault(W("4.5001"), W(6000)) and balance(e, "dave", "ETH") == W("0.4999")
    # Partial repayment, then the rest; the empty vault disappears.
    assert codes(step(e, [c.Wipe("dave", ETH_A, W(1000))])) == []
    assert vault(e) == Vault(W("4.5001"), W(5000)) and balance(e, "dave") == W(5000)
    assert codes(step(e, [c.Wipe("dave", ETH_A, W(10_000)), c.Free("dave", ETH_A, W("4.5001"))])) == []
    assert vault(e) is None and balance(e, "dave") == 0 and balance(e, "dave", "ETH") == W(5)
    assert e.state.repaid == {"USDC": W(6000)} and e.state.vault_types[ETH_A].art == 0


def test_draw_at_the_limit_and_one_unit_beyond() -> None:
    e = vault_engine()
    step(e, [c.Lock("dave", ETH_A, W(3))])  # 6000 / 1.5 = 4000, but spot rounds down: 3 x spot < 4000
    assert codes(step(e, [c.Draw("dave", ETH_A, W(4000))])) == ["vault_unsafe"]
    assert codes(step(e, [c.Draw("dave", ETH_A, W("3999.999999"))])) == []


def test_stability_fee_accrues_through_rate_and_is_minted_to_the_surplus_buffer() -> None:
    duty = RAY + RAY // 1000  # +0.1% per second, so one block of 1 s is easy to check by hand
    e = vault_engine(duty=duty)
    step(e, [c.Lock("dave", ETH_A, W(5)), c.Draw("dave", ETH_A, W(6000))], dt=1)
    # Listed in the block before at rate 1; the draw block is 1 s later: rate = 1.001, so
    # art = ceil(6000 / 1.001) and the fee minted at that drip is 0 (Art was 0).
    art = -(-W(6000) * RAY // duty)
    assert vault(e) == Vault(W(5), art)
    insurance = e.state.pools.insurance["USDC"]
    events = step(e, [c.Wipe("dave", ETH_A, W(1))], dt=1)  # touch: drip one more second
    fee = only(events, ev.StabilityFeeAccrued)[0]
    rate = duty * duty // RAY  # rmul(rpow(duty, 1), rate)
    assert fee.rate == rate and fee.delta_rate == rate - duty and fee.minted == art * (rate - duty) // RAY
    repaid = only(events, ev.DebtRepaid)[0]
    assert repaid.dart == W(1) * RAY // rate and repaid.amount == -(-repaid.dart * rate // RAY)
    assert e.state.pools.insurance["USDC"] == insurance + fee.minted
    # Full repayment costs ceil(art x rate / RAY) at the rate of that block: more than what was drawn.
    left = vault(e)
    assert left is not None
    events = step(e, [c.Deposit("dave", "USDC", W(100)), c.Wipe("dave", ETH_A, W(7000))], dt=1)
    final_rate = only(events, ev.StabilityFeeAccrued)[0].rate
    assert only(events, ev.DebtRepaid)[0].amount == -(-left.art * final_rate // RAY) > W(5999)
    assert vault(e) == Vault(W(5), 0)


@pytest.mark.parametrize(
    ("txs", "code"),
    [
        ([c.Lock("dave", "BTC-A", W(1))], "unknown_vault_type"),
        ([c.Lock("dave", ETH_A, W(6))], "insufficient_balance"),
        ([c.Lock("dave", ETH_A, W(5)), c.Draw("dave", ETH_A, W(99))], "vault_dusty"),
        ([c.Free("dave", ETH_A, W(1))], "insufficient_balance"),
        ([c.Wipe("dave", ETH_A, W(1))], "insufficient_balance"),
        ([c.Draw("dave", ETH_A, W(1000))], "vault_unsafe"),
        ([c.Lock("dave", ETH_A, W(5)), c.Draw("dave", ETH_A, W(0))], "invalid_value"),
        ([c.Bark("dave", ETH_A, "keeper")], "not_liquidatable"),
        ([c.Bark("dave", ETH_A, "dave")], "self_trade"),
        ([c.ListVaultType(vault_spec())], "already_exists"),
        ([c.ListVaultType(msgspec.structs.replace(vault_spec(), id="X", mat=RAY - 1))], "invalid_parameters"),
        ([c.ListVaultType(msgspec.structs.replace(vault_spec(), id="X", collateral="BTC"))], "unknown_asset"),
    ],
)
def test_refusals_are_typed_and_change_nothing(txs: list[c.AnyCommand], code: str) -> None:
    e = vault_engine()
    setup, bad = txs[:-1], txs[-1]
    if setup:
        assert codes(step(e, setup)) == []
    before = snapshot(e)
    vaults = {a: dict(acct.vaults) for a, acct in e.state.accounts.items()}
    vts = {k: (v.rate, v.art, v.spec) for k, v in e.state.vault_types.items()}
    events = step(e, [bad])
    assert codes(events) == [code]
    assert snapshot(e) == before
    assert {a: dict(acct.vaults) for a, acct in e.state.accounts.items()} == vaults
    assert {k: (v.rate, v.art, v.spec) for k, v in e.state.vault_types.items()} == vts


def test_debt_ceiling() -> None:
    e = vault_engine(line=W(5000))
    step(e, [c.Lock("dave", ETH_A, W(5))])
    assert codes(step(e, [c.Draw("dave", ETH_A, W(5001))])) == ["debt_ceiling_exceeded"]
    assert codes(step(e, [c.Draw("dave", ETH_A, W(5000))])) == []


def test_vault_collateral_does_not_count_in_perp_margin() -> None:
    """Locking moves collateral out of the cross bucket: refused when the perp account would fall below IM."""
    e = vault_engine()
    # dave's 5 ETH (haircut 0.9) back a 1 ETH-PERP long at 2000: IM 200, equity 9000.
    assert codes(step(e, [c.Trade(ETH_PERP_ID, "dave", "keeper", W(1), W(2000))])) == []
    before = e.margin("dave")
    assert codes(step(e, [c.Lock("dave", ETH_A, W(5))])) == ["insufficient_margin"]
    assert codes(step(e, [c.Lock("dave", ETH_A, W(4))])) == []
    after = e.margin("dave")
    # The 4 locked ETH (haircut 0.9 at 2000) left the cross bucket entirely: 4 x 2000 x 0.9 = 7200.
    assert before.equity - after.equity == W(7200) and after.maintenance == before.maintenance


def test_vault_state_is_in_the_root() -> None:
    e1, e2 = vault_engine(), vault_engine()
    step(e1, [c.Lock("dave", ETH_A, W(2))])
    step(e2, [c.Lock("dave", ETH_A, W(1)), c.Deposit("dave", "ETH", W(1))])
    # Same balances and totals except where the ETH sits: the roots must differ.
    assert e1.state_root() != e2.state_root()
    assert e1.state_root() == full_state_root(e1.state)


@pytest.mark.parametrize("disposal", [DUTCH, ENGLISH, FIXED], ids=["dutch", "english", "fixed"])
def test_journal_replay_reproduces_every_root(disposal: object) -> None:
    store = MemoryJournalStore()
    engine = Engine(journal=store)
    engine.apply_block(genesis_block())
    roots = []
    blocks: list[tuple[list[c.AnyCommand], int | None, int]] = [
        ([c.ListVaultType(vault_spec(disposal, duty=RAY + 10**18))], None, 60),  # type: ignore[arg-type]
        ([c.Lock("dave", ETH_A, W(5)), c.Draw("dave", ETH_A, W(6000))], None, 60),
        ([c.Bark("dave", ETH_A, "keeper")], W(1500), 60),
        ([c.TakeAuction(1, W(2), 2000 * RAY, "alice"), c.Tend(1, "alice", W(5), 0)], None, 600),
        ([c.TakeAuction(1, W(5), 2000 * RAY, "bob"), c.Deal(1, "keeper")], None, 700),
    ]
    for txs, price, dt in blocks:
        state = engine.state
        block = Block(state.height + 1, state.time + dt, {"ETH": price} if price else {}, tuple(txs))
        roots.append(engine.apply_block(block).state_root)
        for asset in ("USDC", "ETH"):
            assert conservation_gap(engine.state, asset) == 0
    report, replayed = verify_journal(store)
    assert report.ok, report.reason
    assert report.final_root == roots[-1] == replayed.state_root()
    assert replayed.state.debt == engine.state.debt
