"""Aave v3 (3.0.2) as a vault disposal path: the exact ``liquidationCall`` arithmetic on a vault.

The crash of tests/ledger/vault_fixtures.py: dave's 5 ETH against 6000 USDC of debt, ETH 2000 -> 1500.
ETH-A here: liquidation threshold 75 %, bonus 105 %, protocol fee 10 % of the bonus (mat 1.5, so
1 / mat = 66.7 % plays Aave's LTV). Prices enter Aave in base currency (8 decimals: 1500e8); amounts
are WAD (18 decimals). Health factor = ink x price x threshold / debt.
"""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.journal.memory import MemoryJournalStore
from clearhouse.journal.replay import verify_journal
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.fixedpoint import RAY
from clearhouse.ledger.model import Vault
from clearhouse.liquidation.aave.math import percent_div, percent_mul
from clearhouse.liquidation.vault import AaveLiquidation, StabilityPool

from .builders import PARAMS, W, balance, genesis_block
from .vault_fixtures import ETH_A, FIXED, codes, crashed_vault, only, snapshot_all, step, vault_spec

AAVE = AaveLiquidation(liquidation_threshold=7500, liquidation_bonus=10500, protocol_fee=1000)


def liquidate(price: int | None, amount: int = 0) -> tuple[Engine, list[ev.Event]]:
    e = crashed_vault(AAVE)
    if price is not None:
        step(e, [], price=price)
    return e, step(e, [c.Bark("dave", ETH_A, "keeper", amount)])


def test_full_close_below_095_with_bonus_and_protocol_fee() -> None:
    # HF = 5 x 1500e8 x 75 % / 6000e8 = 0.9375 < 0.95: close factor 100 %.
    e0 = crashed_vault(AAVE)
    keeper_usdc, keeper_eth = balance(e0, "keeper"), balance(e0, "keeper", "ETH")
    repaid = e0.state.repaid.get("USDC", 0)
    events = step(e0, [c.Bark("dave", ETH_A, "keeper")])
    (liq,) = only(events, ev.VaultLiquidatedAave)
    assert (liq.health_factor, liq.close_factor) == (W("0.9375"), 10_000)
    # base = 1e8 x 6000e18 x 1e18 / (1500e8 x 1e18) = 4 ETH; max = 4 x 1.05 = 4.2 ETH <= 5;
    # bonus part = 4.2 - 4.2 / 1.05 = 0.2 ETH; fee = 10 % of it = 0.02 ETH; keeper gets 4.18 ETH.
    assert (liq.repay, liq.seize, liq.protocol_fee, liq.insufficient_collateral) == (
        W(6000),
        W("4.18"),
        W("0.02"),
        False,
    )
    assert balance(e0, "keeper") == keeper_usdc - W(6000)
    assert balance(e0, "keeper", "ETH") == keeper_eth + W("4.18")
    assert e0.state.pools.insurance["ETH"] == W("0.02")
    assert e0.state.repaid["USDC"] - repaid == W(6000)
    assert e0.state.accounts["dave"].vaults[ETH_A] == Vault(W("0.8"), 0)
    assert e0.state.vault_types[ETH_A].art == 0
    (bark,) = only(events, ev.VaultBarked)
    assert (bark.disposal, bark.dink, bark.dart) == ("aave", W("4.2"), W(6000))


def test_close_factor_50_percent_between_095_and_1() -> None:
    # ETH 1560: HF = 7800e8 x 75 % / 6000e8 = 0.975 -> at most half the debt.
    e, events = liquidate(W(1560))
    (liq,) = only(events, ev.VaultLiquidatedAave)
    assert (liq.health_factor, liq.close_factor, liq.repay) == (W("0.975"), 5000, W(3000))
    base = 10**8 * W(3000) * W(1) // (1560 * 10**8 * W(1))
    assert base == 1_923076923076923076
    max_coll = percent_mul(base, 10500)
    fee = percent_mul(max_coll - percent_div(max_coll, 10500), 1000)
    assert (liq.seize, liq.protocol_fee) == (max_coll - fee, fee) == (2_009615384615384615, 9615384615384615)
    assert e.state.accounts["dave"].vaults[ETH_A] == Vault(W(5) - max_coll, W(3000))


def test_health_factor_exactly_one_is_not_liquidatable_even_if_unsafe_by_mat() -> None:
    e = crashed_vault(AAVE)
    step(e, [], price=W(1600))  # Maker: 8000 / 1.5 < 6000 unsafe; Aave: 8000 x 0.75 / 6000 = 1.0
    before = snapshot_all(e)
    assert codes(step(e, [c.Bark("dave", ETH_A, "keeper")])) == ["aave_health_factor_not_below_threshold"]
    assert snapshot_all(e) == before


def test_insufficient_collateral_branch_and_bad_debt() -> None:
    # ETH 1100: 6000 x 1.05 / 1100 = 5.73 ETH > 5: the keeper takes all 5 ETH and repays what they are
    # worth divided by the bonus: (5 x 1100).percentDiv(10500) = 5238.095238095238095238.
    e, events = liquidate(W(1100))
    (liq,) = only(events, ev.VaultLiquidatedAave)
    assert liq.insufficient_collateral and liq.close_factor == 10_000
    assert liq.repay == percent_div(W(5500), 10500) == 5238_095238095238095238
    assert liq.seize + liq.protocol_fee == W(5)
    assert liq.protocol_fee == percent_mul(W(5) - percent_div(W(5), 10500), 1000)
    assert e.state.pools.bad_debt["USDC"] == W(6000) - liq.repay == 761_904761904761904762
    assert e.state.accounts["dave"].vaults == {} and e.state.vault_types[ETH_A].art == 0


