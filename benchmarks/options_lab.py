"""What the grids would have required: option books through a crash and a volatility spike (no engine).

    python -m benchmarks.options_lab            # or: clearhouse bench options --lab
    python -m benchmarks.options_lab --quick

A population of ETH option books — short-put sellers, short strangles, covered calls, delta-hedged
short-gamma books and protective-put holders (perp + long put) — each posts, under each margin model,
its **initial** requirement at spot 3000 times (1 + buffer), buffer uniform in [0, 30 %] (the same draw
for every model). Two paths from the lab price models, hourly:

* **crash**: the Black Thursday waypoints (−30 % at 12 h, −56 % at 26 h, rebound to −34 % at 50 h,
  ``WaypointModel``, bridge noise 80 %), implied vols rising as spot falls (``σ × (S0/S)^1``);
* **vol spike**: spot from a quiet GBM (30 % vol, 24 h), implied vols × 1 → 2.5 within 6 hours.

At every hour each model revalues every book (options at Black-76 marks on the scaled SVI surface,
perps at spot, time decay included): the portfolio-margin specs through the float screen and the exact
check of its candidates (:mod:`clearhouse.risk.portfolio_scan`), the fixed per-instrument model
exactly. An account is **flagged** the first hour its exact equity is below maintenance, and in this
model it is closed one hour later at that hour's marks (no penalty, no slippage, no auction);
**shortfall** = the negative equity left then (bad debt). "Held" shortfall: the same books never
liquidated, negative equity at the worst hour. This is a lab model of the requirement only:
liquidation of options accounts through the engine is **not yet wired**.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.portfolio_margin import NOW, SPOT, surface
from clearhouse.lab.prices import BLACK_THURSDAY, build_price_model
from clearhouse.ledger.fixedpoint import WAD
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
from clearhouse.options.scenario_table import OptionQuote, build_table
from clearhouse.options.surface import implied_vol
from clearhouse.risk.portfolio_scan import OptionsAccount, PortfolioBook, enforce, exact_equity, screen

DAY = 86_400
HOUR = 3600
S0 = SPOT / WAD
#: (name, kind, strike, days to expiry)
LISTED = (
    ("C3000-7", OptionKind.CALL, 3000, 7),
    ("C3300-30", OptionKind.CALL, 3300, 30),
    ("P2500-30", OptionKind.PUT, 2500, 30),
    ("P2700-30", OptionKind.PUT, 2700, 30),
)
SPECS: dict[str, AnyGridSpec] = {
    "SPAN-16": Span16(),
    "Deribit-style": DeribitStyle(),
    "Derive-style": DeriveStyle(),
}
MODELS = ("fixed", *SPECS)
#: Hours between the first flag and the close (the second: a congested network, as on Black Thursday).
DELAYS = (1, 12)
ARCHETYPES = ("short puts", "short strangle", "covered call", "hedged short gamma", "protective put")


@dataclass(frozen=True)
class Book:
    archetype: str
    options: tuple[tuple[str, int], ...]
    perp: int  # WAD


def base_vols() -> dict[str, float]:
    surf = surface()
    return {
        name: implied_vol(surf, float(k), S0, NOW + d * DAY, NOW) for name, _, k, d in LISTED
    }


def population(rng: np.random.Generator, per_archetype: int) -> list[Book]:
    vol7 = base_vols()["C3000-7"]
    delta7 = float(black76("call", S0, 3000.0, 7 / 365, 0.0, vol7).delta)
    books = []
    for arch in ARCHETYPES:
        for _ in range(per_archetype):
            z = int(rng.integers(1, 11))  # 1..10 contracts
            size = z * WAD
            if arch == "short puts":
                name = "P2700-30" if rng.random() < 0.5 else "P2500-30"
                books.append(Book(arch, ((name, -size),), 0))
            elif arch == "short strangle":
                books.append(Book(arch, (("P2700-30", -size), ("C3300-30", -size)), 0))
            elif arch == "covered call":
                books.append(Book(arch, (("C3300-30", -size),), size))
            elif arch == "hedged short gamma":
                books.append(Book(arch, (("C3000-7", -size),), round(z * delta7 * 100) * WAD // 100))
            else:
                books.append(Book(arch, (("P2700-30", size),), size))
    return books


def tables_at(spot: float, t: int, vol_mult: float, vols: dict[str, float]) -> dict[str, ScenarioTable]:
    spot_w = round(spot * 1e6) * 10**12
    quotes = [
        OptionQuote(name, kind, k * WAD, NOW + d * DAY, vols[name] * vol_mult) for name, kind, k, d in LISTED
    ]
    return {m: build_table(spec, "ETH", spot_w, t, quotes) for m, spec in SPECS.items()}


def account_at(book: Book, ident: str, cash0: int, spot_w: int) -> OptionsAccount:
    """The book at a spot: cash includes the perp's P&L since the start (entry at S0)."""
    pnl = book.perp * (spot_w - SPOT) // WAD
    lin = (LinearPosition("ETH-PERP", book.perp, spot_w),) if book.perp else ()
    opts = tuple(OptionPosition(n, z) for n, z in book.options)
    return OptionsAccount(ident, cash0 + pnl, Portfolio(opts, lin))


