"""Signed transactions through the engine: blocks of signed envelopes applied by ``Engine.apply_block``.

Run from the repository root::

    python -m benchmarks.auth_engine             # 2,000 signers, 4 blocks of 1,000 per case
    python -m benchmarks.auth_engine --quick     # 500 signers, 2 blocks of 500

Cases (each a fresh ledger with ``signers`` accounts opened and funded by signed envelopes):

* bare ``Withdraw`` on an unsigned ledger (the engine without auth, for the overhead ratio);
* signed ``Withdraw``: decode, chain, fields, ed25519, expiry, nonce, authorization, the command;
* the same with the signatures verified beforehand (``VerifiedSignatures``, as a node does at submission);
* signed ``MatchedFill`` (two more order signatures, the fill checks, the fill book, a trade), with and
  without the cache (then the orders' signatures were verified beforehand too).

The time is ``apply_block`` only (signing is the clients' work) and includes the state root. Prints a
table and writes ``bench-results/auth_engine.json``. On a shared machine the CPU time per transaction
is the steadier figure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks._common import write_results
from clearhouse.auth.commands import MatchedFill, TxCommand
from clearhouse.auth.envelope import SignedEnvelope, sign
from clearhouse.auth.keys import KeyPair
from clearhouse.auth.orders import Fill, Order, sign_order
from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.events import TransactionRejected
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec
from clearhouse.mechanisms.signing.admission import VerifiedSignatures, signed_tx

CHAIN = "bench"
T0 = 1_700_000_000
MARKET = MarketSpec("ETH-PERP", "ETH", WAD // 10, WAD // 20, step_size=WAD // 1000, mark_min_notional=0)


class Ledger:
    """A ledger with ``n`` funded accounts; signed unless ``unsigned``."""

    def __init__(self, n: int, unsigned: bool = False) -> None:
        self.engine = Engine()
        self.keys = [KeyPair.from_seed(hashlib.sha256(b"bench%d" % i).digest()) for i in range(n)]
        self.admin = KeyPair.from_seed(hashlib.sha256(b"bench-admin").digest())
        self.count = 0
        genesis: list[c.AnyCommand] = [
            c.SetLedgerParams(LedgerParams("USDC", max_price_age=3600)),
            c.ListAsset(AssetSpec("USDC", decimals=6)),
            c.ListMarket(MARKET),
        ]
        if unsigned:
            genesis += [c.OpenAccount(f"a{i}", k.public_hex) for i, k in enumerate(self.keys)]
            genesis += [c.Deposit(f"a{i}", "USDC", 100_000 * WAD) for i in range(n)]
        else:
            genesis.append(c.ConfigureAuth(CHAIN, (self.admin.public_hex,)))
        self.apply(Block(1, T0, {"ETH": 2000 * WAD}, tuple(genesis)))
        if not unsigned:
            for start in range(0, n, 1000):
                envs = [self.tx(k, c.OpenAccount(f"a{start + i}", k.public_hex)) for i, k in
                        enumerate(self.keys[start : start + 1000])]
                envs += [self.tx(self.admin, c.Deposit(f"a{i}", "USDC", 100_000 * WAD))
                         for i in range(start, min(start + 1000, n))]
                self.apply(self.block(envs))

    def next(self) -> tuple[int, int]:
        state = self.engine.state
        return state.height + 1, state.time + 1

    def tx(self, key: KeyPair, command: TxCommand) -> SignedEnvelope:
        height, time_s = self.next()
        self.count += 1
        return sign(key, command, chain_id=CHAIN, nonce=time_s * 1000 + self.count, good_til_block=height + 5)

    def block(self, envs: list[SignedEnvelope]) -> Block:
        height, time_s = self.next()
        return Block(height, time_s, {"ETH": 2000 * WAD}, signed=tuple(signed_tx(e) for e in envs))

    def apply(self, block: Block) -> None:
        result = self.engine.apply_block(block)
        bad = [e for e in result.events if isinstance(e, TransactionRejected)]
        assert not bad, bad[:3]


def _fill(ledger: Ledger, i: int, n: int, round_: int) -> MatchedFill:
    buyer, seller = i % n, (i + 1) % n
    def order(a: int, side: str) -> Order:
        return Order(CHAIN, f"a{a}", "ETH-PERP", side, WAD // 100, 2000 * WAD, round_ * n + i,  # type: ignore[arg-type]
                     good_til_block=ledger.engine.state.height + 5)
    return MatchedFill(sign_order(order(buyer, "buy"), ledger.keys[buyer]),
                       sign_order(order(seller, "sell"), ledger.keys[seller]),
                       Fill("ETH-PERP", WAD // 100, 2000 * WAD, "buyer"))


def run_case(name: str, n: int, per: int, blocks: int) -> dict[str, object]:
    unsigned = name.startswith("bare")
    ledger = Ledger(n, unsigned=unsigned)
    cache = VerifiedSignatures() if "cache" in name else None
    if cache is not None:
        ledger.engine.signature_cache = cache  # type: ignore[attr-defined]
    wall = cpu = 0.0
    for r in range(blocks):
        if unsigned:
            height, time_s = ledger.next()
            txs = tuple(c.Withdraw(f"a{(r * per + i) % n}", "USDC", WAD) for i in range(per))
            block = Block(height, time_s, {"ETH": 2000 * WAD}, txs)
        else:
            if "MatchedFill" in name:
                envs = [ledger.tx(ledger.keys[i % n], _fill(ledger, i, n, r)) for i in range(per)]
            else:
                envs = [
                    ledger.tx(ledger.keys[j], c.Withdraw(f"a{j}", "USDC", WAD))
                    for j in ((r * per + i) % n for i in range(per))
                ]
            if cache is not None:  # what a node does at submission
                for e in envs:
                    cache.verify(e, CHAIN)
                    if isinstance(e.envelope.command, MatchedFill):
                        cache.verify_order(e.envelope.command.buy, CHAIN)
                        cache.verify_order(e.envelope.command.sell, CHAIN)
            block = ledger.block(envs)
        t0, c0 = time.perf_counter(), time.process_time()
        ledger.apply(block)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
    total = per * blocks
    return {"case": name, "txs": total, "seconds": wall, "cpu_seconds": cpu, "per_second": total / wall}


CASES = (
    "bare Withdraw (unsigned ledger)",
    "signed Withdraw",
    "signed Withdraw, cache",
    "signed MatchedFill",
    "signed MatchedFill, cache",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signers", type=int, default=2000)
    parser.add_argument("--per-block", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench-results/auth_engine.json"))
    args = parser.parse_args()
    if args.quick:
        args.signers, args.per_block, args.blocks = 500, 500, 2
    rows = [run_case(name, args.signers, args.per_block, args.blocks) for name in CASES]
    table = Table(title=f"signed blocks: {args.signers} signers, {args.blocks} blocks of {args.per_block}")
    for col in ("case", "tx/s", "µs each", "CPU µs each"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        table.add_row(
            str(r["case"]),
            f"{r['per_second']:,.0f}",
            f"{1e6 * float(r['seconds']) / int(r['txs']):.0f}",  # type: ignore[arg-type]
            f"{1e6 * float(r['cpu_seconds']) / int(r['txs']):.0f}",  # type: ignore[arg-type]
        )
    Console().print(table)
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), **vars(args), "out": str(args.out)}
    write_results(args.out, {"meta": meta, "results": rows}, Console())


if __name__ == "__main__":
    main()