def test_keeper_amount_caps_the_repayment() -> None:
    e, events = liquidate(None, W(1000))
    (liq,) = only(events, ev.VaultLiquidatedAave)
    # base = floor(1000 / 1500) = 0.666666666666666666 ETH, x 1.05 half up = 0.699999999999999999
    assert (liq.repay, liq.seize + liq.protocol_fee) == (W(1000), percent_mul(W(1000) // 1500, 10500))
    assert liq.seize + liq.protocol_fee == 699999999999999999
    assert e.state.accounts["dave"].vaults[ETH_A].art == W(5000)


def test_aave_against_fixed_discount_on_the_same_vault() -> None:
    """Same crash, same 5 % bonus: Aave's collateral is debt x 1.05 / price (4.2 ETH, 0.02 to the fund),
    the fixed discount's is debt / (price x 0.95) = 4.2105 ETH, all to the keeper."""
    out = {}
    for name, disposal in (("aave", AAVE), ("fixed", FIXED)):
        e = crashed_vault(disposal)
        step(e, [c.Bark("dave", ETH_A, "keeper")])
        keeper_eth = balance(e, "keeper", "ETH")
        dave_eth = sum(v.ink for v in e.state.accounts["dave"].vaults.values())
        out[name] = (keeper_eth, dave_eth, e.state.pools.insurance.get("ETH", 0), e.state.pools.bad_debt)
    assert out["aave"] == (W("4.18"), W("0.8"), W("0.02"), {})
    fixed_seize = W(6000) * W(1) * W(1) // (W(1500) * W("0.95"))
    assert out["fixed"] == (fixed_seize, W(5) - fixed_seize, 0, {})
    assert out["fixed"][0] > out["aave"][0] and out["fixed"][1] < out["aave"][1]


def test_sentinel_follows_the_sequencer_grace_period() -> None:
    e = crashed_vault(AAVE)
    step(e, [c.SetLedgerParams(msgspec.structs.replace(PARAMS, sequencer_grace=3600))])
    state = e.state
    e.apply_block(Block(state.height + 1, state.time + 60, {"ETH": W(1560)}, (), sequencer_up=False))
    state = e.state
    up = Block(state.height + 1, state.time + 60, {}, (c.Bark("dave", ETH_A, "keeper"),), sequencer_up=True)
    # HF 0.975 >= 0.95 inside the grace period: PRICE_ORACLE_SENTINEL_CHECK_FAILED.
    assert codes(list(e.apply_block(up).events)) == ["aave_price_oracle_sentinel_check_failed"]
    # Below 0.95 liquidation is allowed even inside the grace period.
    assert codes(step(e, [c.Bark("dave", ETH_A, "keeper")], price=W(1500))) == []


def test_invalid_aave_parameters_are_refused() -> None:
    e = crashed_vault(AAVE)
    for disposal in (
        AaveLiquidation(liquidation_threshold=6000),  # below 1 / mat = 66.7 %
        AaveLiquidation(liquidation_threshold=9600, liquidation_bonus=10500),  # 96 % x 1.05 > 100 %
        AaveLiquidation(liquidation_bonus=10000),  # bonus must exceed 100 %
        StabilityPool(fallback=AaveLiquidation(liquidation_threshold=6000)),
    ):
        spec = msgspec.structs.replace(vault_spec(disposal), id="ETH-B")
        assert codes(step(e, [c.ListVaultType(spec)])) == ["invalid_parameters"], disposal


def test_stability_pool_falls_back_to_aave() -> None:
    e = crashed_vault(StabilityPool(fallback=AAVE))
    events = step(e, [c.Bark("dave", ETH_A, "keeper")])
    assert only(events, ev.StabilityPoolBypassed) and only(events, ev.VaultLiquidatedAave)[0].repay == W(6000)


def test_journal_replay_reproduces_every_root() -> None:
    store = MemoryJournalStore()
    engine = Engine(journal=store)
    engine.apply_block(genesis_block())
    roots = []
    for txs, price in (
        ([c.ListVaultType(vault_spec(AAVE, duty=RAY + 10**18))], None),  # type: ignore[arg-type]
        ([c.Lock("dave", ETH_A, W(5)), c.Draw("dave", ETH_A, W(6000))], None),
        ([c.Bark("dave", ETH_A, "keeper", W(1000))], W(1560)),
        ([c.Bark("dave", ETH_A, "keeper")], W(1100)),
    ):
        state = engine.state
        block = Block(state.height + 1, state.time + 60, {"ETH": price} if price else {}, tuple(txs))
        result = engine.apply_block(block)
        assert not [x for x in result.events if isinstance(x, ev.TransactionRejected)]
        roots.append(result.state_root)
    report, replayed = verify_journal(store)
    assert report.ok, report.reason
    assert report.final_root == roots[-1] == replayed.state_root()


@settings(max_examples=30, deadline=None)
@given(st.integers(500, 1700), st.integers(0, 7000))
def test_liquidation_bounds(price: int, amount: int) -> None:
    """Conservation after every block (step), the close factor, seized <= ink, and the keeper never
    receives more than its repayment x bonus at the oracle price (plus one unit of rounding)."""
    e = crashed_vault(AAVE)
    step(e, [], price=W(price))
    before = e.state.accounts["dave"].vaults[ETH_A]
    events = step(e, [c.Bark("dave", ETH_A, "keeper", W(amount))])
    liq = only(events, ev.VaultLiquidatedAave)
    if not liq:
        assert codes(events)
        return
    (x,) = liq
    assert x.repay <= (W(6000) if x.health_factor < W("0.95") else W(3000))
    assert x.seize + x.protocol_fee <= before.ink
    assert (x.seize + x.protocol_fee) * price <= x.repay * 105 // 100 + price
    after = e.state.accounts["dave"].vaults.get(ETH_A, Vault())
    assert after.art <= before.art