def run_path(
    name: str, spots: list[float], vol_mults: list[float], books: list[Book], buffers: list[float]
) -> dict[str, dict[str, Any]]:
    vols = base_vols()
    ids = [f"b{i:05d}" for i in range(len(books))]
    steps = [
        tables_at(s, NOW + h * HOUR, v, vols) for h, (s, v) in enumerate(zip(spots, vol_mults, strict=True))
    ]
    spot_ws = [round(s * 1e6) * 10**12 for s in spots]
    out: dict[str, dict[str, Any]] = {}
    for model in MODELS:
        tab0 = steps[0]["Derive-style" if model == "fixed" else model]
        cash: list[int] = []
        for book, ident, buf in zip(books, ids, buffers, strict=True):
            acct = account_at(book, ident, 0, spot_ws[0])
            if model == "fixed":
                im = fixed_fraction_margin(FixedFractions(), tab0, acct.portfolio)[1]
            else:
                im = portfolio_margin(SPECS[model], tab0, acct.portfolio).initial
            marks = exact_equity(tab0, acct)  # option marks (cash 0)
            cash.append(round(im * (1 + buf)) - marks)  # equity at t0 = IM x (1 + buffer)
        flagged_at: dict[int, int] = {}
        worst_eq = [0] * len(books)
        for h, tabs in enumerate(steps):
            tab = tabs["Derive-style" if model == "fixed" else model]
            accts = [account_at(b, i, c, spot_ws[h]) for b, i, c in zip(books, ids, cash, strict=True)]
            eqs = [exact_equity(tab, a) for a in accts]
            worst_eq = [min(w, e) for w, e in zip(worst_eq, eqs, strict=True)] if h else eqs
            if model == "fixed":
                bad = [
                    j for j, a in enumerate(accts)
                    if eqs[j] < fixed_fraction_margin(FixedFractions(), tab, a.portfolio)[0]
                ]  # fmt: skip
            else:
                live = [j for j in range(len(accts)) if j not in flagged_at]
                sub = [accts[j] for j in live]
                res = screen(PortfolioBook.from_accounts(tab, sub), SPECS[model], tab)
                liq = {x.account for x in enforce(SPECS[model], tab, sub, res)}
                bad = [j for j in live if ids[j] in liq]
            for j in bad:
                flagged_at.setdefault(j, h)
        posted = sum(
            c + exact_equity(tab0, account_at(b, i, 0, spot_ws[0]))
            for b, i, c in zip(books, ids, cash, strict=True)
        )
        by_arch = {a: sum(1 for j in flagged_at if books[j].archetype == a) for a in ARCHETYPES}
        out[model] = {
            "posted": posted / WAD,
            "flagged": len(flagged_at),
            "flagged_by_archetype": by_arch,
            "held_shortfall": sum(max(-e, 0) for e in worst_eq) / WAD,
        }
        for delay in DELAYS:
            shortfall = bad = 0
            for j, h in flagged_at.items():
                close = min(h + delay, len(steps) - 1)
                tab = steps[close]["Derive-style" if model == "fixed" else model]
                eq = exact_equity(tab, account_at(books[j], ids[j], cash[j], spot_ws[close]))
                shortfall += max(-eq, 0)
                bad += eq < 0
            out[model][f"shortfall_{delay}h"] = shortfall / WAD
            out[model][f"bad_debt_accounts_{delay}h"] = bad
    return out


def paths(seed: int) -> dict[str, tuple[list[float], list[float]]]:
    crash_t = np.arange(0, 51 * HOUR, HOUR)
    points = [{"at": p.at, "level": p.level} for p in BLACK_THURSDAY]
    model = build_price_model("waypoints", {"assets": ["ETH"], "s0": S0, "points": points, "vol": 0.8})
    crash = model.path(crash_t, seed)[:, 0].tolist()
    spike_t = np.arange(0, 25 * HOUR, HOUR)
    quiet = build_price_model("gbm", {"assets": ["ETH"], "s0": S0, "vol": 0.3})
    spike = quiet.path(spike_t, seed)[:, 0].tolist()
    spike_vol = [1.0 + 1.5 * min(h / 6, 1.0) for h in range(len(spike))]
    return {
        "crash (Black Thursday waypoints, vol ∝ 1/spot)": (crash, [S0 / s for s in crash]),
        "vol spike (quiet spot, implied vol x2.5 in 6 h)": (spike, spike_vol),
    }


def run(console: Console, seed: int = 13, quick: bool = False) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    books = population(rng, 20 if quick else 100)
    buffers = rng.uniform(0.0, 0.3, size=len(books)).tolist()
    results: dict[str, Any] = {"books": len(books), "per_archetype": len(books) // len(ARCHETYPES)}
    for label, (spots, vm) in paths(seed).items():
        res = run_path(label, spots, vm, books, buffers)
        results[label] = res
        table = Table(
            title=f"{label}: {len(books)} books ({', '.join(ARCHETYPES)}), low {min(spots):,.0f}, "
            f"end {spots[-1]:,.0f} (lab model of the requirement, not through the engine)"
        )
        cols = ["model", "posted (IM x (1+buffer))", "flagged", "of them: " + " / ".join(ARCHETYPES)]
        cols += [f"shortfall (accounts), closed {d} h later" for d in DELAYS] + ["shortfall if never closed"]
        for col in cols:
            table.add_column(col, justify="right")
        for model, r in res.items():
            table.add_row(
                model, f"{r['posted']:,.0f}", f"{r['flagged']}",
                " / ".join(str(r["flagged_by_archetype"][a]) for a in ARCHETYPES),
                *(f"{r[f'shortfall_{d}h']:,.0f} ({r[f'bad_debt_accounts_{d}h']})" for d in DELAYS),
                f"{r['held_shortfall']:,.0f}",
            )  # fmt: skip
        console.print(table)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.options_lab", description=(__doc__ or "").split("\n\n")[0]
    )
    ap.add_argument("--quick", action="store_true", help="20 books per archetype instead of 100")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    run(Console(width=max(Console().width, 160)), seed=args.seed, quick=args.quick)


if __name__ == "__main__":
    main()
