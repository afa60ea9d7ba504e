"""Rich tables for the terminal: accounts, protocol pools, events (display only, never state)."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from rich.markup import escape
from rich.table import Table

from clearhouse.ledger.engine import Engine
from clearhouse.ledger.errors import ClearhouseError
from clearhouse.ledger.events import Event
from clearhouse.ledger.fixedpoint import fmt
from clearhouse.ledger.margin import isolated_summary

#: Event fields shown in WAD units, except: the funding index is RAY; durations are seconds; the plain
#: ones are counts, ids, heights and timestamps.
_RAY_FIELDS = {"index"}
_SECONDS_FIELDS = {"elapsed", "max_price_age"}
_PLAIN_FIELDS = {
    "index_position",
    "decimals",
    "auction",
    "end",
    "epoch",
    "positions",
    "tx_index",
    "until_height",
    "nonce",
}


def _show(name: str, value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and name in _SECONDS_FIELDS:
        return f"{value:,} s"
    if isinstance(value, bool) or not isinstance(value, int) or name in _PLAIN_FIELDS:
        return str(value)
    return fmt(value, 10**27 if name in _RAY_FIELDS else 10**18, 6 if name in _RAY_FIELDS else 4)


def events_table(events: Iterable[tuple[int, Event]]) -> Table:
    table = Table(title="Events", show_lines=False)
    table.add_column("block", justify="right")
    table.add_column("event")
    table.add_column("details")
    for height, event in events:
        fields = msgspec.structs.asdict(event)
        details = ", ".join(f"{k}={_show(k, v)}" for k, v in fields.items())
        table.add_row(str(height), type(event).__name__, escape(details))  # literal: lists, ids
    return table


def accounts_table(engine: Engine) -> Table:
    state = engine.state
    table = Table(title=f"Accounts at block {state.height}")
    for col in ("account", "balances", "positions (size @ entry)", "equity", "maintenance", "health"):
        table.add_column(col, justify="right" if col in {"equity", "maintenance", "health"} else "left")
    prices = engine.prices()
    for aid in sorted(state.accounts):
        acct = state.accounts[aid]
        balances = ", ".join(f"{fmt(v, places=2)} {k}" for k, v in sorted(acct.balances.items()) if v)
        positions = []
        for mid, pos in sorted(acct.positions.items()):
            entry = abs(pos.entry_value) * 10**18 // abs(pos.size) if pos.size else 0
            tag = f" [isolated, margin {fmt(pos.margin, places=2)}]" if pos.isolated else ""
            positions.append(f"{fmt(pos.size, places=3)} {mid} @ {fmt(entry, places=2)}{tag}")
            if pos.isolated and pos.size:
                iso = isolated_summary(state, pos, prices)
                positions[-1] += f" eq {fmt(iso.equity, places=2)}"
        try:
            summary = engine.margin(aid)
            health = summary.health
            cells = (
                fmt(summary.equity, places=2),
                fmt(summary.maintenance, places=2),
                "-" if health is None else fmt(health, places=3),
            )
        except ClearhouseError as err:
            cells = ("?", "?", type(err).__name__)
        table.add_row(escape(aid), escape(balances or "-"), escape("\n".join(positions) or "-"), *cells)
    return table


def protocol_table(engine: Engine) -> Table:
    state = engine.state
    table = Table(title="Protocol")
    table.add_column("item")
    table.add_column("value", justify="right")
    pools = state.pools
    for label, values in (
        ("insurance fund", pools.insurance),
        ("fee pool", pools.fees),
        ("bad debt", pools.bad_debt),
        ("deposited", state.deposited),
        ("withdrawn", state.withdrawn),
    ):
        for asset, amount in sorted(values.items()):
            table.add_row(f"{label} ({asset})", fmt(amount, places=4))
    for mid, market in sorted(state.markets.items()):
        table.add_row(f"{mid} open interest", fmt(market.open_interest, places=3))
        table.add_row(f"{mid} funding index", fmt(market.funding_index, 10**27, 6))
        table.add_row(f"{mid} PnL pool", fmt(market.pnl_pool, places=4))
    return table
