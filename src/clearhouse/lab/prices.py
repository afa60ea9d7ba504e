"""Price models for the stress lab: one interface, a config struct per model, a registry by name.

Every model implements :class:`PriceModel`: ``model.path(times, seed)`` takes simulation times in
integer seconds (1-D, non-decreasing) and returns float64 prices of shape ``(len(times), n_assets)``.
Synthetic models start at ``times[0]`` with ``path[0] == s0``; randomness comes only from
``numpy.random.Generator(PCG64(seed))`` and the arithmetic on the draws uses only correctly rounded
IEEE operations (:mod:`clearhouse.lab.detmath`), so a seed gives bit-identical paths on any machine
running the same NumPy random stream. Prices enter the engine once, through :func:`to_wad`.

Models (formulas in ``docs/price-models.md``): ``gbm``, ``merton``, ``garch``, ``replay``,
``waypoints`` and ``columns`` (several of them side by side). Configs are frozen :mod:`msgspec`
structs validated on construction; a bad value raises :class:`~clearhouse.lab.errors.LabConfigError`
naming the field (``"gbm.vol"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, NamedTuple, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from clearhouse.core.fixedpoint import WAD, to_fixed
from clearhouse.lab.csvdata import CSV_PRESETS, parse_floats, parse_start, read_columns
from clearhouse.lab.detmath import F64, cholesky, correlate, det_exp
from clearhouse.lab.errors import LabConfigError, LabDataError
from clearhouse.oracle.sources import TimeUnit

I64 = npt.NDArray[np.int64]

#: Seconds per year used to turn annualised drift, vol and intensities into per-step quantities.
YEAR_SECONDS: Final = 365 * 24 * 3600


class PriceModel(Protocol):
    """What the lab needs from a price model."""

    @property
    def assets(self) -> tuple[str, ...]: ...

    def path(self, times: npt.ArrayLike, seed: int) -> F64: ...


# ----------------------------------------------------------------------------- validation helpers


def check_times(times: npt.ArrayLike) -> I64:
    """``times`` as a 1-D non-empty, non-decreasing int64 array, or :class:`LabConfigError`."""
    arr = np.asarray(times)
    if arr.ndim != 1 or arr.size == 0:
        raise LabConfigError("times", f"must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise LabConfigError("times", f"must be integer seconds, got dtype {arr.dtype}")
    t = arr.astype(np.int64)
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise LabConfigError("times", f"times[{i}]={t[i]} is before times[{i - 1}]={t[i - 1]}")
    return t


def _rng(seed: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise LabConfigError("seed", f"must be a non-negative integer, got {seed!r}")
    return np.random.Generator(np.random.PCG64(int(seed)))


def _finite(kind: str, field: str, value: float) -> float:
    if isinstance(value, bool) or not math.isfinite(value):
        raise LabConfigError(f"{kind}.{field}", f"must be a finite number, got {value!r}")
    return float(value)


def _per_asset(
    kind: str,
    field: str,
    value: float | Sequence[float],
    n: int,
    *,
    lo: float | None = None,
    strict: bool = False,
) -> tuple[float, ...]:
    """Broadcast a scalar or check a per-asset list; enforce ``>= lo`` (``> lo`` when ``strict``)."""
    vals = [value] * n if isinstance(value, int | float) else list(value)
    if len(vals) != n:
        raise LabConfigError(f"{kind}.{field}", f"needs one value per asset ({n}), got {len(vals)}")
    out = tuple(_finite(kind, field, v) for v in vals)
    if lo is not None:
        for i, v in enumerate(out):
            if v < lo or (strict and v == lo):
                rel = ">" if strict else ">="
                name = (
                    f"{kind}.{field}" if n == 1 or not isinstance(value, Sequence) else f"{kind}.{field}[{i}]"
                )
                raise LabConfigError(name, f"must be {rel} {lo}, got {v}")
    return out


def check_correlation(kind: str, matrix: Sequence[Sequence[float]], n: int) -> list[list[float]]:
    """Validate a correlation matrix (n×n, unit diagonal, symmetric, entries in [-1, 1], positive
    semi-definite to 1e-10) and return its Cholesky factor (see :func:`~clearhouse.lab.detmath.cholesky`).
    """
    field = f"{kind}.correlation"
    rows = [list(r) for r in matrix]
    if len(rows) != n or any(len(r) != n for r in rows):
        raise LabConfigError(field, f"must be {n}×{n} (one row and column per asset)")
    for i in range(n):
        for j in range(n):
            v = _finite(kind, f"correlation[{i}][{j}]", rows[i][j])
            if i == j and v != 1.0:
                raise LabConfigError(f"{field}[{i}][{i}]", f"diagonal must be 1, got {v}")
            if not -1.0 <= v <= 1.0:
                raise LabConfigError(f"{field}[{i}][{j}]", f"must be in [-1, 1], got {v}")
            if abs(v - rows[j][i]) > 1e-12:
                raise LabConfigError(field, f"not symmetric: [{i}][{j}]={v} but [{j}][{i}]={rows[j][i]}")
    smallest = float(np.linalg.eigvalsh(np.asarray(rows, dtype=np.float64)).min())
    if smallest < -1e-10:
        raise LabConfigError(field, f"not positive semi-definite (smallest eigenvalue {smallest:.3g})")
    return cholesky(rows)


# ----------------------------------------------------------------------------- synthetic models


class _AssetsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fields shared by the synthetic models. Scalars broadcast to every asset."""

    kind: ClassVar[str] = "model"
    #: Asset names, in column order of the path.
    assets: tuple[str, ...]
    #: Price at ``times[0]`` per asset (> 0).
    s0: float | tuple[float, ...]
    #: Correlation of the Gaussian shocks across assets (symmetric PSD); ``None`` = independent.
    correlation: tuple[tuple[float, ...], ...] | None = None

    def _check_common(self) -> None:
        if not self.assets:
            raise LabConfigError(f"{self.kind}.assets", "needs at least one asset")
        if len(set(self.assets)) != len(self.assets):
            raise LabConfigError(f"{self.kind}.assets", f"duplicate asset names in {self.assets}")
        _per_asset(self.kind, "s0", self.s0, len(self.assets), lo=0.0, strict=True)
        if self.correlation is not None:
            check_correlation(self.kind, self.correlation, len(self.assets))

    @property
    def n(self) -> int:
        return len(self.assets)

    def vec(self, field: str) -> F64:
        value: float | tuple[float, ...] = getattr(self, field)
        return np.asarray(_per_asset(self.kind, field, value, self.n), dtype=np.float64)

    def lower(self) -> list[list[float]] | None:
        return None if self.correlation is None else check_correlation(self.kind, self.correlation, self.n)


