"""The first blocks of a devnet, a pure function of the configuration and the start time.

Block 1 is bare (the bootstrap rule of docs/auth.md): ledger parameters, the settlement asset, an ETH
perpetual, its oracle feed (a median of the configured reporters' sources), the insurance fund, with
``[genesis.steward]`` the risk steward (``ConfigureSteward`` and the market's ``SetGuardrail`` commands,
:mod:`clearhouse.node.steward_genesis`), with ``[genesis.vaults]`` a vault type with a Dutch auction
(:mod:`clearhouse.node.vault_genesis`), and ``ConfigureAuth`` (chain id, admin keys); from block 2 on
every command must be signed. Block 2, signed by
the admin key of ``genesis.admin_key_file``, whitelists each reporter key for its source
(``AuthorizeReporter``). Enforcement is left to keepers (``enforcement = "off"``): the engine liquidates
only when a keeper asks, which is what the devnet shows.
"""

from __future__ import annotations

from pathlib import Path

from clearhouse.auth.commands import AuthorizeReporter
from clearhouse.auth.envelope import encode_signed, sign
from clearhouse.auth.keys import load_key
from clearhouse.demo.session import ETH_PERP
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block
from clearhouse.ledger.fixedpoint import WAD, to_fixed
from clearhouse.ledger.model import AssetSpec, LedgerParams
from clearhouse.node.config import NodeConfig
from clearhouse.node.steward_genesis import steward_txs
from clearhouse.node.vault_genesis import vault_txs
from clearhouse.oracle.config import FeedConfig, MedianConfig

SETTLEMENT = "USDC"
MARKET = ETH_PERP


def feed_sources(cfg: NodeConfig, feed: str) -> tuple[str, ...]:
    return tuple(sorted(r.source for r in cfg.genesis.reporters if r.feed == feed))


def genesis_block(cfg: NodeConfig, start_time: int) -> Block:
    g = cfg.genesis
    r = cfg.replay
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
        # No reporters: the price is written by every block (benchmarks, tests without reporters).
        prices[MARKET.oracle] = to_fixed(g.fixed_price)
    txs.append(c.DepositInsurance(SETTLEMENT, to_fixed(g.insurance)))
    if g.steward is not None:
        txs += steward_txs(g.steward, MARKET)
    if g.vaults is not None:
        txs += vault_txs(g.vaults)
    txs.append(c.ConfigureAuth(
        cfg.chain_id, tuple(sorted(cfg.admin_keys)), True, r.capacity, r.max_nonce_age_ms,
        r.max_nonce_lead_ms, r.max_good_til_blocks, r.max_good_til_ms,
    ))
    return Block(1, start_time, prices, tuple(txs))


def reporter_envelopes(cfg: NodeConfig, start_time: int) -> list[bytes]:
    """Block 2's content: the admin's signed ``AuthorizeReporter`` of every configured reporter."""
    if not cfg.genesis.reporters:
        return []
    admin = load_key(Path(cfg.genesis.admin_key_file))
    out = []
    for i, rep in enumerate(cfg.genesis.reporters):
        env = sign(admin, AuthorizeReporter(rep.feed, rep.source, rep.key), chain_id=cfg.chain_id,
                   nonce=(start_time + 1) * 1000 + i, good_til_block=2)
        out.append(encode_signed(env))
    return out
