"""Where the memory of ``clearhouse bench lab``'s engine process goes (its memory row), stage by stage.

    clearhouse bench lab_memory                          # 100k accounts, opening blocks of 10,000 txs
    clearhouse bench lab_memory --open-block 0           # the opening in one 2N-tx block + one N-tx block
    clearhouse bench lab_memory --tracemalloc 25         # also the 25 source lines holding most memory

One process, the same steps as the memory row's engine child (``benchmarks.lab``): imports (the
engine and numba, as every child), numba's compiler and the scan kernels (``warm_up``: loaded from
numba's cache when it is warm), the inputs, the opening blocks (accounts and deposits, then trades),
a few calm blocks. For each stage: resident memory (anonymous and file-backed: numba's LLVM library
pages are file-backed), the peak so far (``ru_maxrss``, what the memory row compares), and at the end
the sizes of the engine's larger parts. With ``--tracemalloc`` the Python allocations are traced from
the inputs on (the RSS figures then include tracemalloc's own overhead).
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks._common import count_arg, write_results


def _status() -> dict[str, float]:
    """VmRSS, RssAnon and RssFile of this process, MiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    return out


def _peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _parts(engine: Any) -> dict[str, float]:
    """Sizes (MiB) of the engine's larger containers: the account table, the account tree's levels,
    the scanner mirror's arrays and dicts."""
    import numpy as np

    capacity = 1 << max(len(engine.state.accounts) - 1, 0).bit_length()
    parts = {
        "account table (dict)": sys.getsizeof(engine.state.accounts),
        # 32-byte nodes in one flat bytearray: 2 x capacity - 1 nodes (ledger.state_root.MerkleTree)
        "account tree (levels)": 32 * (2 * capacity - 1),
    }
    arrays = dicts = 0
    seen: set[int] = set()
    stack = [engine.scanner]
    while stack:  # the scanner and the objects it holds (not the ledger state it reads)
        obj = stack.pop()
        if id(obj) in seen or obj is engine.state:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            arrays += obj.nbytes if obj.base is None else 0
        elif isinstance(obj, dict | list | set):
            dicts += sys.getsizeof(obj)
        elif hasattr(obj, "__dict__") or hasattr(obj, "__slots__"):
            names = list(getattr(obj, "__dict__", {})) + list(getattr(type(obj), "__slots__", ()))
            stack.extend(getattr(obj, n) for n in names if hasattr(obj, n))
    parts["scanner arrays"] = arrays
    parts["scanner dicts and lists"] = dicts
    return {k: v / 2**20 for k, v in parts.items()}


def _account_bytes(account: Any) -> int:
    """Bytes of one account's own objects (the account, its strings, dicts, positions and ints; shared
    objects such as small ints, market ids and the shared empty mapping are not counted)."""
    from clearhouse.ledger.model import NO_ENTRIES

    total, seen = 0, set()
    stack = [account]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is NO_ENTRIES or obj is None or isinstance(obj, bool):
            continue
        seen.add(id(obj))
        if isinstance(obj, int) and -5 <= obj <= 256:
            continue
        if isinstance(obj, str) and sys.getrefcount(obj) > 8:  # interned ids shared by many
            continue
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif hasattr(type(obj), "__slots__"):
            stack.extend(getattr(obj, n) for n in type(obj).__slots__ if hasattr(obj, n))
    return total


