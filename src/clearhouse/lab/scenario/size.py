"""A memory estimate that refuses a run which cannot fit, before anything is allocated.

A path holds its engine state and agents per account (and per vault), and per block the price path
(floats and WAD integers) and one timeseries row; paths run side by side in up to one process per
core. The constants below are deliberately generous upper bounds (a 2,000-account, 3,000-block path
measures about 70 MB above the interpreter's 190 MB), so the check only refuses what is clearly
impossible (``horizon = "100000d"``, ``accounts = 100_000_000``), never a run that fits.

The limit is :data:`MEMORY_FRACTION` of physical memory (``os.sysconf``), or the byte count in
``$CLEARHOUSE_MEMORY_LIMIT`` (suffixes K, M, G, T accepted).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from clearhouse.lab.scenario.model import ScenarioError
from clearhouse.lab.scenario.schema import ScenarioSpec

#: Environment variable overriding the memory limit (bytes; K/M/G/T suffixes).
MEMORY_LIMIT_ENV: Final = "CLEARHOUSE_MEMORY_LIMIT"
#: Share of physical memory a run may plan to use.
MEMORY_FRACTION: Final = 0.8
#: Interpreter, engine and libraries of one path (measured ~190 MB, rounded up).
BASE_BYTES: Final = 300 * 2**20
#: Engine account, positions, agent and population entries of one trader.
BYTES_PER_ACCOUNT: Final = 20_000
#: A vault, its owner and its auction state.
BYTES_PER_VAULT: Final = 20_000
#: One block's timeseries row, events buffer share and bookkeeping.
BYTES_PER_BLOCK: Final = 2_000
#: One block's price of one asset (float, WAD integer, oracle reports).
BYTES_PER_BLOCK_ASSET: Final = 400


@dataclass(frozen=True)
class SizeEstimate:
    """Estimated peak bytes of a run and its largest term (the field to name in an error)."""

    total: int
    field: str
    blocks: int
    accounts: int
    paths: int


def estimate(spec: ScenarioSpec, horizon: int, paths: int = 1) -> SizeEstimate:
    """Peak bytes of ``paths`` paths of ``spec`` (``horizon`` in seconds), at most one per core at once."""
    vaults = spec.vaults.population.count if spec.vaults is not None else 0
    return _estimate(
        horizon // spec.block_time + 1, spec.population.accounts, vaults, len(spec.assets), paths
    )


def _estimate(blocks: int, accounts: int, vaults: int, n_assets: int, paths: int) -> SizeEstimate:
    assets = max(1, n_assets)
    terms = {
        "population.accounts": accounts * BYTES_PER_ACCOUNT,
        "vaults.population.count": vaults * BYTES_PER_VAULT,
        "horizon": blocks * (BYTES_PER_BLOCK + assets * BYTES_PER_BLOCK_ASSET),
    }
    at_once = max(1, min(paths, os.cpu_count() or 1))
    total = at_once * (BASE_BYTES + sum(terms.values()))
    field = max(sorted(terms), key=lambda k: terms[k])
    return SizeEstimate(total, field, blocks, accounts, paths)


def memory_limit() -> tuple[int, str]:
    """The limit in bytes and where it comes from."""
    env = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if env:
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)B?", env, re.IGNORECASE)
        if m is None:
            raise ScenarioError(f"${MEMORY_LIMIT_ENV}", "", f"must be a byte count such as 8G, got {env!r}")
        scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[m.group(2).upper()]
        return int(float(m.group(1)) * scale), f"${MEMORY_LIMIT_ENV}"
    try:
        phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # no sysconf: no limit known
        return 2**62, "no physical memory size known"
    return int(phys * MEMORY_FRACTION), f"{MEMORY_FRACTION:.0%} of physical memory; set ${MEMORY_LIMIT_ENV}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


def check_size(spec: ScenarioSpec, horizon: int, file: str, paths: int = 1) -> SizeEstimate:
    """Refuse a run whose estimate exceeds the limit, naming the field with the largest term."""
    return _check(estimate(spec, horizon, paths), file)


def precheck_raw(table: Mapping[str, Any], file: str, paths: int = 1) -> None:
    """The same check on the raw table, before its types are checked, so ``accounts = 1e8`` (a TOML
    float) is refused for its size rather than its type. Values that are not plain numbers are
    left to the typed validation."""

    def number(node: Any, *keys: str) -> float | None:
        for k in keys:
            if not isinstance(node, Mapping) or k not in node:
                return None
            node = node[k]
        ok = isinstance(node, int | float) and not isinstance(node, bool) and math.isfinite(node)
        return float(node) if ok else None

    block_time = number(table, "block_time") or 60.0
    horizon: float | None = number(table, "horizon")
    raw = table.get("horizon")
    if horizon is None and isinstance(raw, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", raw)
        horizon = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)] if m else None
    if block_time <= 0:
        return
    blocks = int((horizon or 0) // block_time) + 1
    accounts = int(max(0.0, number(table, "population", "accounts") or 0.0))
    vaults = int(max(0.0, number(table, "vaults", "population", "count") or 0.0))
    assets = table.get("assets")
    n_assets = len(assets) if isinstance(assets, Mapping) else 1
    _check(_estimate(blocks, accounts, vaults, n_assets, paths), file)


def _check(est: SizeEstimate, file: str) -> SizeEstimate:
    limit, how = memory_limit()
    if est.total > limit:
        raise ScenarioError(
            file,
            est.field,
            f"makes the run too large: estimated {human_bytes(est.total)} for {est.paths} path(s) × "
            f"{est.blocks:,} blocks × {est.accounts:,} accounts exceeds the limit {human_bytes(limit)} "
            f"({how})",
        )
    return est
