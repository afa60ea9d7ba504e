"""JSON views of the ledger for the API (exact integers; WAD amounts stay integers)."""

from __future__ import annotations

from typing import Any

from clearhouse.ledger.errors import ClearhouseError
from clearhouse.ledger.margin import fresh_price_lookup
from clearhouse.ledger.model import LedgerState
from clearhouse.node.liquidations import liquidation_queue
from clearhouse.risk import views


def account_view(state: LedgerState, account_id: str) -> dict[str, Any] | None:
    acct = state.accounts.get(account_id)
    if acct is None:
        return None
    positions = []
    for mid in sorted(acct.positions):
        p = acct.positions[mid]
        lower = upper = None
        if p.size:
            try:
                lp = views.liquidation_price(state, account_id, mid)
                lower, upper = lp.lower, lp.upper
            except (ClearhouseError, ValueError, ZeroDivisionError):
                pass
        positions.append({
            "market": mid, "size": p.size, "entry_value": p.entry_value, "isolated": p.isolated,
            "margin": p.margin, "liquidation_price_lower": lower, "liquidation_price_upper": upper,
        })
    margin: dict[str, Any] | None
    try:
        r = views.account_risk(state, account_id)
        margin = {
            "equity": r.equity, "initial": r.initial, "maintenance": r.maintenance, "notional": r.notional,
            "health": r.health, "leverage": r.leverage, "liquidatable": r.liquidatable,
        }
    except ClearhouseError:
        margin = None
    return {
        "id": acct.id, "owner": acct.owner, "balances": dict(sorted(acct.balances.items())),
        "positions": positions, "margin": margin,
    }


def market_views(state: LedgerState) -> list[dict[str, Any]]:
    try:
        risk = views.market_risk(state)
    except ClearhouseError:
        risk = {}
    out = []
    for mid in sorted(state.markets):
        m = state.markets[mid]
        index = state.prices.get(m.spec.oracle)
        r = risk.get(mid)
        out.append({
            "id": mid, "oracle": m.spec.oracle, "index_price": index[0] if index else None,
            "index_time": index[1] if index else None, "mark_price": m.mark_price or None,
            "funding_index": m.funding_index, "last_funding_time": m.last_funding_time,
            "open_interest": m.open_interest, "last_trade_price": m.last_trade_price or None,
            "long_accounts": r.long_accounts if r else None,
            "short_accounts": r.short_accounts if r else None,
            "initial_margin": m.spec.initial_margin, "maintenance_margin": m.spec.maintenance_margin,
            "step_size": m.spec.step_size, "price_band": m.spec.price_band,
        })
    return out


def oracle_views(state: LedgerState) -> list[dict[str, Any]]:
    out = []
    for key in sorted(state.oracles):
        feed = state.oracles[key]
        price = state.prices.get(key)
        out.append({
            "feed": key, "state": feed.state.value, "price": price[0] if price else None,
            "price_time": price[1] if price else None,
            "reports": [
                {"source": r.source, "price": r.price, "observed_at": r.observed_at}
                for r in feed.latest_reports()
            ],
        })
    return out


def insurance_view(state: LedgerState) -> dict[str, Any]:
    pools = state.pools
    return {
        "insurance": dict(sorted(pools.insurance.items())), "fees": dict(sorted(pools.fees.items())),
        "bad_debt": dict(sorted(pools.bad_debt.items())), "backstop": dict(sorted(pools.backstop.items())),
    }


def queue_view(state: LedgerState) -> list[dict[str, Any]]:
    try:
        fresh_price_lookup(state)
        queue = liquidation_queue(state)
    except ClearhouseError:
        return []
    return [
        {"account": c.target[0], "market": c.target[1], "equity": c.equity, "maintenance": c.maintenance,
         "health": c.health}
        for c in queue
    ]
