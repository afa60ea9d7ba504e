"""Time series for the report's plots: fans across paths, downsampling that keeps the extremes, and
the log-scale decision. Plain numpy; nothing here knows about plotly."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Most points per plotted trace: a 48 h path of 12 s blocks has 14,401 blocks.
MAX_POINTS = 2000
#: A positive series whose max / min exceeds this is drawn on a log axis (a −95 % fall is 20×).
LOG_RATIO = 20.0
#: Quantiles of the fan: the band and its middle line.
FAN_LO, FAN_MID, FAN_HI = 0.05, 0.5, 0.95


def _bucket_extremes(y: np.ndarray, buckets: int, *, lo: bool, hi: bool) -> np.ndarray:
    """Indices of each bucket's minimum (``lo``) and / or maximum (``hi``); NaN never wins."""
    n = y.size
    size = -(-n // buckets)
    idx = np.minimum(np.arange(buckets * size), n - 1).reshape(buckets, size)
    vals = y[idx]
    base = np.arange(buckets) * size
    picks = [np.array([0, n - 1])]
    if lo:
        picks.append(base + np.argmin(np.where(np.isnan(vals), np.inf, vals), axis=1))
    if hi:
        picks.append(base + np.argmax(np.where(np.isnan(vals), -np.inf, vals), axis=1))
    return np.unique(np.minimum(np.concatenate(picks), n - 1))


def minmax_indices(y: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """At most ``max_points`` indices into ``y``, sorted: the first, the last, and the minimum and
    maximum of each of ``(max_points - 2) // 2`` equal buckets, so spikes and crashes survive."""
    y = np.asarray(y, dtype=np.float64)
    if y.size <= max_points:
        return np.arange(y.size)
    return _bucket_extremes(y, max(1, (max_points - 2) // 2), lo=True, hi=True)


def band_indices(lo: np.ndarray, hi: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Common indices for a band's two edges (at most ``max_points``): each bucket's minimum of
    ``lo`` and maximum of ``hi``, so the drawn band never looks narrower than the data."""
    lo = np.asarray(lo, dtype=np.float64)
    if lo.size <= max_points:
        return np.arange(lo.size)
    buckets = max(1, (max_points - 2) // 2)
    a = _bucket_extremes(lo, buckets, lo=True, hi=False)
    b = _bucket_extremes(np.asarray(hi, dtype=np.float64), buckets, lo=False, hi=True)
    return np.union1d(a, b)


def stack(series: Sequence[np.ndarray]) -> np.ndarray:
    """Paths × blocks (float64), cut to the shortest path (paths of one scenario have equal length)."""
    n = min(s.size for s in series)
    return np.vstack([np.asarray(s[:n], dtype=np.float64) for s in series])


def fan(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block across paths (rows): the 5 %, 50 % and 95 % quantiles, linear interpolation over the
    non-NaN values (``numpy.nanquantile``'s definition, vectorised: it loops per column)."""
    m = np.asarray(matrix, dtype=np.float64)
    s = np.sort(m, axis=0)  # NaN sorts last
    n = np.sum(~np.isnan(m), axis=0)
    cols = np.arange(m.shape[1])
    out = []
    for q in (FAN_LO, FAN_MID, FAN_HI):
        pos = q * np.maximum(n - 1, 0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        a, b = s[lo, cols], s[hi, cols]
        with np.errstate(invalid="ignore"):
            v = a + (b - a) * (pos - lo)
        out.append(np.where(n > 0, v, np.nan))
    return out[0], out[1], out[2]


def wants_log(*arrays: np.ndarray) -> bool:
    """Log axis when every finite value is positive and max / min > :data:`LOG_RATIO` (a price falling
    by orders of magnitude); linear otherwise (zeros or negatives cannot go on a log axis)."""
    if not arrays:
        return False
    vals = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0 or vals.min() <= 0:
        return False
    return bool(vals.max() / vals.min() > LOG_RATIO)


def cumulative(matrix: np.ndarray) -> np.ndarray:
    """Running sum along blocks (per-block counts -> totals so far)."""
    return np.cumsum(np.nan_to_num(matrix), axis=1)