class GbmConfig(_AssetsConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Geometric Brownian motion: annualised log drift ``drift`` (μ) and volatility ``vol`` (σ ≥ 0)."""

    kind: ClassVar[str] = "gbm"
    drift: float | tuple[float, ...] = 0.0
    vol: float | tuple[float, ...] = 0.0

    def __post_init__(self) -> None:
        self._check_common()
        _per_asset(self.kind, "drift", self.drift, self.n)
        _per_asset(self.kind, "vol", self.vol, self.n, lo=0.0)


class MertonConfig(GbmConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Merton jump diffusion: GBM plus compound-Poisson log-jumps ``J ~ N(jump_mean, jump_std²)``
    arriving at ``jump_intensity`` per year, independently per asset."""

    kind: ClassVar[str] = "merton"
    jump_intensity: float | tuple[float, ...] = 0.0
    jump_mean: float | tuple[float, ...] = 0.0
    jump_std: float | tuple[float, ...] = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _per_asset(self.kind, "jump_intensity", self.jump_intensity, self.n, lo=0.0)
        _per_asset(self.kind, "jump_mean", self.jump_mean, self.n)
        _per_asset(self.kind, "jump_std", self.jump_std, self.n, lo=0.0)


class GarchConfig(_AssetsConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """GARCH(1,1) log returns, parameters *per step* of the time grid:
    ``r_i = mu + sqrt(h_i)·z_i``, ``h_{i+1} = omega + alpha·(r_i − mu)² + beta·h_i``."""

    kind: ClassVar[str] = "garch"
    omega: float | tuple[float, ...]
    alpha: float | tuple[float, ...]
    beta: float | tuple[float, ...]
    mu: float | tuple[float, ...] = 0.0
    #: Variance of the first step; default the unconditional ``omega / (1 − alpha − beta)``.
    h0: float | tuple[float, ...] | None = None
    #: If set, every step of the grid must be exactly this long (GARCH has no natural time scaling).
    step_seconds: int | None = None

    def __post_init__(self) -> None:
        self._check_common()
        _per_asset(self.kind, "omega", self.omega, self.n, lo=0.0, strict=True)
        alpha = _per_asset(self.kind, "alpha", self.alpha, self.n, lo=0.0)
        beta = _per_asset(self.kind, "beta", self.beta, self.n, lo=0.0)
        for i, (a, b) in enumerate(zip(alpha, beta, strict=True)):
            if a + b >= 1.0:
                where = "" if self.n == 1 else f" for {self.assets[i]}"
                raise LabConfigError(
                    f"{self.kind}.alpha+beta", f"must be < 1 for a stationary variance{where}, got {a + b}"
                )
        _per_asset(self.kind, "mu", self.mu, self.n)
        if self.h0 is not None:
            _per_asset(self.kind, "h0", self.h0, self.n, lo=0.0, strict=True)
        if self.step_seconds is not None and self.step_seconds <= 0:
            raise LabConfigError(f"{self.kind}.step_seconds", f"must be > 0, got {self.step_seconds}")

    def unconditional_variance(self) -> F64:
        return self.vec("omega") / (1.0 - self.vec("alpha") - self.vec("beta"))


def _steps(t: I64) -> F64:
    """Step lengths in years."""
    years: F64 = np.diff(t).astype(np.float64) / float(YEAR_SECONDS)
    return years


def _from_log(s0: F64, incr: F64) -> F64:
    """``s0 · exp(cumsum(incr))`` with ``path[0] == s0`` exactly."""
    x = np.zeros((incr.shape[0] + 1, incr.shape[1]), dtype=np.float64)
    np.cumsum(incr, axis=0, out=x[1:])
    prices: F64 = s0[None, :] * det_exp(x)
    return prices


class GbmModel:
    """Exact log-normal GBM steps on any (irregular) grid:
    ``S_{i+1} = S_i · exp((μ − σ²/2)·Δt + σ·√Δt·z_i)``, ``Δt`` in years, ``z`` correlated normals.

    Draws: ``standard_normal((len(times) − 1, n_assets))``, then the Cholesky factor per row.
    """

    def __init__(self, config: GbmConfig) -> None:
        self.config = config
        self._lower = config.lower()
        self._s0, self._mu, self._vol = config.vec("s0"), config.vec("drift"), config.vec("vol")

    @property
    def assets(self) -> tuple[str, ...]:
        return self.config.assets

    def shocks(self, times: npt.ArrayLike, seed: int) -> F64:
        """The correlated standard normals ``z`` the path is built from (for tests and diagnostics)."""
        t = check_times(times)
        return correlate(_rng(seed).standard_normal((t.size - 1, self.config.n)), self._lower)

    def path(self, times: npt.ArrayLike, seed: int) -> F64:
        t = check_times(times)
        dt = _steps(t)[:, None]
        z = correlate(_rng(seed).standard_normal((t.size - 1, self.config.n)), self._lower)
        incr = (self._mu - 0.5 * self._vol * self._vol)[None, :] * dt + self._vol[None, :] * np.sqrt(dt) * z
        return _from_log(self._s0, incr)


class MertonPath(NamedTuple):
    prices: F64
    #: Number of jumps in each step, shape ``(len(times) − 1, n_assets)``.
    jump_counts: npt.NDArray[np.int64]


class MertonModel:
    """Merton jump diffusion on any grid, compensated so that ``E[S_t] = S_0·e^{μt}``:
    ``log S_{i+1} − log S_i = (μ − σ²/2 − λκ)Δt + σ√Δt·z_i + N_i·m + δ·√N_i·u_i`` with
    ``N_i ~ Poisson(λΔt)``, ``u_i ~ N(0, 1)``, ``κ = e^{m + δ²/2} − 1``.

    Draws, in order: diffusion normals ``(steps, assets)`` (correlated), Poisson counts
    ``(steps, assets)``, jump-size normals ``(steps, assets)``. Jumps are independent across assets.
    """

    def __init__(self, config: MertonConfig) -> None:
        self.config = config
        self._lower = config.lower()
        self._s0, self._mu, self._vol = config.vec("s0"), config.vec("drift"), config.vec("vol")
        self._lam, self._m = config.vec("jump_intensity"), config.vec("jump_mean")
        self._delta = config.vec("jump_std")
        self._kappa = det_exp(self._m + 0.5 * self._delta * self._delta) - 1.0

    @property
    def assets(self) -> tuple[str, ...]:
        return self.config.assets

    def simulate(self, times: npt.ArrayLike, seed: int) -> MertonPath:
        t = check_times(times)
        rng = _rng(seed)
        shape = (t.size - 1, self.config.n)
        dt = _steps(t)[:, None]
        z = correlate(rng.standard_normal(shape), self._lower)
        counts = rng.poisson(self._lam[None, :] * dt, size=shape).astype(np.int64)
        u = rng.standard_normal(shape)
        jumps = counts * self._m[None, :] + self._delta[None, :] * np.sqrt(counts.astype(np.float64)) * u
        drift = self._mu - 0.5 * self._vol * self._vol - self._lam * self._kappa
        incr = drift[None, :] * dt + self._vol[None, :] * np.sqrt(dt) * z + jumps
        return MertonPath(_from_log(self._s0, incr), counts)

    def path(self, times: npt.ArrayLike, seed: int) -> F64:
        return self.simulate(times, seed).prices


class GarchPath(NamedTuple):
    prices: F64
    #: Conditional variance ``h_i`` of each step, shape ``(len(times) − 1, n_assets)``.
    variances: F64
    #: Log returns ``r_i``, same shape.
    returns: F64


class GarchModel:
    """GARCH(1,1) log returns per grid step (parameters per step, not annualised).

    Draws: ``standard_normal((len(times) − 1, n_assets))``, correlated by the Cholesky factor.
    """

    def __init__(self, config: GarchConfig) -> None:
        self.config = config
        self._lower = config.lower()
        self._s0 = config.vec("s0")
        self._omega, self._alpha, self._beta = config.vec("omega"), config.vec("alpha"), config.vec("beta")
        self._mu = config.vec("mu")
        self._h0 = config.unconditional_variance() if config.h0 is None else config.vec("h0")

    @property
    def assets(self) -> tuple[str, ...]:
        return self.config.assets

    def simulate(self, times: npt.ArrayLike, seed: int) -> GarchPath:
        t = check_times(times)
        step = self.config.step_seconds
        if step is not None:
            bad = np.flatnonzero(np.diff(t) != step)
            if bad.size:
                i = int(bad[0])
                raise LabConfigError(
                    "times", f"garch.step_seconds={step} but times[{i + 1}] − times[{i}] = {t[i + 1] - t[i]}"
                )
        z = correlate(_rng(seed).standard_normal((t.size - 1, self.config.n)), self._lower)
        h = np.empty_like(z)
        cur = self._h0.copy()
        for i in range(z.shape[0]):
            h[i] = cur
            e = np.sqrt(cur) * z[i]
            cur = self._omega + self._alpha * (e * e) + self._beta * cur
        r = self._mu[None, :] + np.sqrt(h) * z
        return GarchPath(_from_log(self._s0, r), h, r)

    def path(self, times: npt.ArrayLike, seed: int) -> F64:
        return self.simulate(times, seed).prices


# ----------------------------------------------------------------------------- waypoints


class Waypoint(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The path passes through ``level × s0`` at ``at`` seconds after ``times[0]``."""

    at: int
    level: float


#: Black Thursday shape (ETH, 2020-03-12/13): −30 % at 12 h, −56 % at 26 h, +50 % rebound a day later.
BLACK_THURSDAY: Final = (
    Waypoint(0, 1.0),
    Waypoint(12 * 3600, 0.70),
    Waypoint(26 * 3600, 0.44),
    Waypoint(50 * 3600, 0.66),
)


class WaypointConfig(_AssetsConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A path through ``points`` (linear in price between them) times Brownian-bridge noise pinned to
    zero at every waypoint. ``beta`` scales each asset's move: ``level_a = 1 + beta_a·(level − 1)``
    (beta 1 for majors; e.g. 70/15 for a thin asset falling −70 % when majors fall −15 %)."""

    kind: ClassVar[str] = "waypoints"
    points: tuple[Waypoint, ...]
    #: Annualised volatility of the bridge noise (≥ 0).
    vol: float | tuple[float, ...] = 0.0
    beta: float | tuple[float, ...] = 1.0

    def __post_init__(self) -> None:
        self._check_common()
        _per_asset(self.kind, "vol", self.vol, self.n, lo=0.0)
        betas = _per_asset(self.kind, "beta", self.beta, self.n)
        if not self.points:
            raise LabConfigError(f"{self.kind}.points", "needs at least one waypoint")
        prev = -1
        for i, p in enumerate(self.points):
            if p.at < 0 or p.at <= prev:
                raise LabConfigError(
                    f"{self.kind}.points[{i}].at", f"must be >= 0 and increasing, got {p.at}"
                )
            prev = p.at
            level = _finite(self.kind, f"points[{i}].level", p.level)
            if level <= 0.0:
                raise LabConfigError(f"{self.kind}.points[{i}].level", f"must be > 0, got {level}")
            for a, b in enumerate(betas):
                if _asset_level(level, b) <= 0.0:
                    raise LabConfigError(
                        f"{self.kind}.beta",
                        f"beta {b} for {self.assets[a]} makes waypoint {i} (level {level}) non-positive",
                    )

    def table(self) -> tuple[I64, F64]:
        """Waypoint offsets (an implicit ``(0, 1.0)`` first) and per-asset levels ``(points, assets)``."""
        pts = list(self.points)
        if pts[0].at != 0:
            pts.insert(0, Waypoint(0, 1.0))
        betas = self.vec("beta")
        at = np.asarray([p.at for p in pts], dtype=np.int64)
        levels = np.asarray([[_asset_level(p.level, float(b)) for b in betas] for p in pts], dtype=np.float64)
        return at, levels


def _asset_level(level: float, beta: float) -> float:
    return level if beta == 1.0 else 1.0 + beta * (level - 1.0)


class WaypointModel:
    """Scenario path through waypoints with Brownian-bridge noise.

    On the merged grid ``g`` (simulation offsets ∪ waypoint offsets) a Brownian motion ``W`` (years,
    correlated across assets) is drawn: ``standard_normal((len(g) − 1, n_assets))``. Between waypoints
    ``a < b``: ``B(t) = W(t) − W(a) − (t − a)/(b − a)·(W(b) − W(a))``, ``v(t) = (t − a)(b − t)/(b − a)``,
    level linear from ``L_a`` to ``L_b``; after the last waypoint the level is held and ``B`` is free
    (``v = t − a``). Price ``= s0 · level · exp(σ·B − σ²·v/2)``: exactly ``s0·L`` at each waypoint.
    """

    def __init__(self, config: WaypointConfig) -> None:
        self.config = config
        self._lower = config.lower()
        self._s0, self._vol = config.vec("s0"), config.vec("vol")
        self._at, self._levels = config.table()

    @property
    def assets(self) -> tuple[str, ...]:
        return self.config.assets

    def path(self, times: npt.ArrayLike, seed: int) -> F64:
        t = check_times(times)
        off = t - t[0]
        grid = np.union1d(off, self._at)
        k = self.config.n
        z = correlate(_rng(seed).standard_normal((grid.size - 1, k)), self._lower)
        w = np.zeros((grid.size, k), dtype=np.float64)
        np.cumsum(np.sqrt(_steps(grid))[:, None] * z, axis=0, out=w[1:])
        seg = np.searchsorted(self._at, grid, side="right") - 1
        last = self._at.size - 1
        a_t = self._at[seg]
        a_i = np.searchsorted(grid, a_t)
        inside = seg < last
        b_t = self._at[np.minimum(seg + 1, last)]
        b_i = np.searchsorted(grid, b_t)
        span = np.where(inside, b_t - a_t, 1).astype(np.float64)
        frac = np.where(inside, (grid - a_t).astype(np.float64) / span, 0.0)
        bridge = w - w[a_i] - frac[:, None] * (w[b_i] - w[a_i])
        var_years = np.where(
            inside, (grid - a_t).astype(np.float64) * (b_t - grid).astype(np.float64) / span, grid - a_t
        ) / float(YEAR_SECONDS)
        la, lb = self._levels[seg], self._levels[np.minimum(seg + 1, last)]
        level = la + (lb - la) * frac[:, None]
        noise = det_exp(
            self._vol[None, :] * bridge - 0.5 * (self._vol * self._vol)[None, :] * var_years[:, None]
        )
        full: F64 = (self._s0[None, :] * level) * noise
        prices: F64 = full[np.searchsorted(grid, off)]
        return prices


# ----------------------------------------------------------------------------- historical replay


class ReplaySeries(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One asset's price column in a CSV.

    Either ``format`` names a preset (``mdd_ohlcv``, ``mark6_close``, ``coinapi_ohlcv``,
    ``binance_klines_ms``, ``tardis_trades``) or ``time`` and ``price`` give the columns (``time`` may
    be an int index, e.g. ``0`` for the unnamed first column of the MDD files); explicit fields
    override the preset. ``price`` defaults to the preset's close column.
    """

    asset: str
    file: str
    format: str | None = None
    time: str | int | None = None
    time_unit: TimeUnit | None = None
    price: str | None = None
    #: Skip blank rows (empty line or empty cell) instead of refusing them.
    skip_blank: bool = False
    #: ``max_gap``: refuse consecutive rows further apart than this, and simulation times this far
    #: past the last row. Default: ``GAP_FACTOR`` (4) × the file's median row spacing.
    max_gap_seconds: int | None = None
    #: Accept any gap between rows (the as-of price holds across it); the end of the data still
    #: bounds the simulation by ``max_gap``.
    allow_gaps: bool = False
    #: Rows sharing a time: ``"refuse"`` (default) or ``"last"`` (the last row at that time wins; the
    #: default for ``tardis_trades``, where several trades share a second).
    duplicate_times: Literal["refuse", "last"] | None = None
    #: Seconds added to every row time, e.g. the bar length to stamp a close at the bar's end.
    time_shift: int = 0

    def __post_init__(self) -> None:
        f = f"replay.series[{self.asset}]"
        if self.format is not None and self.format not in CSV_PRESETS:
            raise LabConfigError(
                f"{f}.format", f"unknown preset {self.format!r}; known: {sorted(CSV_PRESETS)}"
            )
        if self.format is None and (self.time is None or self.price is None):
            raise LabConfigError(f"{f}.format", "give a preset `format` or both `time` and `price` columns")
        if self.max_gap_seconds is not None and self.max_gap_seconds <= 0:
            raise LabConfigError(f"{f}.max_gap_seconds", f"must be > 0, got {self.max_gap_seconds}")

    def duplicates_allowed(self) -> bool:
        if self.duplicate_times is not None:
            return self.duplicate_times == "last"
        return self.format == "tardis_trades"

    def columns(self) -> tuple[str | int, TimeUnit, str]:
        """Resolved ``(time column, time unit, price column)``."""
        preset = CSV_PRESETS[self.format] if self.format is not None else None
        time = self.time if self.time is not None else preset.time if preset else 0
        unit: TimeUnit = self.time_unit or (preset.time_unit if preset else "iso")
        price = self.price if self.price is not None else preset.close if preset else ""
        return time, unit, price


class ReplayConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Historical replay. Simulation time ``t`` reads the data at ``start + t`` (``start``: ISO-8601 UTC
    or epoch seconds); without ``start`` simulation times are epoch seconds."""

    kind: ClassVar[str] = "replay"
    series: tuple[ReplaySeries, ...]
    start: str | int | None = None

    def __post_init__(self) -> None:
        if not self.series:
            raise LabConfigError("replay.series", "needs at least one series")
        names = [s.asset for s in self.series]
        if len(set(names)) != len(names):
            raise LabConfigError("replay.series", f"duplicate assets {names}")
        self.origin()

    def origin(self) -> int:
        return parse_start(self.start, "replay.start")


#: Default ``max_gap``: this many times the median spacing of a file's rows.
GAP_FACTOR: Final = 4


class _Series(NamedTuple):
    file: str
    asset: str
    times: I64
    prices: F64
    max_gap: int


def _max_gap(s: ReplaySeries, file: str, times: I64, lines: list[int]) -> int:
    """The series' ``max_gap`` (explicit, or ``GAP_FACTOR`` × median spacing); refuses a gap above
    it between rows unless ``allow_gaps``."""
    steps = np.diff(times)
    positive = steps[steps > 0]
    if s.max_gap_seconds is not None:
        limit = s.max_gap_seconds
    else:
        limit = GAP_FACTOR * int(np.median(positive)) if positive.size else 0
    if not s.allow_gaps and steps.size:
        i = int(np.argmax(steps))
        if steps[i] > limit:
            how = (
                "max_gap_seconds"
                if s.max_gap_seconds is not None
                else f"the default max_gap ({GAP_FACTOR} × median spacing)"
            )
            raise LabDataError(
                file,
                lines[i + 1],
                f"gap of {int(steps[i])} s since line {lines[i]} exceeds {how}={limit} "
                f"(series {s.asset}; set max_gap_seconds or allow_gaps = true)",
            )
    return limit


class ReplayModel:
    """Resample CSV prices onto simulation times: the last row at or before each time ("as of").

    A time before the first row is refused naming it; so is a time more than ``max_gap_seconds`` after
    the last row. The seed is ignored (replay is deterministic). Files are read once, at construction.
    """

    def __init__(self, config: ReplayConfig, base_dir: Path | None = None) -> None:
        self.config = config
        self._origin = config.origin()
        self._series: list[_Series] = []
        for s in config.series:
            path = Path(s.file)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            time, unit, price = s.columns()
            cols = read_columns(
                path, time, unit, [price], skip_blank=s.skip_blank, allow_duplicates=s.duplicates_allowed()
            )
            gap = _max_gap(s, path.name, cols.times, cols.lines)
            prices = parse_floats(cols, 0, price, price=True)
            self._series.append(_Series(path.name, s.asset, cols.times + s.time_shift, prices, gap))

    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(s.asset for s in self.config.series)

    def data(self, asset: str) -> tuple[I64, F64]:
        """The parsed rows of one asset: data times (epoch seconds, shifted) and prices."""
        s = self._series[self.assets.index(asset)]
        return s.times, s.prices

    def check_window(self, first: int, last: int) -> None:
        """Refuse simulation times ``[first, last]`` the data do not cover: before the first row, or
        more than ``max_gap`` after the last (a file shorter than the horizon), naming file and series."""
        t0, t1 = first + self._origin, last + self._origin
        for s in self._series:
            if t0 < s.times[0]:
                raise LabDataError(
                    s.file,
                    None,
                    f"series {s.asset}: simulation time {first} ({_iso(int(t0))}) is before the first "
                    f"row ({_iso(int(s.times[0]))}); move start later",
                )
            if t1 - s.times[-1] > s.max_gap:
                raise LabDataError(
                    s.file,
                    None,
                    f"series {s.asset}: simulation time {last} ({_iso(int(t1))}) is more than "
                    f"max_gap={s.max_gap} s after the last row ({_iso(int(s.times[-1]))}): the file "
                    f"is shorter than the horizon",
                )

    def path(self, times: npt.ArrayLike, seed: int = 0) -> F64:
        t = check_times(times)
        self.check_window(int(t[0]), int(t[-1]))
        t = t + self._origin
        out = np.empty((t.size, len(self._series)), dtype=np.float64)
        for j, s in enumerate(self._series):
            idx = np.searchsorted(s.times, t, side="right") - 1
            out[:, j] = s.prices[idx]
        return out


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# ----------------------------------------------------------------------------- columns of several models


class ColumnsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Several models side by side, each a table with its own ``model`` (e.g. a replay of the assets
    that have data and waypoints for one that has none); the path's columns are the parts' columns in
    order. Every part gets the same seed."""

    kind: ClassVar[str] = "columns"
    parts: tuple[dict[str, Any], ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise LabConfigError("columns.parts", "needs at least one part")
        for i, part in enumerate(self.parts):
            if part.get("model") == "columns":
                raise LabConfigError(f"columns.parts[{i}].model", "a columns part cannot itself be columns")


class ColumnsModel:
    """The parts' paths concatenated column-wise (see :class:`ColumnsConfig`)."""

    def __init__(self, config: ColumnsConfig, base_dir: Path | None = None) -> None:
        self.config = config
        self.parts: list[PriceModel] = [price_model_from_table(p, base_dir=base_dir) for p in config.parts]
        names = self.assets
        if len(set(names)) != len(names):
            raise LabConfigError("columns.parts", f"duplicate assets across parts {names}")

    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(a for p in self.parts for a in p.assets)

    def replays(self) -> list[ReplayModel]:
        return [p for p in self.parts if isinstance(p, ReplayModel)]

    def path(self, times: npt.ArrayLike, seed: int) -> F64:
        t = check_times(times)
        out: F64 = np.hstack([p.path(t, seed) for p in self.parts])
        return out


def replays_of(model: PriceModel) -> list[ReplayModel]:
    """The replay models inside ``model`` (itself, or the replay parts of a ``columns`` model)."""
    if isinstance(model, ReplayModel):
        return [model]
    if isinstance(model, ColumnsModel):
        return model.replays()
    return []


# ----------------------------------------------------------------------------- registry and boundary


class ModelSpec(NamedTuple):
    config: type[msgspec.Struct]
    build: Callable[[Any, Path | None], PriceModel]


#: Price models by the name used in TOML scenarios (``model = "gbm"``).
PRICE_MODELS: Final[dict[str, ModelSpec]] = {
    "gbm": ModelSpec(GbmConfig, lambda c, _d: GbmModel(c)),
    "merton": ModelSpec(MertonConfig, lambda c, _d: MertonModel(c)),
    "garch": ModelSpec(GarchConfig, lambda c, _d: GarchModel(c)),
    "waypoints": ModelSpec(WaypointConfig, lambda c, _d: WaypointModel(c)),
    "replay": ModelSpec(ReplayConfig, lambda c, d: ReplayModel(c, d)),
    "columns": ModelSpec(ColumnsConfig, lambda c, d: ColumnsModel(c, d)),
}


def build_price_model(kind: str, params: Mapping[str, Any], *, base_dir: Path | None = None) -> PriceModel:
    """Build a model from its registry name and a parameter table (e.g. parsed TOML).

    Type errors from :mod:`msgspec` and value errors are both raised as :class:`LabConfigError`;
    relative replay file paths resolve against ``base_dir``.
    """
    if kind not in PRICE_MODELS:
        raise LabConfigError("model", f"unknown price model {kind!r}; known: {sorted(PRICE_MODELS)}")
    spec = PRICE_MODELS[kind]
    try:
        config = msgspec.convert(dict(params), spec.config)
    except msgspec.ValidationError as exc:
        raise LabConfigError(kind, str(exc)) from None
    return spec.build(config, base_dir)


def price_model_from_table(table: Mapping[str, Any], *, base_dir: Path | None = None) -> PriceModel:
    """``build_price_model`` from a table holding ``model = "<name>"`` and the model's parameters."""
    params = dict(table)
    kind = params.pop("model", None)
    if not isinstance(kind, str):
        raise LabConfigError("model", f"missing or not a string: {kind!r}")
    return build_price_model(kind, params, base_dir=base_dir)


def to_wad(prices: F64) -> list[list[int]]:
    """Float prices ``(times, assets)`` → WAD integers, with :func:`~clearhouse.core.fixedpoint.to_fixed`
    on each value (shortest round-trip decimal of the float, then half-even to 18 decimals).

    The only float → integer step of the lab. NaN, infinities and values ≤ 0 are refused naming the
    index ``price[row][asset]``.
    """
    out: list[list[int]] = []
    for i, row in enumerate(np.asarray(prices, dtype=np.float64).tolist()):
        ints = [to_fixed(v, WAD, f"price[{i}][{j}]") for j, v in enumerate(row)]
        for j, w in enumerate(ints):
            if w <= 0:
                raise LabDataError("path", None, f"price[{i}][{j}] must be > 0, got {row[j]!r}")
        out.append(ints)
    return out
