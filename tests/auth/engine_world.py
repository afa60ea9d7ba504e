"""A signed ledger for the engine-integration tests: genesis with ``ConfigureAuth``, then signed blocks.

Keys are deterministic (``helpers.key``); nonces are the block time in milliseconds plus a counter per
signer, so every envelope is inside the nonce window.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from clearhouse.auth.commands import TxCommand
from clearhouse.auth.envelope import SignedEnvelope, sign
from clearhouse.auth.keys import KeyPair
from clearhouse.journal.store import JournalStore
from clearhouse.ledger import commands as c
from clearhouse.ledger.admission import signed_tx
from clearhouse.ledger.block import Block, ReportSig
from clearhouse.ledger.engine import BlockResult, Engine
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec
from clearhouse.oracle.config import FeedConfig, MedianConfig
from clearhouse.oracle.reports import SourceReport

from .helpers import ADMIN, ALICE, BOB, CHAIN, MALLORY, key

KEEPER = key(4)
T0 = 1_700_000_000
ETH_PERP = MarketSpec(
    "ETH-PERP",
    "ETH",
    initial_margin=WAD // 10,
    maintenance_margin=WAD // 20,
    liquidation_fee=WAD // 100,
    step_size=WAD // 1000,
)
#: A feed the signed-report tests use (no market depends on it; ETH is priced by the block).
BTC_FEED = FeedConfig(asset="BTC", sources=("s1", "s2", "s3"), aggregator=MedianConfig(), report_max_age=600)
OWNERS = {"alice": ALICE, "bob": BOB, "mallory": MALLORY, "keeper": KEEPER}


class World:
    """An engine on a signed ledger: block 1 is the bare genesis, block 2 opens and funds accounts."""

    def __init__(self, journal: JournalStore | None = None, require_signatures: bool = True) -> None:
        self.engine = Engine(journal=journal)
        self.nonces: dict[str, int] = {}
        self.blocks: list[Block] = []
        #: State root after each block of ``blocks``.
        self.roots: list[str] = []
        self.time = T0
        self.genesis = (
            c.SetLedgerParams(LedgerParams("USDC", max_price_age=3600)),
            c.ListAsset(AssetSpec("USDC", decimals=6)),
            c.ListMarket(ETH_PERP),
            c.ConfigureOracle(BTC_FEED),
            c.ConfigureAuth(CHAIN, (ADMIN.public_hex,), require_signatures=require_signatures),
        )
        self.apply(txs=self.genesis)
        self.apply(
            *(self.tx(k, c.OpenAccount(name, k.public_hex)) for name, k in OWNERS.items()),
            *(self.tx(ADMIN, c.Deposit(name, "USDC", 10_000 * WAD)) for name in OWNERS),
        )

    @property
    def height(self) -> int:
        return self.engine.state.height

    def next_time(self) -> int:
        return T0 if self.height == 0 else self.engine.state.time + 60

    def tx(
        self,
        k: KeyPair,
        command: TxCommand,
        *,
        nonce: int | None = None,
        chain_id: str = CHAIN,
        good_til_block: int | None = None,
    ) -> SignedEnvelope:
        """``command`` signed by ``k`` for the next block (fresh nonce unless given)."""
        if nonce is None:
            nonce = self.next_time() * 1000 + self.nonces.get(k.public_hex, 0)
            self.nonces[k.public_hex] = self.nonces.get(k.public_hex, 0) + 1
        gtb = good_til_block if good_til_block is not None else self.height + 5
        return sign(k, command, chain_id=chain_id, nonce=nonce, good_til_block=gtb)

    def make_block(
        self,
        *signed: SignedEnvelope | bytes,
        txs: Sequence[c.AnyCommand] = (),
        reports: tuple[SourceReport, ...] = (),
        report_sigs: tuple[ReportSig, ...] = (),
    ) -> Block:
        return Block(
            self.height + 1,
            self.next_time(),
            {"ETH": 2000 * WAD},
            tuple(txs),
            reports,
            signed=tuple(signed_tx(s) if isinstance(s, SignedEnvelope) else msgspec.Raw(s) for s in signed),
            report_signatures=report_sigs,
        )

    def apply(self, *signed: SignedEnvelope | bytes, **kw: object) -> BlockResult:
        block = self.make_block(*signed, **kw)  # type: ignore[arg-type]
        result = self.engine.apply_block(block)
        self.blocks.append(block)
        self.roots.append(result.state_root)
        return result


__all__ = ["ADMIN", "ALICE", "BOB", "BTC_FEED", "CHAIN", "KEEPER", "MALLORY", "OWNERS", "T0", "World"]
