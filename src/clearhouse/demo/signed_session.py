"""The scripted market session with keys: signed envelopes, signed oracle reports and matched fills.

The same story as :mod:`clearhouse.demo.session` on a ledger that requires signatures. Block 1 is the
bare genesis (listings, the oracle feed, ``ConfigureAuth``) plus the first signed envelopes: the admin
whitelists one reporter key per price source and every owner opens its account. From block 2 on, every
transaction is a signed envelope and every oracle report carries its reporter's signature. Trades clear as
``MatchedFill`` s carrying both parties' signed orders; an intruder's withdrawal from alice's account, an
over-withdrawal and a replayed envelope are refused on the way. Keys are derived from fixed seeds, so the
session (and its journal) is the same on every run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from clearhouse.auth.commands import AuthorizeKey, AuthorizeReporter, MatchedFill, TxCommand
from clearhouse.auth.envelope import SignedEnvelope, sign
from clearhouse.auth.keys import KeyPair
from clearhouse.auth.orders import Fill, Order, sign_order
from clearhouse.auth.reports import sign_report
from clearhouse.demo.session import ETH_PERP, GENESIS_TIME, HOUR, W
from clearhouse.ledger import commands as c
from clearhouse.ledger.admission import signed_tx
from clearhouse.ledger.block import Block, ReportSig
from clearhouse.ledger.model import AssetSpec, LedgerParams
from clearhouse.oracle.config import FeedConfig, MedianConfig
from clearhouse.oracle.reports import SourceReport

CHAIN_ID = "clearhouse-demo"
SOURCES = ("binance", "coinbase", "kraken")
ETH_FEED = FeedConfig(asset="ETH", sources=SOURCES, aggregator=MedianConfig(), report_max_age=2 * HOUR)
ACCOUNTS = ("alice", "bob", "carol", "keeper")


def demo_key(name: str) -> KeyPair:
    """The demo's deterministic key for ``name`` (never use such keys for anything real)."""
    return KeyPair.from_seed(hashlib.sha256(f"clearhouse-demo-signed/{name}".encode()).digest())


ADMIN = demo_key("admin")
OWNERS = {name: demo_key(name) for name in ACCOUNTS}
REPORTERS = {source: demo_key(f"reporter/{source}") for source in SOURCES}
BOT = demo_key("alice-bot")  # alice's trading sub-key
INTRUDER = demo_key("intruder")