def main() -> None:
    summary = (__doc__ or "").split("\n\n")[0]
    ap = argparse.ArgumentParser(prog="clearhouse bench lab_memory", description=summary)
    count, whole = count_arg(1), count_arg(0)
    ap.add_argument("--accounts", type=count, default=100_000, help="accounts (default 100,000)")
    ap.add_argument("--open-block", type=whole, default=None, help="transactions per opening block (0 = one)")
    ap.add_argument("--calm-blocks", type=whole, default=5, help="calm blocks after the opening (default 5)")
    ap.add_argument("--tracemalloc", type=whole, default=0, metavar="N", help="print the top N source lines")
    ap.add_argument("--out", default="bench-results/lab_memory.json", help="JSON output path")
    args = ap.parse_args()
    console = Console(width=max(Console().width, 120))
    rows: list[tuple[str, dict[str, float], float, str]] = []

    def stage(name: str, note: str = "") -> None:
        rows.append((name, _status(), _peak(), note))

    stage("interpreter")
    import clearhouse.ledger.engine
    import clearhouse.risk.scanner  # noqa: F401  (numba is imported here, in every lab child)

    stage("imports (engine, numba)")
    from clearhouse.risk.scan import warm_up

    t0 = time.perf_counter()
    warm_up()
    stage("numba compiler + scan kernel", f"warm_up {time.perf_counter() - t0:.2f} s")
    from benchmarks import lab
    from clearhouse.ledger import commands as c
    from clearhouse.ledger.block import Block
    from clearhouse.ledger.engine import Engine
    from clearhouse.ledger.fixedpoint import WAD

    open_block = lab.OPEN_BLOCK if args.open_block is None else args.open_block
    inp = lab.inputs(args.accounts, args.calm_blocks, 0.002, 1, calm=True)
    stage("inputs")
    if args.tracemalloc:
        tracemalloc.start()
    blocks = {"genesis": 0, "accounts": 0, "trades": 0}
    apply_block = Engine.apply_block

    def traced(self: Any, block: Any) -> Any:  # a stage after each opening block, the last one kept
        first = type(block.txs[0]) if block.txs else None
        kind = {c.SetLedgerParams: "genesis", c.Trade: "trades"}.get(first, "accounts")  # type: ignore[call-overload]
        result = apply_block(self, block)
        blocks[kind] += 1
        if rows[-1][0] == f"{kind} opened":
            rows.pop()
        stage(f"{kind} opened", f"{blocks[kind]} blocks")
        return result

    Engine.apply_block = traced  # type: ignore[method-assign]
    t0 = time.perf_counter()
    try:
        engine, height = lab._engine_setup(inp, open_block)
    finally:
        Engine.apply_block = apply_block  # type: ignore[method-assign]
    name, st, peak, note = rows.pop()
    rows.append((name, st, peak, f"{note}; set-up {time.perf_counter() - t0:.1f} s"))
    gc.collect()
    stage("after gc.collect()")
    for p in inp["path_u"].tolist()[1:]:
        engine.apply_block(Block(height, 60 * (height + 1), {"ETH": int(p) * (WAD // lab.MICRO)}))
        height += 1
    stage(f"{args.calm_blocks} calm blocks")

    size = f"{open_block:,} txs" if open_block else "2N + N txs"
    what = f"{args.accounts:,} accounts, opening blocks of {size}"
    table = Table(title=f"engine process memory (MiB), {what}")
    for col in ("stage", "RSS", "anon", "file", "peak RSS", "note"):
        table.add_column(col, justify="left" if col in ("stage", "note") else "right")
    for name, st, peak, note in rows:
        mib = (f"{st['VmRSS']:.1f}", f"{st['RssAnon']:.1f}", f"{st['RssFile']:.1f}", f"{peak:.1f}")
        table.add_row(name, *mib, note)
    console.print(table)
    parts = Table(title="parts of the engine (MiB)")
    parts.add_column("part")
    parts.add_column("MiB", justify="right")
    for k, v in _parts(engine).items():
        parts.add_row(k, f"{v:.1f}")
    sample = engine.state.accounts[lab.account_id(args.accounts // 2)]
    per = _account_bytes(sample)
    label = f"one account's objects: {per:,} B; x {args.accounts:,}"
    parts.add_row(label, f"{per * args.accounts / 2**20:.1f}")
    console.print(parts)
    results = {
        "accounts": args.accounts,
        "open_block": open_block,
        "stages_mib": [
            {"stage": name, **{k: round(v, 1) for k, v in st.items()}, "peak_rss": round(peak, 1), "note": n}
            for name, st, peak, n in rows
        ],
        "parts_mib": {k: round(v, 1) for k, v in _parts(engine).items()},
        "account_bytes": per,
    }
    write_results(Path(args.out), results, console)
    if args.tracemalloc:
        snap = tracemalloc.take_snapshot()
        top = Table(title=f"tracemalloc: live Python allocations by source line (top {args.tracemalloc})")
        for col in ("MiB", "blocks", "line"):
            top.add_column(col, justify="left" if col == "line" else "right")
        for st in snap.statistics("lineno")[: args.tracemalloc]:
            frame = st.traceback[0]
            where = f"{frame.filename.split('src/')[-1]}:{frame.lineno}"
            top.add_row(f"{st.size / 2**20:.2f}", f"{st.count:,}", where)
        console.print(top)


if __name__ == "__main__":
    main()
