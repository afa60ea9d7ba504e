"""A scripted market session through the real engine.

Four accounts deposit, trade an ETH perpetual, the price falls for a few hours while funding
accrues, one over-levered account falls below maintenance and a keeper closes it out at the
oracle price. Every block is journalled, so ``clearhouse verify`` can replay the session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from clearhouse.core.fixedpoint import to_fixed
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec

GENESIS_TIME = 1_700_000_000
HOUR = 3600
ACCOUNTS = ("alice", "bob", "carol", "keeper")


def W(value: str | int) -> int:
    """Human number -> WAD (boundary conversion)."""
    return to_fixed(value)


def owner_key(name: str) -> str:
    """A deterministic 32-byte demo public key (hex); real owners bring their own ed25519 keys."""
    return hashlib.sha256(f"clearhouse-demo/{name}".encode()).hexdigest()


ETH_PERP = MarketSpec(
    id="ETH-PERP",
    oracle="ETH",
    initial_margin=W("0.10"),
    maintenance_margin=W("0.05"),
    taker_fee=W("0.0005"),
    maker_fee=W("0.0002"),
    liquidation_fee=W("0.01"),
    liquidator_share=W("0.5"),
    step_size=W("0.001"),
    funding_interest=W("0.0001"),
)


def session_blocks() -> Iterator[Block]:
    """The blocks of the session, in order."""
    t = GENESIS_TIME
    yield Block(
        1,
        t,
        {"ETH": W(2000)},
        (
            c.SetLedgerParams(LedgerParams(settlement_asset="USDC", max_price_age=2 * HOUR)),
            c.ListAsset(AssetSpec("USDC", decimals=6, haircut=W(1))),
            c.ListAsset(AssetSpec("ETH", decimals=18, haircut=W("0.9"))),
            c.ListMarket(ETH_PERP),
            *(c.OpenAccount(name, owner_key(name)) for name in ACCOUNTS),
            c.DepositInsurance("USDC", W(10_000)),
        ),
    )
    yield Block(
        2,
        t + 60,
        {"ETH": W(2000)},
        (
            c.Deposit("alice", "USDC", W(10_000)),
            c.Deposit("bob", "USDC", W(5_000)),
            c.Deposit("bob", "ETH", W(1)),
            c.Deposit("carol", "USDC", W(2_000)),
            c.Deposit("keeper", "USDC", W(50_000)),
        ),
    )
    yield Block(
        3,
        t + 120,
        {"ETH": W(2000)},
        (
            c.Trade("ETH-PERP", buyer="alice", seller="bob", size=W(5), price=W(2000), taker="buyer"),
            c.Trade("ETH-PERP", buyer="carol", seller="keeper", size=W(8), price=W(2010), taker="buyer"),
            c.Withdraw("bob", "USDC", W(4_500)),
            # Rejected: would leave bob below initial margin (nothing changes).
            c.Withdraw("bob", "ETH", W(1)),
        ),
    )
    path = ("1960", "1925", "1890", "1850", "1815")
    for i, price in enumerate(path, start=1):
        txs: tuple[c.AnyCommand, ...] = ()
        if i == 3:
            txs = (c.SettleFunding("alice"), c.Withdraw("bob", "USDC", W(100)))
        yield Block(3 + i, t + 120 + i * HOUR, {"ETH": W(price)}, txs)
    yield Block(
        9,
        t + 120 + 5 * HOUR + 12,
        {"ETH": W("1815")},
        (
            c.CloseOut("carol", liquidator="keeper"),
            # Rejected: alice is healthy.
            c.CloseOut("alice", liquidator="keeper"),
        ),
    )
