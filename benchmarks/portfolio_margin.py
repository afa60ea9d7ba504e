"""Compare margin models on the same option books, and time the exact integer portfolio-margin path.

    python -m benchmarks.portfolio_margin            # prints the table in docs/portfolio-margin.md
    python -m benchmarks.portfolio_margin --timing   # also µs per account (20 options, each grid)

Books on ETH at spot 3000 with an SVI surface (ATM vol 60 %, mild put skew), expiries 7, 30 and 90
days: a covered call, a short strangle, a calendar spread and a delta-hedged short-gamma book, plus
reference rows (naked call, long call, long perp). Every requirement is exact integer arithmetic over a
table the float pricer built once per grid spec (see docs/portfolio-margin.md).
"""

from __future__ import annotations

import argparse
import time

from clearhouse.ledger.fixedpoint import WAD, fmt, to_fixed
from clearhouse.options.instruments import OptionKind
from clearhouse.options.portfolio_margin import (
    AnyGridSpec,
    DeribitStyle,
    DeriveStyle,
    FixedFractions,
    LinearPosition,
    OptionPosition,
    Portfolio,
    ScenarioTable,
    Span16,
    fixed_fraction_margin,
    portfolio_margin,
)
from clearhouse.options.pricing import black76
from clearhouse.options.scenario_table import build_table, quotes_from_surface
from clearhouse.options.surface import SviSlice, SviSurface, implied_vol

NOW = 1_800_000_000
DAY = 86_400
SPOT = 3000 * WAD
EXPIRIES = {7: NOW + 7 * DAY, 30: NOW + 30 * DAY, 90: NOW + 90 * DAY}


def surface() -> SviSurface:
    """ATM total variance 0.6²·T at each expiry; b = 0.05, ρ = −0.3, σ = 0.1, m = 0."""
    return SviSurface(
        "ETH",
        tuple(
            SviSlice.from_floats(e, 0.36 * d / 365 - 0.005, 0.05, -0.3, 0.0, 0.1) for d, e in EXPIRIES.items()
        ),
    )


def option_id(kind: OptionKind, strike: int, days: int) -> str:
    return f"ETH-{days}D-{strike}-{'C' if kind is OptionKind.CALL else 'P'}"


LISTED = [
    (OptionKind.CALL, 3300, 30),
    (OptionKind.PUT, 2700, 30),
    (OptionKind.CALL, 3000, 30),
    (OptionKind.CALL, 3000, 90),
    (OptionKind.CALL, 3000, 7),
]


def books(surf: SviSurface) -> dict[str, Portfolio]:
    def o(kind: OptionKind, strike: int, days: int, size: float) -> OptionPosition:
        return OptionPosition(option_id(kind, strike, days), to_fixed(size))

    def perp(size: float) -> LinearPosition:
        return LinearPosition("ETH-PERP", to_fixed(size), SPOT)

    t7 = 7 / 365
    vol7 = implied_vol(surf, 3000.0, 3000.0, EXPIRIES[7], NOW)
    delta7 = float(black76("call", 3000.0, 3000.0, t7, 0.0, vol7).delta)
    return {
        "covered call (long 1 perp, short 1 C3300 30d)": Portfolio(
            (o(OptionKind.CALL, 3300, 30, -1),), (perp(1),)
        ),
        "short strangle (short P2700 + C3300 30d)": Portfolio(
            (o(OptionKind.PUT, 2700, 30, -1), o(OptionKind.CALL, 3300, 30, -1))
        ),
        "calendar spread (short C3000 30d, long C3000 90d)": Portfolio(
            (o(OptionKind.CALL, 3000, 30, -1), o(OptionKind.CALL, 3000, 90, 1))
        ),
        f"delta-hedged short gamma (short 10 C3000 7d, long {10 * delta7:.2f} perp)": Portfolio(
            (o(OptionKind.CALL, 3000, 7, -10),), (perp(round(10 * delta7, 6)),)
        ),
        "ref: naked short C3300 30d": Portfolio((o(OptionKind.CALL, 3300, 30, -1),)),
        "ref: long C3000 30d": Portfolio((o(OptionKind.CALL, 3000, 30, 1),)),
        "ref: long 1 perp": Portfolio((), (perp(1),)),
    }


def tables(surf: SviSurface, specs: dict[str, AnyGridSpec]) -> dict[str, ScenarioTable]:
    opts = [(option_id(k, s, d), k, s * WAD, EXPIRIES[d]) for k, s, d in LISTED]
    quotes = quotes_from_surface(surf, SPOT, NOW, opts)
    return {name: build_table(spec, "ETH", SPOT, NOW, quotes) for name, spec in specs.items()}


def premium(table: ScenarioTable, book: Portfolio) -> int:
    """Net mark value of the book's options (WAD; long positive)."""
    return sum(p.size * table.row(p.instrument).mark for p in book.options) // WAD


SPECS: dict[str, AnyGridSpec] = {
    "SPAN-16": Span16(),
    "Deribit-style": DeribitStyle(),
    "Derive-style": DeriveStyle(),
}


def comparison_table() -> list[str]:
    """The markdown comparison table of docs/portfolio-margin.md (a test checks the page matches)."""
    specs = SPECS
    surf = surface()
    tabs = tables(surf, specs)
    any_table = next(iter(tabs.values()))
    header = ["book", "option mark", "fixed MM / IM", *(f"{n} MM / IM" for n in specs)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, book in books(surf).items():
        mm, im = fixed_fraction_margin(FixedFractions(), any_table, book)
        cells = [name, fmt(premium(any_table, book), places=2), f"{fmt(mm, places=0)} / {fmt(im, places=0)}"]
        for spec_name, spec in specs.items():
            r = portfolio_margin(spec, tabs[spec_name], book)
            cells.append(f"{fmt(r.maintenance, places=0)} / {fmt(r.initial, places=0)}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--timing", action="store_true", help="time the exact path per account")
    args = parser.parse_args()
    specs = SPECS
    surf = surface()
    for line in comparison_table():
        print(line)
    if args.timing:
        # 20 options per account: 4 expiries × 5 strikes of calls, random-ish signed sizes
        listed = [(OptionKind.CALL, 2600 + 200 * i, d) for i in range(5) for d in (7, 30, 90)]
        listed += [(OptionKind.PUT, 2600 + 200 * i, 30) for i in range(5)]
        opts = [(option_id(k, s, d), k, s * WAD, EXPIRIES[d]) for k, s, d in listed]
        quotes = quotes_from_surface(surf, SPOT, NOW, opts)
        book = Portfolio(
            tuple(
                OptionPosition(q.instrument, ((i * 7919) % 11 - 5) * WAD // 2 or WAD)
                for i, q in enumerate(quotes)
            ),
            (LinearPosition("ETH-PERP", 3 * WAD, SPOT),),
        )
        print()
        for spec_name, spec in specs.items():
            t0 = time.perf_counter()
            table = build_table(spec, "ETH", SPOT, NOW, quotes)
            build = time.perf_counter() - t0
            n = 200
            t0 = time.perf_counter()
            for _ in range(n):
                portfolio_margin(spec, table, book)
            per = (time.perf_counter() - t0) / n
            print(
                f"{spec_name}: {len(table.scenarios)} scenarios, table for {len(quotes)} options built in "
                f"{build * 1e3:.1f} ms; exact margin of a 20-option account {per * 1e6:.0f} µs"
            )


if __name__ == "__main__":
    main()
