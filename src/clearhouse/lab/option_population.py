"""The option books of a scenario's ``[options]`` table: listings, accounts, deposits, opening trades.

Deterministic like :mod:`clearhouse.lab.population`: one ``numpy`` generator (``PCG64([seed, 7])``)
draws, in a fixed order, each book's kind, series, size and collateral buffer — before any grid spec
is read, so a sweep over ``options.grid`` compares the same books. The grid acts only at the opening:
a book deposits the largest **initial** requirement its trades pass through (the legs trade one by
one, the hedge or cover first), under the scenario's grid and the opening scenario table, times
``1 + buffer``, plus one tick per option contract (the premium is the table's mark rounded down to the
tick). A ``future_long`` book holds no option: its future is margined at the listing's fixed fractions.

Book kinds (``size`` n contracts, series ``s``): ``short_put`` (−n put), ``short_strangle`` (−n put,
−n call), ``covered_call`` (+n future, −n call), ``delta_hedged`` (−``hedge_ratio``·n future, −n put:
the short put is long delta), ``future_long`` (+n future). Every trade is against the options market
maker ``opt-mm``; keepers ``opt-keeper-NN`` take over the legs of liquidated books.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from clearhouse.core.fixedpoint import WAD
from clearhouse.lab.population import draw, owner_key, to_units
from clearhouse.lab.scenario import OptionsSpec, Scenario, per_keeper
from clearhouse.lab.scenario.schema import OPTION_BOOK_KINDS
from clearhouse.lab.scenario.units import parse_duration
from clearhouse.ledger import commands as c
from clearhouse.ledger.contracts import ListingTerms
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

#: The grid specs a scenario can name (``options.grid``), with their default parameters.
GRIDS: dict[str, AnyGridSpec] = {"span16": Span16(), "deribit": DeribitStyle(), "derive": DeriveStyle()}
BOOK_KINDS = OPTION_BOOK_KINDS
OPTION_MM = "opt-mm"


def option_keeper_id(i: int) -> str:
    return f"opt-keeper-{i:02d}"


def book_id(i: int) -> str:
    return f"opt-{i:05d}"


def _label(seconds: int) -> str:
    return f"{seconds // 86_400}D" if seconds % 86_400 == 0 else f"{-(-seconds // 3600)}H"


def _strike_text(strike: int) -> str:
    whole, frac = divmod(strike, WAD)
    return str(whole) if frac == 0 else f"{strike / WAD:g}"


@dataclass(frozen=True)
class Series:
    """One expiry: its put, call and future symbols and their expiry (engine time)."""

    expiry: int
    put: EuropeanOption
    call: EuropeanOption
    future: DatedFuture


@dataclass(frozen=True)
class OptionMarket:
    """The listed contracts of ``[options]`` at the opening index ``s0`` (float, strikes from it)."""

    spec: OptionsSpec
    grid: AnyGridSpec
    series: tuple[Series, ...]
    terms: ListingTerms
    start_time: int
    s0: float
    #: ``options.vol_points`` as (seconds after the start, multiplier), in time order.
    vol_points: tuple[tuple[int, float], ...] = ()

    @property
    def options(self) -> list[EuropeanOption]:
        return [o for s in self.series for o in (s.put, s.call)]

    def vol(self, seconds: int, spot: float) -> float:
        """The publisher's implied vol at ``seconds`` after the path's start and index ``spot``."""
        o = self.spec
        mult = 1.0
        pts = self.vol_points
        if pts:
            mult = pts[-1][1] if seconds >= pts[-1][0] else pts[0][1]
            for (t0, l0), (t1, l1) in itertools.pairwise(pts):
                if t0 <= seconds < t1:
                    mult = l0 + (l1 - l0) * (seconds - t0) / (t1 - t0)
                    break
        return float(o.vol * mult * (self.s0 / spot) ** o.vol_beta)

    def table(self, spot: int, as_of: int) -> ScenarioTable:
        """The scenario table of every option not yet expired at ``as_of``, at index ``spot`` (WAD)."""
        vol = self.vol(as_of - self.start_time, spot / WAD)
        quotes = [
            OptionQuote(o.symbol, o.option_kind, o.strike, o.expiry, vol)
            for o in self.options
            if o.expiry > as_of
        ]
        return build_table(self.grid, self.spec.underlying, spot, as_of, quotes)


def option_market(scenario: Scenario, s0: float) -> OptionMarket:
    """The contracts of ``scenario.spec.options`` with strikes from the opening index ``s0``."""
    o = scenario.spec.options
    assert o is not None
    tick, step = to_units(o.tick_size), to_units(o.step_size)
    start = scenario.spec.start_time
    window_age = max(300, scenario.block_time)
    out = []
    for i, ser in enumerate(o.series):
        offset = parse_duration(ser.expiry, scenario.file, f"options.series[{i}].expiry")
        expiry = start + offset
        stem = f"{o.underlying}-{_label(offset)}"

        def opt(kind: OptionKind, m: float, stem: str = stem, expiry: int = expiry) -> EuropeanOption:
            strike = max(round(s0 * m / (tick / WAD)), 1) * tick
            letter = "P" if kind is OptionKind.PUT else "C"
            symbol = f"{stem}-{letter}{_strike_text(strike)}"
            return EuropeanOption(
                symbol, o.underlying, expiry, tick, step, step, max_feed_age=window_age,
                option_kind=kind, strike=strike,
            )  # fmt: skip

        future = DatedFuture(f"{stem}-F", o.underlying, expiry, tick, step, step, max_feed_age=window_age)
        out.append(Series(expiry, opt(OptionKind.PUT, ser.put), opt(OptionKind.CALL, ser.call), future))
    terms = ListingTerms(
        initial_margin=to_units(o.future_initial_margin),
        maintenance_margin=to_units(o.future_maintenance_margin),
        liquidation_fee=to_units(o.liquidation_fee),
    )
    where = "options.vol_points"
    points = tuple(
        (0 if p.at in (0, "0") else parse_duration(p.at, scenario.file, f"{where}[{i}].at"), p.level)
        for i, p in enumerate(o.vol_points)
    )
    return OptionMarket(o, GRIDS[o.grid], tuple(out), terms, start, s0, points)


@dataclass(frozen=True)
class OptionBook:
    id: str
    kind: str
    series: int
    #: Contract size n (WAD) and the collateral buffer drawn for the book.
    size: int
    buffer: float
    #: Trades in order: (symbol, signed size for the book) — the cover or hedge first.
    legs: tuple[tuple[str, int], ...]


@dataclass
class OptionPopulation:
    market: OptionMarket
    books: list[OptionBook]
    keepers: list[str]
    setup: list[c.AnyCommand]
    funding: list[c.AnyCommand]
    #: Filled at the opening: per book its deposit (WAD) and short option notional (WAD, × index).
    deposits: dict[str, int] = field(default_factory=dict)
    short_notional: dict[str, int] = field(default_factory=dict)
    settle: str = "USDC"
    settle_decimals: int = 6

    @property
    def ids(self) -> list[str]:
        return [b.id for b in self.books]

    def opening(self, spot: int, time: int) -> list[c.AnyCommand]:
        """The opening block's transactions: the first scenario table, the books' deposits, their
        trades against the market maker (a book deposits what its trades need, see the module doc)."""
        m = self.market
        table = m.table(spot, time)
        settle_unit = 10 ** (18 - self.settle_decimals)
        txs: list[c.AnyCommand] = [c.SetScenarioTable(m.spec.underlying, m.grid, table)]
        trades: list[c.AnyCommand] = []
        tick = m.series[0].put.tick_size
        fim = m.terms.initial_margin
        for b in self.books:
            options: list[OptionPosition] = []
            linear: list[LinearPosition] = []
            need = 0
            short = 0
            for symbol, size in b.legs:
                if symbol.endswith("-F"):
                    linear.append(LinearPosition(symbol, size, spot))
                    trades.append(
                        c.TradeContract(symbol, b.id, OPTION_MM, size, spot)
                        if size > 0
                        else c.TradeContract(symbol, OPTION_MM, b.id, -size, spot)
                    )
                else:
                    options.append(OptionPosition(symbol, size))
                    mark = table.row(symbol).mark
                    premium = max(mark // tick * tick, tick)
                    trades.append(c.TradeContract(symbol, OPTION_MM, b.id, -size, premium))
                    short += -size * spot // WAD
                if options:
                    req = portfolio_margin(m.grid, table, Portfolio(tuple(options), tuple(linear))).initial
                else:
                    req = sum(-(-abs(p.size) * spot // WAD * fim // WAD) for p in linear)
                need = max(need, req)
            slack = sum(-s for _, s in b.legs if s < 0) * tick // WAD
            amount = int(need * (1.0 + b.buffer)) + slack
            amount = -(-amount // settle_unit) * settle_unit
            self.deposits[b.id] = amount
            self.short_notional[b.id] = short
            txs.append(c.Deposit(b.id, self.settle, amount))
        return txs + trades


def build_option_population(scenario: Scenario, seed: int, s0: float) -> OptionPopulation:
    """Listings, accounts and books of ``[options]`` (strikes from the opening index ``s0``)."""
    o = scenario.spec.options
    assert o is not None
    market = option_market(scenario, s0)
    rng = np.random.Generator(np.random.PCG64([seed, 7]))
    n = o.population.accounts
    kinds = [k for k in BOOK_KINDS if o.population.books.get(k, 0.0) > 0] or list(BOOK_KINDS)
    kw = np.array([o.population.books.get(k, 1.0) for k in kinds], dtype=np.float64)
    sw = np.array([s.weight for s in o.series], dtype=np.float64)
    kind_ix = rng.choice(len(kinds), size=n, p=kw / kw.sum())
    series_ix = rng.choice(len(o.series), size=n, p=sw / sw.sum())
    sizes = draw(rng, o.population.size, n)
    buffers = draw(rng, o.population.buffer, n)
    step = market.series[0].put.step_size
    books = []
    for i in range(n):
        ser = market.series[int(series_ix[i])]
        kind = kinds[int(kind_ix[i])]
        size = max(to_units(float(sizes[i]), 18, "down") // step, 1) * step
        hedge = max(to_units(float(sizes[i]) * o.population.hedge_ratio, 18, "down") // step, 1) * step
        legs: tuple[tuple[str, int], ...] = {
            "short_put": ((ser.put.symbol, -size),),
            "short_strangle": ((ser.put.symbol, -size), (ser.call.symbol, -size)),
            "covered_call": ((ser.future.symbol, size), (ser.call.symbol, -size)),
            "delta_hedged": ((ser.future.symbol, -hedge), (ser.put.symbol, -size)),
            "future_long": ((ser.future.symbol, size),),
        }[kind]
        books.append(OptionBook(book_id(i), kind, int(series_ix[i]), size, float(buffers[i]), legs))
    settle = scenario.params.settlement_asset
    decimals = next(a.decimals for a in scenario.assets if a.id == settle)
    keepers = [option_keeper_id(i) for i in range(o.keepers.count)]
    setup: list[c.AnyCommand] = []
    for ser in market.series:
        setup += [c.ListContract(x, market.terms) for x in (ser.put, ser.call, ser.future)]
    setup += [c.OpenAccount(a, owner_key(a)) for a in [OPTION_MM, *keepers, *(b.id for b in books)]]
    funding: list[c.AnyCommand] = [
        c.Deposit(OPTION_MM, settle, to_units(o.market_maker_capital, decimals)),
        *(c.Deposit(k, settle, to_units(o.keepers.capital, decimals)) for k in keepers),
    ]
    return OptionPopulation(
        market, books, keepers, setup, funding, settle=settle, settle_decimals=decimals
    )


def keeper_latency(spec: OptionsSpec, i: int) -> int:
    return int(per_keeper(spec.keepers.latency_blocks, i))
