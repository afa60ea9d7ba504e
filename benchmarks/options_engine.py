"""Options through the engine: a crash and a vol spike on option writers, per grid spec; and expiry
settlement of many positions in one block.

    python -m benchmarks.options_engine              # or: clearhouse bench options_engine
    python -m benchmarks.options_engine --books 30 --hours 30 --delays 1 12
    python -m benchmarks.options_engine --expiry 100000

**Lab (engine runs).** A population of ETH option writers — short-put sellers (P2700 or P2500), short
strangles (P2700 + C3300), covered calls (perp + short C3300) and delta-hedged put sellers (short P2700
+ short 0.3 × size of the 30-day dated future ETH-F), 30-day expiry, 1–10 contracts — each
deposits its **initial** requirement under the grid spec at spot 3000 times (1 + buffer), buffer
uniform in [0, 30 %] (same seed for every spec), and sells its options at the table's mark to a market
maker. Then, hourly, a block sets the index and a new scenario table (built off-chain from a flat 60 %
vol scaled along the path, as a publisher would), and a keeper sends ``LiquidateContracts`` for every
account it saw below maintenance ``delay`` hours earlier (still below: the takeover happens; healthy
again: refused). Paths (deterministic):

* **crash**: Black Thursday's waypoints (−30 % at 12 h, −56 % at 26 h, rebound to −34 % at 50 h),
  linear between them, vols × S0/S;
* **vol spike**: spot flat at 3000, vols × 1 → 2.5 over 6 h, then flat.

Reported per spec: posted collateral, capital efficiency (short notional |size| × 3000 per unit
posted), accounts liquidated, legs taken over and **bad debt** (no insurance fund is seeded, so every
deficit is bad debt: ``pools.bad_debt``), from the engine's own state — conserved, replayable.

**Expiry.** ``--expiry N``: a ledger with N positions (half options, half futures; every long has its
short) is built directly in the state (trading them one by one is not what is measured), then one
block at expiry settles them all through the engine (state root, events); the time of that block.
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from clearhouse.core.fixedpoint import WAD
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.conservation import conservation_gaps
from clearhouse.ledger.contracts import ContractPosition, ListingTerms
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.model import Account, AssetSpec, LedgerParams, MarketSpec
from clearhouse.options.instruments import DatedFuture, EuropeanOption, OptionKind
from clearhouse.options.portfolio_margin import (
    AnyGridSpec,
    DeribitStyle,
    DeriveStyle,
    LinearPosition,
    OptionPosition,
    Portfolio,
    ScenarioTable,
    Span16,
    portfolio_margin,
)
from clearhouse.options.scenario_table import OptionQuote, build_table
from clearhouse.options.settlement import OracleReport

T0 = 1_800_000_000
HOUR = 3600
DAY = 86_400
S0 = 3000
EXPIRY = T0 + 30 * DAY
TICK, STEP = WAD // 10, WAD // 100
OPTIONS = {
    "ETH-P2500": (OptionKind.PUT, 2500),
    "ETH-P2700": (OptionKind.PUT, 2700),
    "ETH-C3300": (OptionKind.CALL, 3300),
}
SPECS: dict[str, AnyGridSpec] = {
    "SPAN-16": Span16(),
    "Deribit-style": DeribitStyle(),
    "Derive-style": DeriveStyle(),
}
#: Black Thursday: (hour, level)
CRASH = ((0, 1.0), (12, 0.70), (26, 0.44), (50, 0.66))
VOL = 0.6
KEEPER, MM = "keeper", "mm"
OWNER = "00" * 32


def crash_level(hour: float) -> float:
    for (h0, l0), (h1, l1) in itertools.pairwise(CRASH):
        if hour <= h1:
            return l0 + (l1 - l0) * (hour - h0) / (h1 - h0)
    return CRASH[-1][1]


def path(kind: str, hours: int) -> list[tuple[int, float]]:
    """(spot in whole USDC cents as WAD-able int, vol multiplier) per hour."""
    out = []
    for h in range(1, hours + 1):
        if kind == "crash":
            level = crash_level(h)
            out.append((round(S0 * level, 1), 1.0 / level))
        else:
            out.append((float(S0), 1.0 + 1.5 * min(h, 6) / 6))
    return [(round(s * 10) * WAD // 10, v) for s, v in out]


def spec_of(symbol: str) -> EuropeanOption:
    kind, strike = OPTIONS[symbol]
    return EuropeanOption(symbol, "ETH", EXPIRY, TICK, STEP, STEP, option_kind=kind, strike=strike * WAD)


def make_table(spec: AnyGridSpec, spot: int, at: int, vol: float) -> ScenarioTable:
    quotes = [OptionQuote(s, k, strike * WAD, EXPIRY, vol) for s, (k, strike) in OPTIONS.items()]
    return build_table(spec, "ETH", spot, at, quotes)


@dataclass(frozen=True)
class Book:
    account: str
    kind: str
    size: int
    buffer: float


def population(n: int, seed: int) -> list[Book]:
    rng = random.Random(seed)
    kinds = ("puts", "strangle", "covered", "hedged")
    return [
        Book(f"b{i:04d}", kinds[i % len(kinds)], rng.randint(1, 10) * WAD, rng.uniform(0.0, 0.3))
        for i in range(n)
    ]


def legs(book: Book) -> tuple[list[tuple[str, int]], int, int]:
    """(short option legs (symbol, size), perp size, dated future size)."""
    if book.kind == "puts":
        strike = "ETH-P2700" if book.size % (2 * WAD) else "ETH-P2500"
        return [(strike, book.size)], 0, 0
    if book.kind == "strangle":
        return [("ETH-P2700", book.size), ("ETH-C3300", book.size)], 0, 0
    if book.kind == "hedged":
        return [("ETH-P2700", book.size)], 0, -(book.size * 3 // 10 // STEP * STEP)
    return [("ETH-C3300", book.size)], book.size, 0


@dataclass
class Outcome:
    spec: str
    path: str
    delay: int
    posted: int = 0
    short_notional: int = 0
    liquidated: set[str] = field(default_factory=set)
    legs: int = 0
    insurance_used: int = 0
    bad_debt: int = 0
    rejected_trades: int = 0
    root: str = ""


def _usdc(x: int) -> int:
    """Round up to USDC's 6 decimals."""
    unit = 10**12
    return -(-x // unit) * unit


def run(spec_name: str, kind: str, books: Sequence[Book], hours: int, delay: int) -> Outcome:
    """One engine run; returns its outcome (the engine's own numbers)."""
    spec = SPECS[spec_name]
    out = Outcome(spec_name, kind, delay)
    engine = Engine()
    params = LedgerParams("USDC", max_price_age=2 * HOUR, max_liquidations_per_block=1000)
    perp = MarketSpec("ETH-PERP", "ETH", WAD // 10, WAD // 20, liquidation_fee=WAD // 100, step_size=STEP)
    names = [MM, KEEPER, *(b.account for b in books)]
    genesis: list[c.AnyCommand] = [
        c.SetLedgerParams(params), c.ListAsset(AssetSpec("USDC", 6)), c.ListMarket(perp),
        *(c.OpenAccount(n, OWNER) for n in names),
        c.Deposit(MM, "USDC", 10**9 * WAD), c.Deposit(KEEPER, "USDC", 10**9 * WAD),
        *(c.ListContract(spec_of(s), ListingTerms()) for s in OPTIONS),
        c.ListContract(DatedFuture("ETH-F", "ETH", EXPIRY, TICK, STEP, STEP), ListingTerms()),
    ]  # fmt: skip
    engine.apply_block(Block(1, T0, {"ETH": S0 * WAD}, tuple(genesis)))
    table = make_table(spec, S0 * WAD, T0 + 60, VOL)
    txs: list[c.AnyCommand] = [c.SetScenarioTable("ETH", spec, table)]
    for book in books:
        shorts, perp_size, future_size = legs(book)
        linear = tuple(
            LinearPosition(name, size, S0 * WAD)
            for name, size in (("ETH-PERP", perp_size), ("ETH-F", future_size))
            if size
        )
        # the legs trade one by one: the book posts what its largest partial portfolio needs
        options = tuple(OptionPosition(s, -n) for s, n in shorts)
        initial = max(
            portfolio_margin(spec, table, Portfolio(options[:k], linear)).initial
            for k in range(1, len(options) + 1)
        )
        # the premium is the mark rounded down to the tick: one tick per contract of room
        deposit = _usdc(int(initial * (1 + book.buffer)) + sum(n for _, n in shorts) * TICK // WAD)
        out.posted += deposit
        out.short_notional += sum(n for _, n in shorts) * S0
        txs.append(c.Deposit(book.account, "USDC", deposit))
        if perp_size:  # the cover first: a naked call alone may need more than the covered call
            txs.append(c.Trade("ETH-PERP", book.account, MM, perp_size, S0 * WAD))
        if future_size:  # the hedge first too (short future: the book sells it)
            txs.append(c.TradeContract("ETH-F", MM, book.account, -future_size, S0 * WAD))
        for symbol, n in shorts:
            mark = table.row(symbol).mark
            txs.append(c.TradeContract(symbol, MM, book.account, n, max(mark // TICK * TICK, TICK)))
    result = engine.apply_block(Block(2, T0 + 60, {"ETH": S0 * WAD}, tuple(txs)))
    out.rejected_trades = sum(isinstance(e, ev.TransactionRejected) for e in result.events)
    flagged: dict[str, int] = {}
    height, t = 2, T0 + 60
    for hour, (spot, vol_x) in enumerate(path(kind, hours), start=1):
        height, t = height + 1, T0 + 60 + hour * HOUR
        due = sorted(a for a, h in flagged.items() if hour - h >= delay)
        sends: list[c.AnyCommand] = [c.SetScenarioTable("ETH", spec, make_table(spec, spot, t, VOL * vol_x))]
        sends += [c.LiquidateContracts(a, KEEPER) for a in due]
        for a in due:
            del flagged[a]
        result = engine.apply_block(Block(height, t, {"ETH": spot}, tuple(sends)))
        for e in result.events:
            if isinstance(e, ev.ContractLegLiquidated):
                out.legs += 1
                out.liquidated.add(e.account)
            elif isinstance(e, ev.InsuranceFundUsed):
                out.insurance_used += e.amount
        for b in books:  # the keeper watches after the block (it acts in a later one)
            acct = engine.state.accounts[b.account]
            held = acct.contracts or acct.positions
            if b.account not in flagged and held and engine.margin(b.account).liquidatable:
                flagged[b.account] = hour
    out.bad_debt = sum(engine.state.pools.bad_debt.values())
    assert all(gap == 0 for gap in conservation_gaps(engine.state).values())
    out.root = engine.state_root()
    return out


def expiry_benchmark(n: int) -> tuple[float, int, int]:
    """Seconds of the one block settling ``n`` positions, the positions settled, the dust."""
    engine = Engine()
    params = LedgerParams("USDC", max_price_age=2 * HOUR)
    future = DatedFuture("ETH-F", "ETH", EXPIRY, TICK, STEP, STEP)
    call = spec_of("ETH-C3300")
    engine.apply_block(Block(1, EXPIRY - 1800, {"ETH": S0 * WAD}, (
        c.SetLedgerParams(params), c.ListAsset(AssetSpec("USDC", 6)),
        c.ListContract(future, ListingTerms()), c.ListContract(call, ListingTerms()),
    )))  # fmt: skip
    state = engine.state
    rng = random.Random(7)
    book = state.contracts
    oi = {"ETH-F": 0, "ETH-C3300": 0}
    for i in range(n // 2):
        iid = "ETH-F" if i % 2 else "ETH-C3300"
        size = rng.randint(1, 1000) * STEP
        entry = size * rng.randint(29_000, 31_000) // 10 if iid == "ETH-F" else 0
        for j, sign in ((0, 1), (1, -1)):
            aid = f"a{2 * i + j:07d}"
            acct = state.accounts[aid] = Account(aid, OWNER, len(state.accounts))
            acct.own_contracts()[iid] = ContractPosition(sign * size, sign * entry)
        oi[iid] += size
    # every future long's basis is its short's: sum(entry) = 0, so the PnL pool holds nothing
    for iid, total in oi.items():
        book.instruments[iid] = msgspec.structs.replace(book.instruments[iid], open_interest=total)
    book.prints = {"ETH": tuple(OracleReport(EXPIRY - 1800 + 60 * k, (3300 + k) * WAD) for k in range(30))}
    state.prices = {"ETH": ((3329) * WAD, EXPIRY - 60)}
    state.height, state.time = 1, EXPIRY - 60
    engine = Engine(state=state)
    start = time.perf_counter()
    result = engine.apply_block(Block(2, EXPIRY, {"ETH": 3330 * WAD}, ()))
    seconds = time.perf_counter() - start
    settled = sum(isinstance(e, ev.ContractSettled) for e in result.events)
    dust = sum(e.dust for e in result.events if isinstance(e, ev.ExpirySettled))
    assert all(gap == 0 for gap in conservation_gaps(engine.state).values())
    return seconds, settled, dust


def main(argv: Sequence[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=60)
    parser.add_argument("--hours", type=int, default=50)
    parser.add_argument("--delays", type=int, nargs="+", default=[1, 12])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--expiry", type=int, default=0, help="also time one expiry block of N positions")
    args = parser.parse_args(argv)
    console = Console()
    books = population(args.books, args.seed)
    table = Table(title=f"options through the engine: {args.books} writers, {args.hours} h, seed {args.seed}")
    for col in ("path", "spec", "delay h", "posted", "notional/posted", "liquidated", "legs", "bad debt",
                "refused"):  # fmt: skip
        table.add_column(col, justify="right")
    for kind in ("crash", "vol spike"):
        for delay in args.delays:
            for name in SPECS:
                o = run(name, kind, books, args.hours, delay)
                table.add_row(
                    kind, name, str(delay), f"{o.posted / WAD:,.0f}",
                    f"{o.short_notional / o.posted:.2f}x", str(len(o.liquidated)), str(o.legs),
                    f"{o.bad_debt / WAD:,.0f}", str(o.rejected_trades),
                )  # fmt: skip
    console.print(table)
    if args.expiry:
        seconds, settled, dust = expiry_benchmark(args.expiry)
        console.print(f"expiry: {settled:,} positions settled in one block in {seconds * 1000:,.0f} ms "
                      f"({seconds / settled * 1e6:.1f} µs each), dust {dust} wei to the fee pool")


if __name__ == "__main__":
    main()
