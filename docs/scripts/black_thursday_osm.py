"""Plot Black Thursday ETH (Binance 30-min bars) against a one-hour OSM-delayed oracle.

Run from the repository root with ../shared/data beside it:

    python docs/scripts/black_thursday_osm.py      # writes docs/img/black_thursday_osm.png
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from clearhouse.oracle.config import DelayConfig, FeedConfig, MedianConfig
from clearhouse.oracle.feed import OracleFeed
from clearhouse.oracle.sources import MDD_OHLCV, bar_reports, read_bars

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def main() -> None:
    bars = read_bars(DATA / "binance_ethusdt_30m_2020-03-01_2020-03-31.csv", MDD_OHLCV)
    feed = OracleFeed(
        FeedConfig(asset="ETH", sources=("binance",), aggregator=MedianConfig(), policies=(DelayConfig(3600),))
    )
    start = int(dt.datetime(2020, 3, 12, tzinfo=dt.UTC).timestamp())
    end = start + 2 * 86400
    times, spot, osm = [], [], []
    for report in bar_reports(bars, "binance", "ETH", 1800, "path"):
        reading = feed.update(report.observed_at, [report])
        if start <= report.observed_at < end and reading.price is not None:
            times.append(dt.datetime.fromtimestamp(report.observed_at, dt.UTC))
            spot.append(report.price / 1e18)
            osm.append(reading.price / 1e18)
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(times, spot, label="Binance ETH/USDT (spot)", lw=1.2)
    ax.step(times, osm, where="post", label="oracle acted on (1 h delay, OSM-style)", lw=1.2)
    ax.set_ylabel("USD")
    ax.set_title("Black Thursday 2020-03-12/13: a one-hour delayed oracle lags the crash and the rebound")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    out = Path(__file__).resolve().parents[1] / "img" / "black_thursday_osm.png"
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
