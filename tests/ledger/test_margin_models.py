"""Margin models: worked examples per model, validation errors naming the field, and the engine."""

from __future__ import annotations

import msgspec
import pytest

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.errors import InvalidParameters
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.margin_models import (
    FixedMargin,
    OpenInterestMargin,
    Tier,
    TieredMargin,
    VolatilityMargin,
)
from clearhouse.ledger.model import AssetSpec, MarketSpec

E = WAD
BASE = MarketSpec("ETH-PERP", "ETH", initial_margin=E // 10, maintenance_margin=E // 20)
TIERS = TieredMargin((Tier(50_000 * E, E // 5, E // 10), Tier(200_000 * E, E // 2, E // 4)))


def frac(model, notional: int = 0, oi: int = 0, vol: int = E) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    return model.fractions(E // 10, E // 20, notional, oi, vol)


def test_fixed_model_returns_the_base_fractions() -> None:
    assert frac(FixedMargin(), 10**30) == (E // 10, E // 20)


@pytest.mark.parametrize(
    ("notional", "expected"),
    [
        (30_000 * E, (E // 10, E // 20)),
        (50_000 * E - 1, (E // 10, E // 20)),
        (50_000 * E, (E // 5, E // 10)),
        (250_000 * E, (E // 2, E // 4)),
    ],
)
def test_tiers_raise_fractions_with_notional(notional: int, expected: tuple[int, int]) -> None:
    assert frac(TIERS, notional) == expected


@pytest.mark.parametrize(
    ("oi", "initial"),
    [
        (0, E // 20),
        (1_000_000 * E, E // 20),
        # 1.5M of 1M..3M: 0.05 + 0.95 x 0.25 = 0.2875
        (1_500_000 * E, 2875 * E // 10_000),
        (2_000_000 * E, 525 * E // 1000),
        (3_000_000 * E, E),
        (9_000_000 * E, E),
    ],
)
def test_open_interest_scaling_of_the_initial_fraction(oi: int, initial: int) -> None:
    model = OpenInterestMargin(lower_cap=1_000_000 * E, upper_cap=3_000_000 * E)
    assert model.fractions(E // 20, E // 40, 0, oi, E) == (initial, E // 40)


def test_open_interest_scaling_rounds_the_fraction_up() -> None:
    model = OpenInterestMargin(lower_cap=0, upper_cap=3)
    # (1 - 0.05) x 1/3 = 0.31666... -> rounded up in the protocol's favour
    assert model.fractions(E // 20, E // 40, 0, 1, E)[0] == E // 20 + (95 * E // 100 + 2) // 3


def test_volatility_scaling_and_its_cap() -> None:
    assert frac(VolatilityMargin(), vol=3 * E // 2) == (15 * E // 100, 75 * E // 1000)
    assert frac(VolatilityMargin(), vol=E // 2) == (E // 10, E // 20)  # never below the base
    # x10 capped at 50%: maintenance keeps its 1:2 ratio to initial
    assert frac(VolatilityMargin(max_initial=E // 2), vol=10 * E) == (E // 2, E // 4)


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (TieredMargin(()), "tiers must not be empty"),
        (TieredMargin((Tier(10, E // 5, E // 10), Tier(10, E // 4, E // 10))), "tiers[1].notional"),
        (TieredMargin((Tier(10, E // 20, E // 40),)), "tiers[0].initial_margin"),
        (TieredMargin((Tier(10, E // 5, E // 5),)), "tiers[0].maintenance_margin"),
        (OpenInterestMargin(lower_cap=5, upper_cap=5), "lower_cap < upper_cap"),
        (VolatilityMargin(max_initial=E // 20), "max_initial"),
    ],
)
def test_nonsense_configurations_are_refused_naming_the_field(model, field: str) -> None:  # type: ignore[no-untyped-def]
    spec = msgspec.structs.replace(BASE, margin_model=model)
    with pytest.raises(InvalidParameters, match=field.replace("[", r"\[").replace("]", r"\]")):
        spec.validate()


def test_margin_model_round_trips_through_the_block_encoding() -> None:
    from clearhouse.ledger.block import decode_block, encode_block

    block = Block(1, 0, {}, (c.ListMarket(msgspec.structs.replace(BASE, margin_model=TIERS)),))
    assert decode_block(encode_block(block)) == block


def engine_with(model) -> Engine:  # type: ignore[no-untyped-def]
    engine = Engine()
    engine.apply_block(
        Block(
            1,
            0,
            {"ETH": 1000 * E},
            (
                c.ListAsset(AssetSpec("USDC", decimals=6)),
                c.ListMarket(msgspec.structs.replace(BASE, margin_model=model)),
                c.OpenAccount("whale", "00" * 32),
                c.OpenAccount("maker", "11" * 32),
                c.Deposit("whale", "USDC", 12_000 * E),
                c.Deposit("maker", "USDC", 1_000_000 * E),
            ),
        )
    )
    return engine


def rejected(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.code for e in result.events if isinstance(e, ev.TransactionRejected)]


def test_tiers_through_the_engine_refuse_a_large_position() -> None:
    engine = engine_with(TIERS)
    # 60 ETH x 1000 = 60k notional: tier 2 (20%) needs 12k; 12k deposit covers it...
    ok = engine.apply_block(Block(2, 60, {}, (c.Trade("ETH-PERP", "whale", "maker", 60 * E, 1000 * E),)))
    assert rejected(ok) == []
    assert engine.margin("whale").initial == 12_000 * E
    # ...but 10 more ETH stays in tier 2 and needs 14k.
    more = engine.apply_block(Block(3, 120, {}, (c.Trade("ETH-PERP", "whale", "maker", 10 * E, 1000 * E),)))
    assert rejected(more) == ["insufficient_margin"]


def test_volatility_multiplier_from_the_risk_controller_tightens_withdrawals() -> None:
    engine = engine_with(VolatilityMargin())
    engine.apply_block(Block(2, 60, {}, (c.Trade("ETH-PERP", "whale", "maker", 100 * E, 1000 * E),)))
    assert engine.margin("whale").initial == 10_000 * E
    result = engine.apply_block(
        Block(3, 120, {}, (c.SetVolatility("ETH-PERP", 2 * E), c.Withdraw("whale", "USDC", E)))
    )
    assert result.events[0] == ev.VolatilitySet("ETH-PERP", 2 * E)
    assert rejected(result) == ["insufficient_margin"]  # IM doubled to 20k > 12k equity
    assert engine.margin("whale").maintenance == 10_000 * E