class _Signer:
    """Envelopes for the block being built: nonce = block time in ms + a per-signer counter."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}

    def __call__(self, key: KeyPair, command: TxCommand, height: int, time: int) -> SignedEnvelope:
        n = self.count.get(key.public_hex, 0)
        self.count[key.public_hex] = n + 1
        return sign(key, command, chain_id=CHAIN_ID, nonce=time * 1000 + n, good_til_block=height + 5)


def _reports(time: int, price: str) -> tuple[tuple[SourceReport, ...], tuple[ReportSig, ...]]:
    reports = tuple(SourceReport(s, "ETH", W(price), time) for s in SOURCES)
    sigs = []
    for r in reports:
        s = sign_report(r, CHAIN_ID, REPORTERS[r.source])
        sigs.append(ReportSig(s.signer, s.signature))
    return reports, tuple(sigs)


def _fill(buyer: str, seller: str, size: str, price: str, bk: KeyPair, client_id: int) -> MatchedFill:
    def order(account: str, side: str) -> Order:
        return Order(CHAIN_ID, account, "ETH-PERP", side, W(size), W(price), client_id, good_til_block=10)  # type: ignore[arg-type]

    return MatchedFill(
        sign_order(order(buyer, "buy"), bk),
        sign_order(order(seller, "sell"), OWNERS[seller]),
        Fill("ETH-PERP", W(size), W(price), "buyer"),
    )


def signed_session_blocks() -> Iterator[Block]:
    """The blocks of the signed session, in order."""
    tx = _Signer()
    t = GENESIS_TIME

    def block(height: int, time: int, price: str | None, *envs: SignedEnvelope, txs: tuple = ()) -> Block:  # type: ignore[type-arg]
        reports, sigs = _reports(time, price) if price is not None else ((), ())
        return Block(
            height, time, {}, txs, reports, signed=tuple(signed_tx(e) for e in envs), report_signatures=sigs
        )

    yield block(
        1,
        t,
        None,
        *(tx(ADMIN, AuthorizeReporter("ETH", s, k.public_hex), 1, t) for s, k in REPORTERS.items()),
        *(tx(k, c.OpenAccount(name, k.public_hex), 1, t) for name, k in OWNERS.items()),
        txs=(
            c.SetLedgerParams(LedgerParams(settlement_asset="USDC", max_price_age=2 * HOUR)),
            c.ListAsset(AssetSpec("USDC", decimals=6, haircut=W(1))),
            c.ListAsset(AssetSpec("ETH", decimals=18, haircut=W("0.9"))),
            c.ConfigureOracle(ETH_FEED),
            c.ListMarket(ETH_PERP),
            c.DepositInsurance("USDC", W(10_000)),
            c.ConfigureAuth(CHAIN_ID, (ADMIN.public_hex,)),
        ),
    )
    t2 = t + 60
    yield block(
        2,
        t2,
        "2000",
        *(
            tx(ADMIN, c.Deposit(a, asset, W(amount)), 2, t2)
            for a, asset, amount in (
                ("alice", "USDC", 10_000),
                ("bob", "USDC", 5_000),
                ("bob", "ETH", 1),
                ("carol", "USDC", 2_000),
                ("keeper", "USDC", 50_000),
            )
        ),
        tx(OWNERS["alice"], AuthorizeKey("alice", BOT.public_hex), 2, t2),
    )
    t3 = t + 120
    bob_withdrawal = tx(OWNERS["bob"], c.Withdraw("bob", "USDC", W(4_500)), 3, t3)
    yield block(
        3,
        t3,
        "2000",
        # alice's bot signs her order; the keeper (any key) submits the matched fill
        tx(OWNERS["keeper"], _fill("alice", "bob", "5", "2000", BOT, 1), 3, t3),
        tx(OWNERS["carol"], _fill("carol", "keeper", "8", "2010", OWNERS["carol"], 1), 3, t3),
        bob_withdrawal,
        # Failed: would leave bob below initial margin (admitted: its nonce is used, nothing else changes).
        tx(OWNERS["bob"], c.Withdraw("bob", "ETH", W(1)), 3, t3),
        # Refused: the intruder's key does not control alice's account.
        tx(INTRUDER, c.Withdraw("alice", "USDC", W(1_000)), 3, t3),
    )
    path = ("1960", "1925", "1890", "1850", "1815")
    for i, price in enumerate(path, start=1):
        ti = t + 120 + i * HOUR
        envs: tuple[SignedEnvelope, ...] = ()
        if i == 1:
            envs = (bob_withdrawal,)  # Refused: a replay of bob's withdrawal from block 3 (nonce reused).
        if i == 3:
            envs = (
                tx(BOT, c.SettleFunding("alice"), 3 + i, ti),
                tx(OWNERS["bob"], c.Withdraw("bob", "USDC", W(100)), 3 + i, ti),
            )
        yield block(3 + i, ti, price, *envs)
    t9 = t + 120 + 5 * HOUR + 12
    yield block(
        9,
        t9,
        "1815",
        tx(OWNERS["keeper"], c.CloseOut("carol", liquidator="keeper"), 9, t9),
        # Refused: alice is healthy.
        tx(OWNERS["keeper"], c.CloseOut("alice", liquidator="keeper"), 9, t9),
        # Refused: the same replay once past its good-til-block (expiry is checked before the nonce).
        bob_withdrawal,
    )
