"""``clearhouse risk``: exact risk views of a ledger state as plain data and rich tables."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from clearhouse.core.errors import ClearhouseError
from clearhouse.core.fixedpoint import fmt
from clearhouse.ledger.model import LedgerState
from clearhouse.risk.views import (
    account_risk,
    health_distribution,
    isolated_risk,
    liquidation_price,
    market_risk,
)


def _num(value: int | None, places: int = 4) -> str | None:
    return None if value is None else fmt(value, places=places)


def risk_views(state: LedgerState) -> dict[str, Any]:
    """Every view as JSON-ready data (decimal strings; exact integers are in the ledger)."""
    accounts: list[dict[str, Any]] = []
    for aid in sorted(state.accounts):
        acct = state.accounts[aid]
        try:
            buckets = [account_risk(state, aid)]
            buckets += [isolated_risk(state, aid, m) for m, p in sorted(acct.positions.items()) if p.isolated]
        except ClearhouseError as err:
            accounts.append({"account": aid, "error": str(err)})
            continue
        for b in buckets:
            row: dict[str, Any] = {
                "account": aid,
                "bucket": b.market or "cross",
                "equity": _num(b.equity),
                "initial": _num(b.initial),
                "maintenance": _num(b.maintenance),
                "notional": _num(b.notional),
                "health": _num(b.health),
                "leverage": _num(b.leverage),
                "liquidatable": b.liquidatable,
                "liquidation_prices": {},
            }
            for mid, pos in sorted(acct.positions.items()):
                if pos.size and pos.isolated == (b.market is not None) and (b.market in (None, mid)):
                    lp = liquidation_price(state, aid, mid)
                    row["liquidation_prices"][mid] = {
                        "below": _num(lp.lower, 2),
                        "above": _num(lp.upper, 2),
                        "method": lp.method,
                    }
            accounts.append(row)
    markets = {
        mid: {
            "open_interest": _num(m.open_interest, 3),
            "long_notional": _num(m.long_notional, 2),
            "short_notional": _num(m.short_notional, 2),
            "long_accounts": m.long_accounts,
            "short_accounts": m.short_accounts,
            "account_skew": _num(m.account_skew),
        }
        for mid, m in market_risk(state).items()
    }
    dist = health_distribution(state)
    distribution = {
        "total_notional": _num(dist.total_notional, 2),
        "liquidatable": _num(dist.liquidatable, 2),
        "within_5pct": _num(dist.within_5, 2),
        "within_10pct": _num(dist.within_10, 2),
        "within_20pct": _num(dist.within_20, 2),
        "buckets": dist.buckets,
    }
    return {"height": state.height, "accounts": accounts, "markets": markets, "health": distribution}


def risk_tables(views: dict[str, Any]) -> list[Table]:
    accounts = Table(title=f"Account risk at block {views['height']}")
    for col in ("account", "bucket", "equity", "maintenance", "health", "leverage", "liquidation price"):
        accounts.add_column(col, justify="left" if col in {"account", "bucket"} else "right")
    for row in views["accounts"]:
        if "error" in row:
            accounts.add_row(escape(row["account"]), "-", escape(row["error"]), "", "", "", "")
            continue
        liq = ", ".join(
            f"{m} {v['below'] or '-'} / {v['above'] or '-'}" for m, v in row["liquidation_prices"].items()
        )
        flag = " [red]LIQ[/]" if row["liquidatable"] else ""
        accounts.add_row(
            escape(row["account"]),
            row["bucket"],
            row["equity"],
            row["maintenance"],
            (row["health"] or "-") + flag,
            row["leverage"] or "-",
            liq or "-",
        )
    markets = Table(title="Markets")
    for col in ("market", "open interest", "long notional", "short notional", "accounts long/short", "skew"):
        markets.add_column(col, justify="right")
    for mid, m in views["markets"].items():
        markets.add_row(
            mid,
            m["open_interest"],
            m["long_notional"],
            m["short_notional"],
            f"{m['long_accounts']}/{m['short_accounts']}",
            m["account_skew"] or "-",
        )
    dist = views["health"]
    health = Table(title="Notional by distance to liquidation")
    for col in ("total", "liquidatable", "within 5%", "within 10%", "within 20%"):
        health.add_column(col, justify="right")
    health.add_row(
        dist["total_notional"],
        dist["liquidatable"],
        dist["within_5pct"],
        dist["within_10pct"],
        dist["within_20pct"],
    )
    return [accounts, markets, health]
