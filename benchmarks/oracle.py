"""Oracle benchmark: source reports aggregated per second, 100 assets x 10 sources.

Run from the repository root::

    python -m benchmarks.oracle            # 100 assets x 10 sources x 200 rounds (200k reports/case)
    python -m benchmarks.oracle --quick    # 20 rounds, for a smoke run

Prints a table and writes ``bench-results/oracle.json``. Each case is timed as the best of
``--repeat`` runs over the same pre-built reports (building reports is the CSV/price-model
boundary and is timed on its own line). The baseline, measured in the same run, is
``statistics.median`` over the same prices as floats: no validation, no integers, no state.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks._common import write_results
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.oracle import (
    AnchorBandConfig,
    CircuitBreakerConfig,
    DelayConfig,
    DeviationHeartbeatConfig,
    FeedConfig,
    MaxAgeConfig,
    MedianConfig,
    OracleFeed,
    PolicyConfig,
    PythConfig,
    SourceReport,
    TwapConfig,
    WeightedMedianConfig,
)
from clearhouse.oracle.aggregators import Median
from clearhouse.oracle.config import AggregatorConfig

ASSETS = 100
SOURCES = tuple(f"s{i}" for i in range(10))
BLOCK = 2  # seconds between updates

Batches = list[tuple[int, list[list[SourceReport]]]]  # per round: time, per asset: reports


def make_reports(rounds: int, seed: int) -> tuple[Batches, float]:
    rng = random.Random(seed)
    assets = [f"A{i:03d}" for i in range(ASSETS)]
    base = [rng.randint(1, 100_000) * WAD for _ in assets]
    out: Batches = []
    start = time.perf_counter()
    for r in range(rounds):
        t = 1_000 + r * BLOCK
        per_asset = []
        for a, name in enumerate(assets):
            p = base[a] * (10_000 + rng.randint(-20, 20)) // 10_000
            base[a] = p
            per_asset.append(
                [
                    SourceReport(
                        s,
                        name,
                        p * (10_000 + rng.randint(-10, 10)) // 10_000,
                        t - rng.randint(0, 1),
                        p // 500,
                    )
                    for s in SOURCES
                ]
            )
        out.append((t, per_asset))
    return out, time.perf_counter() - start


def feeds(aggregator: AggregatorConfig, policies: tuple[PolicyConfig, ...]) -> list[OracleFeed]:
    return [
        OracleFeed(
            FeedConfig(
                asset=f"A{i:03d}",
                sources=SOURCES,
                aggregator=aggregator,
                policies=policies,
                report_max_age=60,
            )
        )
        for i in range(ASSETS)
    ]


def run_feeds(aggregator: AggregatorConfig, policies: tuple[PolicyConfig, ...]) -> Callable[[Batches], None]:
    def run(batches: Batches) -> None:
        fs = feeds(aggregator, policies)
        for t, per_asset in batches:
            for f, reports in zip(fs, per_asset, strict=True):
                f.update(t, reports)

    return run


def run_median(batches: Batches) -> None:
    agg = Median()
    for t, per_asset in batches:
        for reports in per_asset:
            agg.aggregate(t, reports)


@dataclasses.dataclass(frozen=True)
class Result:
    case: str
    reports: int
    seconds: float
    reports_per_s: float
    vs_baseline: float
    us_per_update: float


def timed(fn: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


W = WAD
CASES: list[tuple[str, Callable[[Batches], None]]] = [
    ("Median.aggregate (integers, no feed)", run_median),
    ("feed: median, no policy", run_feeds(MedianConfig(), ())),
    (
        "feed: median + deviation/heartbeat + max_age",
        run_feeds(
            MedianConfig(),
            (DeviationHeartbeatConfig(deviation=5 * W // 1000, heartbeat=3600), MaxAgeConfig(max_age=60)),
        ),
    ),
    (
        "feed: weighted median + circuit breaker + anchor band",
        run_feeds(
            WeightedMedianConfig(
                weights={s: 3 if i == 0 else (2 if i < 3 else 1) for i, s in enumerate(SOURCES)}
            ),
            (CircuitBreakerConfig(max_move=W // 10, interval=60), AnchorBandConfig(band=W // 5, window=1800)),
        ),
    ),
    ("feed: pyth aggregate", run_feeds(PythConfig(min_publishers=3), ())),
    ("feed: twap(median) + delay 3600", run_feeds(TwapConfig(window=1800), (DelayConfig(delay=3600),))),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench-results/oracle.json"))
    args = parser.parse_args()
    rounds = 20 if args.quick else args.rounds
    batches, build_s = make_reports(rounds, seed=42)
    n = rounds * ASSETS * len(SOURCES)

    # baseline: the same prices as floats (converted outside the timing), statistics.median per asset
    floats = [[[r.price / WAD for r in reports] for reports in per_asset] for _, per_asset in batches]

    def baseline() -> None:
        for per_asset in floats:
            for prices in per_asset:
                statistics.median(prices)

    timings = [("baseline: statistics.median on floats", timed(baseline, args.repeat))]
    timings += [(name, timed(functools.partial(fn, batches), args.repeat)) for name, fn in CASES]
    base = n / timings[0][1]
    results = [
        Result(name, n, elapsed, n / elapsed, n / elapsed / base, elapsed / (rounds * ASSETS) * 1e6)
        for name, elapsed in timings
    ]

    console = Console(width=120)
    table = Table(title=f"oracle: {ASSETS} assets x {len(SOURCES)} sources x {rounds} rounds = {n:,} reports")
    for col in ("case", "reports/s", "µs / asset update", "vs float median"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in results:
        table.add_row(r.case, f"{r.reports_per_s:,.0f}", f"{r.us_per_update:.1f}", f"{r.vs_baseline:.2f}x")
    table.add_row("(building SourceReports, validated)", f"{n / build_s:,.0f}", "", "")
    console.print(table)

    target = 100_000
    slowest = min((r for r in results if r.case.startswith("feed:")), key=lambda r: r.reports_per_s)
    verdict = "meets" if slowest.reports_per_s >= target else "misses"
    console.print(
        f"slowest feed case {slowest.reports_per_s:,.0f} reports/s: {verdict} the {target:,}/s target"
    )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "oracle",
        "assets": ASSETS,
        "sources": len(SOURCES),
        "rounds": rounds,
        "repeat": args.repeat,
        "target_reports_per_s": target,
        "build_reports_per_s": n / build_s,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": [dataclasses.asdict(r) for r in results],
    }
    write_results(args.out, doc, console)


if __name__ == "__main__":
    main()
