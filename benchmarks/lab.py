"""Toy-model benchmark: the clearhouse engine against a bare numpy loop, a pure Python loop, cadCAD and
radCAD on the same accounts and the same price path, with the issue's targets as met / not met rows.

    clearhouse bench lab                       # 10k accounts x 1,000 steps; calm blocks at 10k and 100k
    clearhouse bench lab --quick               # 2k x 200, calm blocks at 10k only, no cadCAD / radCAD
    clearhouse bench lab --profile             # also print the engine run's top functions (cProfile)
    clearhouse bench lab --accounts 20000 --steps 2000 --calm-accounts 10000 100000 300000

The toy model: N accounts, each with collateral and one leveraged ETH perp position (long or short)
opened at the first price of a GBM path; at every step the price moves, every account whose equity
``collateral + size x (price - entry)`` is below maintenance ``3 % x |size| x price`` is closed out in
full at the step's price with a penalty of ``1 %`` of the notional (capped at what equity is left);
nothing else happens (no fees, no funding, no trading after the opening). Every implementation must
liquidate the same account ids at the same steps; the benchmark asserts it.

Implementations, each in its own subprocess (peak RSS is that process's ``ru_maxrss``):

- ``numpy``: a bare vectorised numpy loop (the baseline every ratio is against);
- ``python``: the same loop over Python lists;
- ``cadcad``: a cadCAD model (two partial state update blocks: price, then liquidation) run with
  ``Executor(ExecutionContext())`` (its default mode), state in numpy arrays;
- ``radcad``: the same model with radCAD's defaults (``Simulation(...).run()``);
  (``pip install "clearhouse[bench]"`` brings cadCAD; radCAD pins numpy<1.26.4 in its metadata, so
  install it with ``pip install --no-deps radcad fn-py pathos py``; a framework that is missing or
  fails makes its row say so, with the error);
- ``engine``: ``clearhouse.ledger.engine.Engine`` with the numba ``ColumnarScanner`` and exact
  backstop enforcement (``enforcement = "backstop"``), through the public API only: one ``Block``
  per step carrying the price, close-outs read from the ``PositionClosedOut`` events.

Set-up (opening the accounts) is timed apart; "steps" time only the path. The engine opens the
accounts like a chain with a block size limit: blocks of at most ``--open-block`` transactions
(default 10,000: accounts and deposits, then the trades against the house account). **Changed on
2026-12-07**: earlier sessions opened them in one block of 2N transactions and one of N
trades (``--open-block 0``), whose transients (the undo log's pre-block accounts, events,
encodings, the commands) set the process's peak; the memory row's note gives that figure too.
Calm blocks: the same model on a path that moves 0.05 % at most (nothing to enforce), per-block
median, numpy step vs engine block, at each ``--calm-accounts`` size; the memory row compares those
two processes at 100k accounts (both import the same modules, numba included, so the fixed import
cost is equal; only the engine initialises numba's compiler, ~60 MiB, which it needs for the scan).
``benchmarks/lab_memory.py`` breaks the engine process's memory down by stage. Exact close-out
cost (the target row), measured directly: the toy engine after set-up, one block whose price leaves
about ``--closeout-k`` accounts below maintenance, applied to two identical deep copies, one with
backstop enforcement and one with a cap of 0 (the same header, funding, prices, full scan and state
root; no confirmation, no close-out); (fastest with - fastest without) / close-outs. That is all the
work the close-outs cause inside the block (exact confirmation, gate, both fills, penalty, events,
commit, the written accounts' leaves and Merkle paths, the events' encoding) and nothing else; the
next block's mirror sync of the closed accounts is not in it. The old row (in the engine's toy run,
(time of the blocks with close-outs - their count x the median calm block) / close-outs) is kept
for continuity; it also charges each busy block's full scan to its close-outs. Stressed
enforcement: the toy book after a 15 % drop with a cap of 50 close-outs per block; the row is the
exact margin summaries enforcement computes per block, over the cap (O(cap) means a small constant
however many accounts are below maintenance). Each toy
implementation runs ``--repeat`` times (default 3), interleaved, keeping its fastest run. Ratios are
measured in the same run; the machine is shared and noisy, compare ratios, not absolute times.
Prints a table and writes ``bench-results/lab.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks._common import count_arg, write_results

P0 = 2000.0
MAINTENANCE = 0.03
INITIAL = 0.05
PENALTY = 0.01
INSURANCE = 1_000_000.0
MICRO = 1_000_000  # prices and sizes are integer micro-units, so every implementation sees the same numbers

Liquidations = list[list[Any]]  # [[step, [account index, ...]], ...], steps ascending, indices ascending


# ----------------------------------------------------------------------------- the model's inputs


def inputs(n: int, steps: int, sigma: float, seed: int, calm: bool = False) -> dict[str, Any]:
    """Population and price path shared by every implementation (integers in micro-units).

    ``path_u[k]`` is the price of step k in micro-USDC (step 0 opens the positions); ``size_u`` the
    signed size in micro-ETH; ``collateral`` whole USDC. Calm: the price wiggles by at most 0.05 %.
    """
    rng = np.random.default_rng(seed)
    collateral = np.clip(np.round(5000.0 * rng.lognormal(0.0, 1.0, n)), 100, 500_000).astype(np.int64)
    leverage = np.clip(5.0 * rng.lognormal(0.0, 0.6, n), 1.5, 19.0)
    long = rng.random(n) < 0.6
    p0_u = int(P0 * MICRO)
    if calm:
        rel = 0.0005 * np.sin(np.arange(steps + 1) * 0.7)
        rel[0] = 0.0
    else:
        shocks = rng.normal(-0.5 * sigma * sigma, sigma, steps)
        rel = np.expm1(np.concatenate([[0.0], np.cumsum(shocks)]))
    path_u = np.round(p0_u * (1.0 + rel)).astype(np.int64)
    path_u[0] = p0_u
    size_u = np.floor(leverage * collateral / P0 * MICRO).astype(np.int64)
    size_u = np.where(long, size_u, -size_u)
    return {"collateral": collateral, "size_u": size_u, "path_u": path_u}


def account_id(i: int) -> str:
    return f"a{i:07d}"


def _liq_record(per_step: dict[int, list[int]]) -> Liquidations:
    return [[k, sorted(v)] for k, v in sorted(per_step.items()) if v]


# ----------------------------------------------------------------------------- implementations


def run_numpy(inp: dict[str, Any], per_step_times: bool = False) -> dict[str, Any]:
    """The baseline: vectorised numpy, one pass over the accounts per step."""
    size = inp["size_u"] / MICRO
    bal = inp["collateral"].astype(np.float64)
    path = inp["path_u"] / MICRO
    p0 = path[0]
    open_ = size != 0.0
    abs_size = np.abs(size)
    insurance, bad_debt = INSURANCE, 0.0
    liqs: dict[int, list[int]] = {}
    times: list[float] = []
    t0 = time.perf_counter()
    for k in range(1, len(path)):
        ts = time.perf_counter()
        p = path[k]
        equity = bal + size * (p - p0)
        below = open_ & (equity < MAINTENANCE * abs_size * p)
        hit = np.flatnonzero(below)
        if hit.size:
            eq = equity[hit]
            notional = abs_size[hit] * p
            penalty = np.minimum(notional * PENALTY, np.maximum(eq, 0.0))
            shortfall = float(np.clip(-eq, 0.0, None).sum())
            cover = min(insurance, shortfall)
            insurance, bad_debt = insurance - cover, bad_debt + shortfall - cover
            bal[hit] = np.maximum(eq - penalty, 0.0)
            size[hit] = 0.0
            abs_size[hit] = 0.0
            open_[hit] = False
            liqs[k] = hit.tolist()
        if per_step_times:
            times.append(time.perf_counter() - ts)
    elapsed = time.perf_counter() - t0
    return {"steps_s": elapsed, "step_times": times, "liquidations": _liq_record(liqs), "bad_debt": bad_debt}


def run_python(inp: dict[str, Any]) -> dict[str, Any]:
    """The same model as a plain Python loop over lists."""
    size = (inp["size_u"] / MICRO).tolist()
    bal = inp["collateral"].astype(np.float64).tolist()
    path = (inp["path_u"] / MICRO).tolist()
    p0 = path[0]
    n = len(size)
    is_open = [s != 0.0 for s in size]
    insurance, bad_debt = INSURANCE, 0.0
    liqs: dict[int, list[int]] = {}
    t0 = time.perf_counter()
    for k in range(1, len(path)):
        p = path[k]
        hit: list[int] = []
        for i in range(n):
            if not is_open[i]:
                continue
            s = size[i]
            equity = bal[i] + s * (p - p0)
            if equity < MAINTENANCE * abs(s) * p:
                penalty = min(abs(s) * p * PENALTY, max(equity, 0.0))
                if equity < 0.0:
                    cover = min(insurance, -equity)
                    insurance -= cover
                    bad_debt += -equity - cover
                bal[i] = max(equity - penalty, 0.0)
                size[i] = 0.0
                is_open[i] = False
                hit.append(i)
        if hit:
            liqs[k] = hit
    elapsed = time.perf_counter() - t0
    return {"steps_s": elapsed, "liquidations": _liq_record(liqs), "bad_debt": bad_debt}


def _sim_parts(inp: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], NDArray[np.float64]]:
    """Initial state and partial state update blocks shared by the cadCAD and radCAD models."""
    path = inp["path_u"] / MICRO
    p0 = float(path[0])
    size0 = inp["size_u"] / MICRO
    initial = {
        "price": p0,
        "bal": inp["collateral"].astype(np.float64),
        "size": size0,
        "open": size0 != 0.0,
        "liquidated": (),
        "insurance": INSURANCE,
        "bad_debt": 0.0,
    }

    def p_price(params: Any, substep: Any, history: Any, state: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return {"price": float(path[state["timestep"] + 1])}

    def s_price(params: Any, substep: Any, history: Any, state: Any, inp_: Any, **kw: Any) -> tuple[str, Any]:
        return "price", inp_["price"]

    def p_liquidate(
        params: Any, substep: Any, history: Any, state: dict[str, Any], **kw: Any
    ) -> dict[str, Any]:
        p, size, bal = state["price"], state["size"], state["bal"]
        equity = bal + size * (p - p0)
        hit = np.flatnonzero(state["open"] & (equity < MAINTENANCE * np.abs(size) * p))
        eq = equity[hit]
        penalty = np.minimum(np.abs(size[hit]) * p * PENALTY, np.maximum(eq, 0.0))
        return {
            "hit": hit,
            "new_bal": np.maximum(eq - penalty, 0.0),
            "shortfall": float(np.clip(-eq, 0, None).sum()),
        }

    def s_bal(params: Any, substep: Any, history: Any, state: Any, inp_: Any, **kw: Any) -> tuple[str, Any]:
        bal = state["bal"].copy()
        bal[inp_["hit"]] = inp_["new_bal"]
        return "bal", bal

    def s_size(params: Any, substep: Any, history: Any, state: Any, inp_: Any, **kw: Any) -> tuple[str, Any]:
        size = state["size"].copy()
        size[inp_["hit"]] = 0.0
        return "size", size

    def s_open(params: Any, substep: Any, history: Any, state: Any, inp_: Any, **kw: Any) -> tuple[str, Any]:
        is_open = state["open"].copy()
        is_open[inp_["hit"]] = False
        return "open", is_open

    def s_liq(params: Any, substep: Any, history: Any, state: Any, inp_: Any, **kw: Any) -> tuple[str, Any]:
        return "liquidated", tuple(inp_["hit"].tolist())

    def s_ins(params: Any, substep: Any, history: Any, state: Any, inp_: Any, **kw: Any) -> tuple[str, Any]:
        return "insurance", state["insurance"] - min(state["insurance"], inp_["shortfall"])

    def s_bad(params: Any, substep: Any, history: Any, state: Any, inp_: Any, **kw: Any) -> tuple[str, Any]:
        return "bad_debt", state["bad_debt"] + inp_["shortfall"] - min(state["insurance"], inp_["shortfall"])

    blocks = [
        {"policies": {"price": p_price}, "variables": {"price": s_price}},
        {
            "policies": {"liquidate": p_liquidate},
            "variables": {
                "bal": s_bal,
                "size": s_size,
                "open": s_open,
                "liquidated": s_liq,
                "insurance": s_ins,
                "bad_debt": s_bad,
            },
        },
    ]
    return initial, blocks, path


def _liqs_from_states(rows: list[dict[str, Any]]) -> Liquidations:
    """Close-outs per timestep from a framework's state records (the liquidation substep's rows)."""
    per_step: dict[int, list[int]] = {}
    for row in rows:
        if row.get("substep") == 2 and row["liquidated"]:
            per_step[int(row["timestep"])] = list(row["liquidated"])
    return _liq_record(per_step)


def run_cadcad(inp: dict[str, Any]) -> dict[str, Any]:
    """cadCAD, default execution context (``ExecutionContext()``), one run."""
    import contextlib
    import io

    from cadCAD.configuration import Experiment
    from cadCAD.configuration.utils import config_sim
    from cadCAD.engine import ExecutionContext, Executor

    initial, blocks, path = _sim_parts(inp)
    steps = len(path) - 1
    exp = Experiment()
    exp.append_model(
        initial_state=initial,
        partial_state_update_blocks=blocks,
        sim_configs=config_sim({"N": 1, "T": range(steps)}),
    )
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # cadCAD prints a banner and execution info
        raw, _tensor, _sessions = Executor(exec_context=ExecutionContext(), configs=exp.configs).execute()
    elapsed = time.perf_counter() - t0
    last = raw[-1]
    return {"steps_s": elapsed, "liquidations": _liqs_from_states(raw), "bad_debt": float(last["bad_debt"])}


def run_radcad(inp: dict[str, Any]) -> dict[str, Any]:
    """radCAD with its defaults (``Simulation(model, timesteps).run()``)."""
    from radcad import Model, Simulation

    initial, blocks, path = _sim_parts(inp)
    steps = len(path) - 1
    sim = Simulation(
        model=Model(initial_state=initial, state_update_blocks=blocks, params={}), timesteps=steps
    )
    t0 = time.perf_counter()
    rows = sim.run()
    elapsed = time.perf_counter() - t0
    return {
        "steps_s": elapsed,
        "liquidations": _liqs_from_states(rows),
        "bad_debt": float(rows[-1]["bad_debt"]),
    }


def _engine_setup(inp: dict[str, Any], open_block: int | None = None) -> tuple[Any, int]:
    """An engine with the toy model's market and accounts, positions opened against a house account
    that is also the backstop liquidator. Returns (engine, next height).

    The accounts are opened in blocks of at most ``open_block`` transactions (default
    ``OPEN_BLOCK``; 0 = all in one block: 2 x N transactions of accounts and deposits, then N
    trades), like a chain with a block size limit."""
    from clearhouse.ledger import commands as c
    from clearhouse.ledger.block import Block
    from clearhouse.ledger.engine import Engine
    from clearhouse.ledger.fixedpoint import WAD
    from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec
    from clearhouse.risk.scanner import ColumnarScanner

    if open_block is None:
        open_block = OPEN_BLOCK
    n = len(inp["size_u"])
    to_wad = WAD // MICRO
    p0 = int(inp["path_u"][0]) * to_wad
    params = LedgerParams(
        "USDC",
        max_price_age=10**9,
        enforcement="backstop",
        backstop_liquidator="house",
        max_liquidations_per_block=n + 1,  # never binding: every account below maintenance is closed
    )
    market = MarketSpec(
        "ETH-PERP",
        "ETH",
        INITIAL_WAD,
        MAINTENANCE_WAD,
        liquidation_fee=PENALTY_WAD,
        step_size=to_wad,
        funding_clamp_factor=0,  # no funding in the toy model
    )
    engine = Engine(scanner=ColumnarScanner())
    genesis = (c.SetLedgerParams(params), c.ListAsset(AssetSpec("USDC", decimals=6)), c.ListMarket(market))
    engine.apply_block(Block(1, 60, {"ETH": p0}, genesis))
    height = 2

    def apply(txs: Iterator[Any]) -> None:
        """Apply ``txs`` in blocks of at most ``open_block`` transactions, refusing any rejection."""
        nonlocal height
        while chunk := tuple(islice(txs, open_block or None)):
            res = engine.apply_block(Block(height, 60 * height, {}, chunk))
            height += 1
            rejected = [e for e in res.events if type(e).__name__ == "TransactionRejected"]
            if rejected:
                raise RuntimeError(f"{len(rejected)} opening transactions rejected, first: {rejected[0]}")

    def accounts() -> Iterator[Any]:
        yield c.OpenAccount("house", "00" * 32)
        yield c.Deposit("house", "USDC", 10**13 * WAD)
        yield c.DepositInsurance("USDC", int(INSURANCE) * WAD)
        for i, coll in enumerate(inp["collateral"].tolist()):
            aid = account_id(i)
            yield c.OpenAccount(aid, f"{i + 1:064x}")
            yield c.Deposit(aid, "USDC", coll * WAD)

    def trades() -> Iterator[Any]:
        for i, s in enumerate(inp["size_u"].tolist()):
            if s > 0:
                yield c.Trade("ETH-PERP", account_id(i), "house", s * to_wad, p0)
            elif s < 0:
                yield c.Trade("ETH-PERP", "house", account_id(i), -s * to_wad, p0, taker="seller")

    apply(accounts())
    apply(trades())
    return engine, height


#: Transactions per opening block (``--open-block``; 0 = the whole opening in two blocks).
OPEN_BLOCK = 10_000


INITIAL_WAD = 5 * 10**16
MAINTENANCE_WAD = 3 * 10**16
PENALTY_WAD = 10**16


def run_engine(inp: dict[str, Any], profile: bool = False) -> dict[str, Any]:
    """The clearhouse engine through its public API, one block per step."""
    from clearhouse.ledger.block import Block
    from clearhouse.ledger.events import PositionClosedOut
    from clearhouse.ledger.fixedpoint import WAD

    t_setup = time.perf_counter()
    engine, height = _engine_setup(inp)
    # Collect the set-up's garbage with the set-up: otherwise whether a full collection of its ~10^5
    # objects (tens of ms) lands inside the timed path depends on allocation counts to the object.
    gc.collect()
    setup_s = time.perf_counter() - t_setup
    to_wad = WAD // MICRO
    prices = [int(p) * to_wad for p in inp["path_u"].tolist()]
    row_of = {account_id(i): i for i in range(len(inp["size_u"]))}
    liqs: dict[int, list[int]] = {}
    times: list[float] = []
    counts: list[int] = []
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    for k in range(1, len(prices)):
        ts = time.perf_counter()
        res = engine.apply_block(Block(height, 60 * (height + 1), {"ETH": prices[k]}))
        times.append(time.perf_counter() - ts)
        height += 1
        hit = [row_of[e.account] for e in res.events if type(e) is PositionClosedOut]
        counts.append(len(hit))
        if hit:
            liqs[k] = hit
    elapsed = time.perf_counter() - t0
    out: dict[str, Any] = {"steps_s": elapsed, "setup_s": setup_s, "liquidations": _liq_record(liqs)}
    if prof is not None:
        prof.disable()
        out["profile"] = _profile_text(prof)
    calm = [t for t, c in zip(times, counts, strict=True) if c == 0]
    calm_median = statistics.median(calm) if calm else float("nan")
    busy = [(t, c) for t, c in zip(times, counts, strict=True) if c]
    n_closed = sum(c for _, c in busy)
    out["calm_block_median_s"] = calm_median
    out["close_outs"] = n_closed
    out["close_out_s"] = (sum(t for t, _ in busy) - len(busy) * calm_median) / n_closed if n_closed else None
    out["bad_debt"] = engine.state.pools.bad_debt.get("USDC", 0) / WAD
    return out


def _profile_text(prof: Any, top: int = 25) -> str:
    import io
    import pstats

    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("tottime").print_stats(top)
    st.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def calm_numpy(inp: dict[str, Any]) -> dict[str, Any]:
    out = run_numpy(inp, per_step_times=True)
    if out["liquidations"]:
        raise RuntimeError("calm path liquidated someone (numpy)")
    return {"block_median_s": statistics.median(out["step_times"]), "steps_s": out["steps_s"]}


def calm_engine(inp: dict[str, Any]) -> dict[str, Any]:
    from clearhouse.ledger.block import Block
    from clearhouse.ledger.fixedpoint import WAD

    t0 = time.perf_counter()
    engine, height = _engine_setup(inp)
    setup_s = time.perf_counter() - t0
    to_wad = WAD // MICRO
    times = []
    for p in inp["path_u"].tolist()[1:]:
        ts = time.perf_counter()
        res = engine.apply_block(Block(height, 60 * (height + 1), {"ETH": int(p) * to_wad}))
        times.append(time.perf_counter() - ts)
        height += 1
        if any(type(e).__name__ == "PositionClosedOut" for e in res.events):
            raise RuntimeError("calm path liquidated someone (engine)")
    return {"block_median_s": statistics.median(times), "setup_s": setup_s, "steps_s": sum(times)}


def stress_engine(inp: dict[str, Any]) -> dict[str, Any]:
    """Stressed enforcement: the toy book after a 15 % drop (thousands below maintenance), cap 50 per
    block; per block the time and the number of exact margin summaries enforcement computed (to show
    it scales with the cap, not with the candidates)."""
    import msgspec

    from clearhouse.ledger import enforcement
    from clearhouse.ledger.block import Block
    from clearhouse.ledger.events import PositionClosedOut
    from clearhouse.ledger.fixedpoint import WAD

    engine, height = _engine_setup(inp)
    state = engine.state
    state.params = msgspec.structs.replace(state.params, max_liquidations_per_block=STRESS_CAP)
    calls = [0]
    cross, isolated = enforcement.cross_summary, enforcement.isolated_summary

    def count_cross(*a: Any) -> Any:
        calls[0] += 1
        return cross(*a)

    def count_isolated(*a: Any) -> Any:
        calls[0] += 1
        return isolated(*a)

    class CountingTable(enforcement.MarginTable):
        """confirm() sums cross buckets through a MarginTable: count those too."""

        def cross_totals(self, account: Any) -> tuple[int, int, int]:
            calls[0] += 1
            return super().cross_totals(account)

    enforcement.cross_summary, enforcement.isolated_summary = count_cross, count_isolated  # type: ignore[assignment]
    enforcement.MarginTable = CountingTable  # type: ignore[misc]
    p = int(inp["path_u"][0]) * (WAD // MICRO) * 85 // 100
    times: list[float] = []
    summaries: list[int] = []
    candidates: list[int] = []
    per_block: list[int] = []
    for k in range(len(inp["path_u"]) - 1):
        calls[0] = 0
        ts = time.perf_counter()
        res = engine.apply_block(Block(height, 60 * (height + 1), {"ETH": p + k % 2}))
        times.append(time.perf_counter() - ts)
        height += 1
        summaries.append(calls[0])
        last = engine.scanner.last  # type: ignore[attr-defined]
        candidates.append(len(last.candidates) if last is not None else 0)
        per_block.append(sum(type(e) is PositionClosedOut for e in res.events))
    closed = sum(per_block)
    # Only the blocks where the cap binds (more below maintenance than it allows) say how selection
    # scales.
    busy = [i for i, c in enumerate(per_block) if c == STRESS_CAP] or list(range(len(times)))
    return {
        "block_median_s": statistics.median(times[i] for i in busy),
        "summaries_median": statistics.median(summaries[i] for i in busy),
        "candidates_median": statistics.median(candidates[i] for i in busy),
        "cap": STRESS_CAP,
        "closed": closed,
        "steps_s": sum(times),
    }


STRESS_CAP = 50
#: Accounts below maintenance in the direct close-out measure (``--closeout-k``).
CLOSEOUT_K = 200
#: Paired blocks in the direct close-out measure (``--closeout-repeat``); the fastest of each kind is kept.
CLOSEOUT_REPEAT = 7


def _drop_price_u(inp: dict[str, Any], k: int) -> int:
    """A price (micro-units) below which about ``k`` of the toy's long accounts are under maintenance
    (the toy's own float test; the engine's events give the exact count)."""
    size = inp["size_u"].astype(np.float64) / MICRO
    coll = inp["collateral"].astype(np.float64)
    p0 = float(inp["path_u"][0]) / MICRO
    longs = size > 0
    # equity coll + s (p - p0) < m s p  <=>  p < (s p0 - coll) / (s (1 - m)) for a long s > 0
    cut = np.sort((size[longs] * p0 - coll[longs]) / (size[longs] * (1.0 - MAINTENANCE)))[::-1]
    k = max(1, min(k, len(cut) - 1))
    return round(float(cut[k - 1] + cut[k]) / 2.0 * MICRO)


def closeout_engine(
    inp: dict[str, Any], k: int = CLOSEOUT_K, repeat: int = CLOSEOUT_REPEAT
) -> dict[str, Any]:
    """Direct cost of one exact close-out, all in: the toy engine after set-up and one calm block, then
    one block whose price leaves about ``k`` accounts below maintenance, applied to two identical deep
    copies of the engine: enforcement ``backstop`` with an unbinding cap, and the same with a cap of 0
    (which returns before the exact confirmation). Both copies run the same header, funding, price,
    screening (the same full scan: the price moved) and state-root work; the difference is exactly
    what the close-outs cause inside the block: the exact confirmation of the candidates, each
    close-out (its gate, both fills, the penalty, its events, the commit), the state-root leaves and
    Merkle paths of the accounts written, and the encoding of the extra events. Divided by the
    close-outs. (The next block's mirror sync of those accounts is not in it; it is the scanner's.)"""
    import copy

    import msgspec

    from clearhouse.ledger.block import Block
    from clearhouse.ledger.events import PositionClosedOut
    from clearhouse.ledger.fixedpoint import WAD

    to_wad = WAD // MICRO
    engine, height = _engine_setup(inp)
    p0 = int(inp["path_u"][0]) * to_wad
    engine.apply_block(Block(height, 60 * (height + 1), {"ETH": p0}))  # the scanner's first sync + scan
    height += 1
    drop = Block(height, 60 * (height + 1), {"ETH": _drop_price_u(inp, k) * to_wad})
    params = engine.state.params
    closed: set[int] = set()
    t_on: list[float] = []
    t_off: list[float] = []
    for r in range(repeat + 1):  # the first pair warms up (lazy compilation, caches) and is dropped
        on = copy.deepcopy(engine)
        off = copy.deepcopy(engine)
        off.state.params = msgspec.structs.replace(params, max_liquidations_per_block=0)
        # alternate which copy goes first (cache and allocator state)
        for which in (("on", "off") if r % 2 == 0 else ("off", "on")):
            eng = on if which == "on" else off
            gc.collect()
            ts = time.perf_counter()
            res = eng.apply_block(drop)
            dt = time.perf_counter() - ts
            n_closed = sum(type(e) is PositionClosedOut for e in res.events)
            if which == "on":
                t_on.append(dt)
                closed.add(n_closed)
            else:
                t_off.append(dt)
                if n_closed:
                    raise RuntimeError("the cap-0 copy closed accounts out")
        del on, off
    t_on, t_off = t_on[1:], t_off[1:]
    if len(closed) != 1 or not next(iter(closed)):
        raise RuntimeError(f"close-out counts differ between runs or are zero: {sorted(closed)}")
    n = closed.pop()
    diffs = [a - b for a, b in zip(t_on, t_off, strict=True)]
    return {
        "close_outs": n,
        "block_with_s": t_on,
        "block_without_s": t_off,
        "close_out_s": (min(t_on) - min(t_off)) / n,
        "close_out_median_pair_s": statistics.median(diffs) / n,
        "steps_s": sum(t_on) + sum(t_off),
    }


CHILDREN = {
    "numpy": run_numpy,
    "python": run_python,
    "cadcad": run_cadcad,
    "radcad": run_radcad,
    "engine": run_engine,
    "calm-numpy": calm_numpy,
    "calm-engine": calm_engine,
    "stress-engine": stress_engine,
    "closeout-engine": closeout_engine,
}


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child_main(
    kind: str,
    n: int,
    steps: int,
    sigma: float,
    seed: int,
    profile: bool,
    closeout_k: int = CLOSEOUT_K,
    closeout_repeat: int = CLOSEOUT_REPEAT,
) -> dict[str, Any]:
    # Every child imports the engine's modules (numba included), so the fixed import cost is equal.
    import clearhouse.ledger.engine
    import clearhouse.risk.scanner  # noqa: F401

    base = _rss_mb()
    inp = inputs(n, steps, sigma, seed, calm=kind.startswith("calm"))
    if kind == "engine":
        from clearhouse.risk.scan import warm_up

        warm_up()
        out = run_engine(inp, profile=profile)
    elif kind == "closeout-engine":
        from clearhouse.risk.scan import warm_up

        warm_up()
        out = closeout_engine(inp, closeout_k, closeout_repeat)
    elif kind in ("calm-engine", "stress-engine"):
        from clearhouse.risk.scan import warm_up

        warm_up()
        out = CHILDREN[kind](inp)
    else:
        out = CHILDREN[kind](inp)
    out.pop("step_times", None)
    out["rss_after_imports_mb"] = base
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_child(
    kind: str,
    n: int,
    steps: int,
    sigma: float,
    seed: int,
    profile: bool = False,
    open_block: int | None = None,
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.lab", "--child", kind, "--accounts", str(n)]
    cmd += ["--steps", str(steps), "--sigma", str(sigma), "--seed", str(seed), *extra]
    cmd += ["--open-block", str(OPEN_BLOCK if open_block is None else open_block)]
    if profile:
        cmd.append("--profile")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-6:])
        return {"error": f"{kind} failed (exit {proc.returncode}): {tail}"}
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# ----------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
    }


def _target_row(
    name: str, target: str, measured: float | None, ok: bool | None, note: str = ""
) -> dict[str, Any]:
    return {"target": name, "aim": target, "measured": measured, "met": ok, "note": note}


def main() -> None:
    global OPEN_BLOCK
    ap = argparse.ArgumentParser(prog="clearhouse bench lab", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=10_000, help="accounts in the toy run (default 10,000)")
    ap.add_argument("--steps", type=int, default=1_000, help="price steps in the toy run (default 1,000)")
    ap.add_argument("--sigma", type=float, default=0.002, help="GBM volatility per step (default 0.002)")
    ap.add_argument("--seed", type=int, default=1, help="population and path seed")
    ap.add_argument(
        "--calm-accounts",
        type=int,
        nargs="+",
        default=[10_000, 100_000],
        help="account counts for the calm-block rows (the largest one is the memory row)",
    )
    ap.add_argument("--calm-blocks", type=int, default=50, help="calm blocks per calm run (default 50)")
    ap.add_argument("--repeat", type=int, default=3, help="toy runs per implementation, fastest kept")
    ap.add_argument("--stress-blocks", type=int, default=20, help="blocks in the stressed run (default 20)")
    ap.add_argument(
        "--closeout-k",
        type=int,
        default=CLOSEOUT_K,
        help="accounts below maintenance in the direct close-out measure (default 200)",
    )
    ap.add_argument(
        "--closeout-repeat",
        type=int,
        default=CLOSEOUT_REPEAT,
        help="paired blocks in the direct close-out measure, fastest kept (default 7)",
    )
    ap.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["python", "cadcad", "radcad"],
        help="implementations to leave out of the toy run",
    )
    ap.add_argument(
        "--profile", action="store_true", help="print the engine toy run's cProfile top functions"
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: 2k x 200, calm at 10k, no cadCAD/radCAD")
    ap.add_argument("--out", default="bench-results/lab.json", help="JSON output path")
    ap.add_argument(
        "--open-block",
        type=count_arg(0),
        default=OPEN_BLOCK,
        help=f"transactions per block when the engine opens the accounts (default {OPEN_BLOCK:,}; "
        "0 = one block of 2N account and deposit transactions, then one of N trades)",
    )
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = ap.parse_args()
    OPEN_BLOCK = args.open_block  # read by _engine_setup (this process and the children it starts)
    if args.child:
        out = child_main(
            args.child,
            args.accounts,
            args.steps,
            args.sigma,
            args.seed,
            args.profile,
            args.closeout_k,
            args.closeout_repeat,
        )
        print(json.dumps(out))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150))
    n, steps, calm_sizes, skip = args.accounts, args.steps, args.calm_accounts, set(args.skip)
    if args.quick:
        n, steps, calm_sizes, skip = 2_000, 200, [10_000], skip | {"cadcad", "radcad"}
        args.repeat = 1
    kinds = ["numpy", "engine", *[k for k in ("python", "cadcad", "radcad") if k not in skip]]
    results: dict[str, Any] = {
        "machine": machine(),
        "accounts": n,
        "steps": steps,
        "sigma": args.sigma,
        "seed": args.seed,
        "open_block": args.open_block,
        "toy": {},
        "calm": [],
    }
    # The machines are shared: each implementation runs ``--repeat`` times, interleaved, and keeps its
    # fastest run (the same rule for every implementation; the others are in the JSON).
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for r in range(args.repeat):
        for kind in kinds:
            console.print(f"[dim]toy model: {kind}, {n:,} accounts x {steps:,} steps (run {r + 1}) ...[/]")
            runs[kind].append(run_child(kind, n, steps, args.sigma, args.seed))
    for kind in kinds:
        ok = [out for out in runs[kind] if "error" not in out]
        best = min(ok, key=lambda out: out["steps_s"]) if ok else runs[kind][0]
        best["all_steps_s"] = [out["steps_s"] for out in ok]
        results["toy"][kind] = best
    if args.profile:  # a separate run: cProfile's overhead must not enter the timed rows
        console.print("[dim]toy model: engine again, under cProfile ...[/]")
        prof = run_child("engine", n, steps, args.sigma, args.seed, profile=True)
        results["engine_profile"] = prof.get("profile") or prof.get("error", "")
    for size in calm_sizes:
        console.print(f"[dim]calm blocks: {size:,} accounts x {args.calm_blocks} blocks ...[/]")
        row = {"accounts": size}
        for kind in ("calm-numpy", "calm-engine"):
            row[kind] = run_child(kind, size, args.calm_blocks, args.sigma, args.seed)
        results["calm"].append(row)
    if calm_sizes and args.open_block:
        # The memory row's engine with the opening of earlier sessions (one block of 2N transactions,
        # one of N trades), for comparison: the peak is then set by those blocks' transients.
        size = max(calm_sizes)
        console.print(f"[dim]calm blocks: {size:,} accounts, opened in one block (memory comparison) ...[/]")
        results["calm_one_block_open"] = run_child(
            "calm-engine", size, args.calm_blocks, args.sigma, args.seed, open_block=0
        )

    console.print(f"[dim]stressed enforcement: {n:,} accounts x {args.stress_blocks} blocks ...[/]")
    results["stress"] = run_child("stress-engine", n, args.stress_blocks, args.sigma, args.seed)
    console.print(f"[dim]direct close-out: {n:,} accounts, ~{args.closeout_k:,} below maintenance ...[/]")
    results["closeout"] = run_child(
        "closeout-engine",
        n,
        1,
        args.sigma,
        args.seed,
        extra=("--closeout-k", str(args.closeout_k), "--closeout-repeat", str(args.closeout_repeat)),
    )

    toy = results["toy"]
    base = toy["numpy"]
    if "error" in base or "error" in toy["engine"]:
        raise SystemExit(f"baseline or engine failed: {base.get('error') or toy['engine'].get('error')}")
    # Same liquidations (same account ids at the same steps) in every implementation that ran.
    for kind, out in toy.items():
        # an explicit check, not ``assert``: it must hold under ``python -O`` too
        if "error" not in out and out["liquidations"] != base["liquidations"]:
            raise SystemExit(f"{kind} closed out different accounts or steps than the numpy loop")
    n_liq = sum(len(ids) for _, ids in base["liquidations"])

    def speed(kind: str) -> float | None:
        out = toy.get(kind)
        return None if out is None or "error" in out else base["steps_s"] / out["steps_s"]

    eng = toy["engine"]
    targets = []
    for row in results["calm"]:
        cn, ce = row["calm-numpy"], row["calm-engine"]
        ok = "error" not in cn and "error" not in ce
        r = cn["block_median_s"] / ce["block_median_s"] if ok else None
        targets.append(
            _target_row(
                f"calm block, {row['accounts']:,} accounts (numpy step / engine block)",
                ">= 0.5",
                r,
                None if r is None else r >= 0.5,
                f"engine {ce['block_median_s'] * 1e6:,.0f} us, numpy {cn['block_median_s'] * 1e6:,.0f} us"
                if ok
                else "failed",
            )
        )
    # The issue states the toy targets at 10k accounts x 1,000 steps and memory at 100k accounts: at
    # other sizes the rows show the measurement but do not claim met / not met.
    at_size = n >= 10_000 and steps >= 1_000
    off_size = "" if at_size else "target is stated at 10,000 accounts x 1,000 steps"
    s_eng = speed("engine")
    targets.append(
        _target_row(
            f"whole toy model, {n:,} accounts (numpy time / engine time)",
            ">= 0.25",
            s_eng,
            (s_eng is not None and s_eng >= 0.25) if at_size else None,
            off_size,
        )
    )
    for kind, aim in (("cadcad", 3.0), ("radcad", 25.0)):
        out = toy.get(kind)
        if out is None:
            targets.append(_target_row(f"engine vs {kind} default", f">= {aim:g}x", None, None, "skipped"))
        elif "error" in out:
            targets.append(_target_row(f"engine vs {kind} default", f">= {aim:g}x", None, None, out["error"]))
        else:
            r = out["steps_s"] / eng["steps_s"]
            targets.append(
                _target_row(
                    f"engine vs {kind} default ({kind} time / engine time)",
                    f">= {aim:g}x",
                    r,
                    r >= aim if at_size else None,
                    off_size,
                )
            )
    big = max(results["calm"], key=lambda r: r["accounts"]) if results["calm"] else None
    if big is not None and "error" not in big["calm-engine"] and "error" not in big["calm-numpy"]:
        numpy_mb = big["calm-numpy"]["peak_rss_mb"]
        mem = big["calm-engine"]["peak_rss_mb"] / numpy_mb
        note = f"{big['calm-engine']['peak_rss_mb']:,.0f} vs {numpy_mb:,.0f} MiB"
        if args.open_block:
            note += f"; opened in blocks of {args.open_block:,} txs"
            one = results.get("calm_one_block_open", {})
            if "peak_rss_mb" in one:
                one_mb = one["peak_rss_mb"]
                note += f" (in one block: {one_mb:,.0f} MiB, {one_mb / numpy_mb:.2f}x)"
        else:
            note += "; opened in one block"
        if big["accounts"] < 100_000:
            note += "; target is stated at 100,000 accounts"
        targets.append(
            _target_row(
                f"memory, {big['accounts']:,} accounts (engine peak RSS / numpy's)",
                "<= 3x",
                mem,
                mem <= 3.0 if big["accounts"] >= 100_000 else None,
                note,
            )
        )
    stress = results["stress"]
    if "error" in stress:
        what = "stressed enforcement: exact summaries per block / cap"
        targets.append(_target_row(what, "<= 3 (O(cap))", None, None, stress["error"]))
    else:
        per_cap = stress["summaries_median"] / stress["cap"]
        targets.append(
            _target_row(
                "stressed enforcement: exact summaries per block / cap",
                "<= 3 (O(cap))",
                per_cap,
                per_cap <= 3.0,
                f"{stress['candidates_median']:,.0f} candidates, cap {stress['cap']}, "
                f"block {stress['block_median_s'] * 1e3:,.1f} ms",
            )
        )
    direct = results["closeout"]
    if "error" in direct:
        what = "exact close-out, direct (us, all in)"
        targets.append(_target_row(what, "<= 15", None, None, direct["error"]))
    else:
        us = direct["close_out_s"] * 1e6
        targets.append(
            _target_row(
                "exact close-out, direct (us, all in)",
                "<= 15",
                us,
                us <= 15 if n >= 10_000 else None,
                f"{direct['close_outs']:,} close-outs in one block, minus the same block with cap 0; "
                f"median pair {direct['close_out_median_pair_s'] * 1e6:.1f} us"
                + ("" if n >= 10_000 else "; stated for the 10,000-account toy"),
            )
        )
    co = eng.get("close_out_s")
    # The old row, kept for continuity: it charges each busy block's full scan to its close-outs.
    targets.append(
        _target_row(
            "exact close-out, old method (us, toy run: busy - calm blocks)",
            "info",
            None if co is None else co * 1e6,
            None,
            f"{eng['close_outs']:,} close-outs; includes the busy blocks' full scans",
        )
    )
    results["targets"] = targets

    t1 = Table(
        title=f"toy model, {n:,} accounts x {steps:,} steps, sigma {args.sigma}/step, "
        f"{n_liq:,} close-outs (identical ids and steps in every implementation)"
    )
    for col in ("implementation", "steps (s)", "set-up (s)", "peak RSS (MiB)", "speed vs numpy (same run)"):
        t1.add_column(col, justify="left" if col == "implementation" else "right")
    for kind in kinds:
        out = toy[kind]
        if "error" in out:
            t1.add_row(kind, "-", "-", "-", out["error"][:80])
            continue
        t1.add_row(
            kind,
            f"{out['steps_s']:.3f}",
            f"{out.get('setup_s', 0.0):.2f}",
            f"{out['peak_rss_mb']:,.0f}",
            f"{speed(kind):.4f}",
        )
    console.print(t1)
    t2 = Table(title="targets (issue 10, step 6), ratios measured in this run")
    for col in ("target", "aim", "measured", "met", "note"):
        t2.add_column(col, justify="left" if col in ("target", "note") else "right")
    for t in targets:
        m = "-" if t["measured"] is None else f"{t['measured']:.3g}"
        met = "n/a" if t["met"] is None else ("met" if t["met"] else "NOT met")
        t2.add_row(t["target"], t["aim"], m, met, t["note"][:110])
    console.print(t2)
    if "engine_profile" in results:
        console.print("[bold]engine toy run, cProfile (separate run; times inflated by the profiler)[/]")
        console.print(results["engine_profile"], markup=False, highlight=False)
    console.print(f"machine: {results['machine']}")
    write_results(Path(args.out), results, console)


if __name__ == "__main__":
    main()
