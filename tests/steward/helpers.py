"""A small ledger for steward tests: USDC and ETH, two perp markets (ETH-PERP, BTC-PERP), one vault type
(ETH-A, Dutch auction), a configured steward with a controller and a guardian key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import BlockResult, Engine
from clearhouse.ledger.fixedpoint import RAY, WAD
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec, VaultTypeSpec
from clearhouse.liquidation.vault import DutchAuction
from clearhouse.steward.guardrails import Guardrail
from clearhouse.steward.state import StewardConfig

T0 = 1_700_000_000
DAY = 86_400


def key(name: str) -> str:
    return hashlib.sha256(f"clearhouse-steward-test/{name}".encode()).hexdigest()


CONTROLLER, GUARDIAN, MALLORY = key("controller"), key("guardian"), key("mallory")
ETH_PERP = MarketSpec(
    "ETH-PERP", "ETH", initial_margin=WAD // 10, maintenance_margin=WAD // 20, liquidation_fee=WAD // 100,
    taker_fee=5 * WAD // 10_000,
)
BTC_PERP = MarketSpec(
    "BTC-PERP", "BTC", initial_margin=WAD // 20, maintenance_margin=3 * WAD // 100,
    liquidation_fee=WAD // 100, taker_fee=5 * WAD // 10_000,
)
ETH_A = VaultTypeSpec(
    "ETH-A", "ETH", mat=RAY * 3 // 2, line=1_000_000 * WAD, chop=113 * WAD // 100, dust=100 * WAD,
    disposal=DutchAuction(buf=RAY * 12 // 10, tail=3600, cusp=RAY * 6 // 10, tau=3600),
)


def config(forbidden: tuple[str, ...] = ()) -> StewardConfig:
    return StewardConfig(CONTROLLER, GUARDIAN, forbidden)


def engine_with_steward(
    guardrails: Iterable[tuple[str, str, str, Guardrail]] = (), forbidden: tuple[str, ...] = ()
) -> Engine:
    """Genesis at T0, then a block configuring the steward and the guardrails (all must be accepted)."""
    engine = Engine()
    genesis: list[c.AnyCommand] = [
        c.SetLedgerParams(LedgerParams(settlement_asset="USDC", max_price_age=10 * DAY)),
        c.ListAsset(AssetSpec("USDC", decimals=6)),
        c.ListAsset(AssetSpec("ETH")),
        c.ListMarket(ETH_PERP),
        c.ListMarket(BTC_PERP),
        c.ListVaultType(ETH_A),
    ]
    result = engine.apply_block(Block(1, T0, {"ETH": 2000 * WAD, "BTC": 60_000 * WAD}, tuple(genesis)))
    assert not rejected(result)
    setup: list[c.AnyCommand] = [c.ConfigureSteward(config(forbidden))]
    setup += [c.SetGuardrail(s, t, p, g) for s, t, p, g in guardrails]  # type: ignore[arg-type]
    result = step(engine, setup)
    assert not rejected(result), rejected(result)
    return engine


def step(engine: Engine, txs: Iterable[c.AnyCommand] = (), dt: int = 60) -> BlockResult:
    state = engine.state
    return engine.apply_block(Block(state.height + 1, state.time + dt, {}, tuple(txs)))


def rejected(result: BlockResult) -> list[str]:
    return [e.code for e in result.events if isinstance(e, ev.TransactionRejected)]


def of(result: BlockResult, kind: type[ev.Event]) -> list[ev.Event]:
    return [e for e in result.events if isinstance(e, kind)]


def propose(target: str, parameter: str, value: int, scope: str = "market") -> c.ProposeParameter:
    return c.ProposeParameter(CONTROLLER, scope, target, parameter, value)  # type: ignore[arg-type]


def apply(pid: int) -> c.ApplyParameter:
    return c.ApplyParameter(CONTROLLER, pid)
