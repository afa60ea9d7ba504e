"""Builders for risk tests: ledger states constructed directly (fast) and an engine-driven book."""

from __future__ import annotations

from clearhouse.ledger.fixedpoint import RAY, WAD
from clearhouse.ledger.model import (
    Account,
    AssetSpec,
    LedgerParams,
    LedgerState,
    MarketSpec,
    MarketState,
    Position,
)

E = WAD
USDC = AssetSpec("USDC", decimals=6)
ETH = AssetSpec("ETH", haircut=9 * WAD // 10)
ETH_PERP = MarketSpec("ETH-PERP", "ETH", initial_margin=E // 10, maintenance_margin=E // 20)
BTC_PERP = MarketSpec("BTC-PERP", "BTC", initial_margin=E // 20, maintenance_margin=E // 40)


def empty_state(time: int = 1_000) -> LedgerState:
    state = LedgerState(params=LedgerParams("USDC", max_price_age=10**9), height=1, time=time)
    state.assets = {"USDC": USDC, "ETH": ETH}
    state.markets = {
        "ETH-PERP": MarketState(ETH_PERP, funding_index=0, last_funding_time=time),
        "BTC-PERP": MarketState(BTC_PERP, funding_index=0, last_funding_time=time),
    }
    state.prices = {"ETH": (2000 * E, time), "BTC": (40_000 * E, time)}
    return state


def add_account(
    state: LedgerState,
    aid: str,
    balances: dict[str, int] | None = None,
    positions: list[Position] | None = None,
) -> Account:
    acct = Account(aid, f"{len(state.accounts):064x}", len(state.accounts))
    acct.balances = dict(balances or {})
    acct.positions = {p.market: p for p in positions or []}
    state.accounts[aid] = acct
    return acct


__all__ = ["BTC_PERP", "ETH", "ETH_PERP", "RAY", "USDC", "E", "add_account", "empty_state"]
