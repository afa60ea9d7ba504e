"""Signature verification benchmark: envelopes verified per second, one thread vs a thread pool.

Run from the repository root::

    python -m benchmarks.auth            # 4,000 signed Withdraw envelopes, best of 3
    python -m benchmarks.auth --quick    # 1,000, best of 2

Cases, each over the same pre-signed batch: the raw libsodium check (``VerifyKey.verify`` on the
32-byte digest), the full :func:`clearhouse.auth.envelope.verify` (field checks + canonical encoding +
sha256 + ed25519) in the calling thread, and :func:`verify_many` with a ``ThreadPoolExecutor`` of 2 and
4 threads (libsodium releases the GIL, so threads can use a second core). Also the wire decode
(:func:`decode_signed`, canonical re-encoding included) and nonce admission. Prints a table and writes
``bench-results/auth.json``. On a shared machine the wall-clock rate moves with the other load; the
process CPU time per envelope is the steadier figure, and CPU/wall > 1 is what shows threads running in
parallel.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nacl.signing
from rich.console import Console
from rich.table import Table

from benchmarks._common import write_results
from clearhouse.auth.envelope import (
    SignedEnvelope,
    decode_signed,
    encode_signed,
    sign,
    signing_digest,
    verify,
    verify_many,
)
from clearhouse.auth.keys import KeyPair
from clearhouse.auth.nonces import NonceBook, admit_envelope
from clearhouse.ledger.commands import Withdraw

CHAIN = "bench"
NOW_MS = 1_700_000_000_000


def _batch(n: int, signers: int) -> list[SignedEnvelope]:
    keys = [KeyPair.from_seed(i.to_bytes(32, "big")) for i in range(1, signers + 1)]
    return [
        sign(
            keys[i % signers],
            Withdraw(f"acct{i % signers}", "USD", 10**18 + i),
            chain_id=CHAIN,
            nonce=NOW_MS + i,
            good_til_block=10,
        )
        for i in range(n)
    ]


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall time and the process CPU time of that run (CPU / wall > 1 means threads ran in
    parallel, i.e. the GIL was released and a second core was free)."""
    best, cpu = float("inf"), 0.0
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, used = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, cpu = wall, used
    return best, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--signers", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench-results/auth.json"))
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeat = 1000, 2
    batch = _batch(args.n, args.signers)
    raw = [
        (
            nacl.signing.VerifyKey(bytes.fromhex(s.envelope.signer)),
            signing_digest(s.envelope),
            bytes.fromhex(s.signature),
        )
        for s in batch
    ]
    wires = [encode_signed(s) for s in batch]

    def raw_verify() -> None:
        for vk, digest, sig in raw:
            vk.verify(digest, sig)

    def full_verify() -> None:
        for s in batch:
            verify(s, CHAIN)

    def decode() -> None:
        for w in wires:
            decode_signed(w)

    def nonces() -> None:
        book = NonceBook()
        for s in batch:
            book = admit_envelope(book, s.envelope, height=10, now_ms=NOW_MS)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("libsodium verify only", raw_verify),
        ("verify() (checks+hash+ed25519)", full_verify),
        ("verify_many, serial", lambda: verify_many(batch, CHAIN)),
    ]
    pools = {k: ThreadPoolExecutor(k) for k in (2, 4)}
    for k, pool in pools.items():
        cases.append((f"verify_many, {k} threads", lambda p=pool: verify_many(batch, CHAIN, executor=p)))
    cases += [("decode_signed", decode), ("nonce admission", nonces)]
    rows = []
    for name, fn in cases:
        seconds, cpu = _best(fn, args.repeat)
        rows.append({"case": name, "seconds": seconds, "cpu_seconds": cpu, "per_second": args.n / seconds})
    for pool in pools.values():
        pool.shutdown()
    table = Table(title=f"auth: {args.n} envelopes, {args.signers} signers, best of {args.repeat}")
    table.add_column("case")
    table.add_column("envelopes/s", justify="right")
    table.add_column("µs each", justify="right")
    table.add_column("CPU/wall", justify="right")
    table.add_column("CPU µs each", justify="right")
    for r in rows:
        ratio = r["cpu_seconds"] / r["seconds"]
        cpu_us = 1e6 * r["cpu_seconds"] / args.n
        table.add_row(
            r["case"],
            f"{r['per_second']:,.0f}",
            f"{1e6 / r['per_second']:.1f}",
            f"{ratio:.2f}",
            f"{cpu_us:.1f}",
        )
    Console().print(table)
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "n": args.n, "repeat": args.repeat}
    write_results(args.out, {"meta": meta, "results": rows}, Console())


if __name__ == "__main__":
    main()
