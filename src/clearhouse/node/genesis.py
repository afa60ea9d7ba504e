"""Block 1 of a devnet: the settlement asset, an ETH perpetual and its oracle feed, the insurance fund.

The genesis block is a pure function of the configuration (and of ``start_time``), so two nodes with the
same ``node.toml`` journal the same first row. Enforcement is left to keepers (``enforcement = "off"``):
the engine liquidates only when a keeper asks, which is what the devnet demonstrates.
"""

from __future__ import annotations

from clearhouse.demo.session import ETH_PERP
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block
from clearhouse.ledger.fixedpoint import WAD, to_fixed
from clearhouse.ledger.model import AssetSpec, LedgerParams
from clearhouse.node.config import NodeConfig
from clearhouse.oracle.config import FeedConfig, MedianConfig

SETTLEMENT = "USDC"
MARKET = ETH_PERP


def feed_sources(cfg: NodeConfig, feed: str) -> tuple[str, ...]:
    return tuple(sorted(r.source for r in cfg.genesis.reporters if r.feed == feed))


def genesis_block(cfg: NodeConfig, start_time: int) -> Block:
    g = cfg.genesis
    txs: list[c.AnyCommand] = [
        c.SetLedgerParams(LedgerParams(settlement_asset=SETTLEMENT, max_price_age=g.max_price_age)),
        c.ListAsset(AssetSpec(SETTLEMENT, decimals=6, haircut=WAD)),
        c.ListMarket(MARKET),
    ]
    prices: dict[str, int] = {}
    sources = feed_sources(cfg, MARKET.oracle)
    if sources:
        feed = FeedConfig(MARKET.oracle, sources, MedianConfig(), report_max_age=g.report_max_age)
        txs.append(c.ConfigureOracle(feed))
    else:
        # No reporters configured: the price is set by blocks (tests of the node without reporters).
        prices[MARKET.oracle] = 2000 * WAD
    txs.append(c.DepositInsurance(SETTLEMENT, to_fixed(g.insurance)))
    return Block(1, start_time, prices, tuple(txs))
