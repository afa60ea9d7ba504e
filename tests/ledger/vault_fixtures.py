"""Shared fixtures for the vault and auction tests.

A genesis ledger (tests/ledger/builders.py: ETH = 2000, dave holds 5 ETH, keeper 1M USDC, insurance
10k USDC) plus one vault type ``ETH-A``: mat 150%, chop 1.13, dust 100, line 1M, with the disposal path
under test. ``crashed_vault`` locks dave's 5 ETH and draws 6000 USDC, then the oracle falls to 1500.
"""

from __future__ import annotations

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.fixedpoint import RAY
from clearhouse.ledger.model import VaultTypeSpec
from clearhouse.liquidation.vault import AnyDisposal, DutchAuction, EnglishAuction, FixedDiscount

from .builders import (
    EventT,
    W,
    apply_txs,
    assert_ledger_invariants,
    genesis_engine,
    rejection_codes,
    snapshot,
)

ETH_A = "ETH-A"
DUTCH = DutchAuction(buf=RAY * 12 // 10, tail=3600, cusp=RAY * 6 // 10, chip=W("0.001"), tip=W(10), tau=3600)
ENGLISH = EnglishAuction(beg=W("1.05"), ttl=600, tau=3600)
FIXED = FixedDiscount(bonus=W("0.05"), close_factor=W("0.5"), full_below_health=W("0.95"))


def vault_spec(disposal: AnyDisposal = DUTCH, **kw: int) -> VaultTypeSpec:
    args = {"mat": RAY * 3 // 2, "line": W(1_000_000), "chop": W("1.13"), "dust": W(100)} | kw
    return VaultTypeSpec(ETH_A, "ETH", disposal=disposal, **args)


def vault_engine(disposal: AnyDisposal = DUTCH, **kw: int) -> Engine:
    engine = genesis_engine()
    result = apply_txs(engine, [c.ListVaultType(vault_spec(disposal, **kw))])
    assert rejection_codes(result) == []
    return engine


def step(engine: Engine, txs: list[c.AnyCommand], price: int | None = None, dt: int = 60) -> list[ev.Event]:
    """Apply one block and check every ledger invariant (conservation included) after it."""
    result = apply_txs(engine, txs, prices={"ETH": price} if price else None, dt=dt)
    assert_ledger_invariants(engine)
    return list(result.events)


def crashed_vault(disposal: AnyDisposal = DUTCH, **kw: int) -> Engine:
    """dave: 5 ETH locked, 6000 USDC drawn at ETH 2000; then ETH falls to 1500 (unsafe: 5000 < 6000)."""
    engine = vault_engine(disposal, **kw)
    events = step(engine, [c.Lock("dave", ETH_A, W(5)), c.Draw("dave", ETH_A, W(6000))])
    assert not [e for e in events if isinstance(e, ev.TransactionRejected)]
    step(engine, [], price=W(1500))
    return engine


def codes(events: list[ev.Event]) -> list[str]:
    return [e.code for e in events if isinstance(e, ev.TransactionRejected)]


def only(events: list[ev.Event], kind: type[EventT]) -> list[EventT]:
    return [e for e in events if isinstance(e, kind)]


def snapshot_all(engine: Engine) -> tuple[object, ...]:
    """Balances, pools, totals, vaults and auctions: what a refused command must leave untouched."""
    s = engine.state
    return (
        snapshot(engine),
        {a: dict(acct.vaults) for a, acct in s.accounts.items()},
        {k: (v.rate, v.art, v.dirt) for k, v in s.vault_types.items()},
        (s.debt.dirt, s.debt.kicks, dict(s.debt.auctions)),
        dict(s.drawn),
        dict(s.repaid),
    )
