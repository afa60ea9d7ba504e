"""Volatility surfaces per underlying: raw SVI slices or a strike × expiry grid, integer-encoded.

A surface is the value a future ``SetVolSurface`` transaction would carry. Its parameters are WAD
integers with one canonical encoding (deterministic msgspec JSON; :func:`decode_surface` refuses any
other byte string for the same value), and :meth:`validate` checks them exactly in integers, so two
nodes accept or refuse the same surface. *Evaluating* a surface (an implied vol at a strike and expiry)
is float arithmetic for pricing off-chain; it never enters a state transition directly — it feeds the
integer scenario table of :mod:`~clearhouse.options.portfolio_margin`.

**Raw SVI** (Gatheral 2004), per expiry, total implied variance at log-moneyness ``k = ln(K/F)``:

    w(k) = a + b·(ρ·(k − m) + √((k − m)² + σ²))

with the standard no-arbitrage parameter conditions b ≥ 0, |ρ| < 1, σ > 0, a + b·σ·√(1 − ρ²) ≥ 0 (the
minimum of w is non-negative), and Roger Lee's moment bound on the wings b·(1 + |ρ|) ≤ 2.

**Grid**: implied vols at strikes × expiries; bilinear interpolation in *total variance* w = σ²·T:
linear in strike at each neighbouring expiry (flat beyond the first/last strike), then linear in time.

**Across expiries** (both kinds): w is linear in time between two listed expiries at the same k (or
strike); before the first expiry the first slice's implied vol is held (w ∝ T); after the last, the
last slice's. Calendar arbitrage (w decreasing in T) depends on the valuation time, so it is a view
check (:func:`calendar_violations`), not a validation rule.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable

import msgspec

from clearhouse.core.errors import InvalidParameters, InvalidValue
from clearhouse.core.fixedpoint import WAD, check_range, to_fixed

YEAR_SECONDS = 365 * 86_400
#: The largest implied vol a grid may carry (WAD): 1000 %.
MAX_GRID_VOL = 10 * WAD


class SviSlice(msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """Raw SVI parameters of one expiry, all WAD (``a`` in total-variance units, ``m`` in log-moneyness)."""

    expiry: int
    a: int
    b: int
    rho: int
    m: int
    sigma: int

    @classmethod
    def from_floats(cls, expiry: int, a: float, b: float, rho: float, m: float, sigma: float) -> SviSlice:
        """Build a slice from human numbers, rounding each half-even to WAD once."""
        return cls(
            expiry,
            *(to_fixed(v, name=n) for v, n in ((a, "a"), (b, "b"), (rho, "rho"), (m, "m"), (sigma, "sigma"))),
        )

    def validate(self, where: str) -> None:
        """The no-arbitrage parameter checks, exactly in integers."""
        for name in ("expiry", "a", "b", "rho", "m", "sigma"):
            try:
                check_range(getattr(self, name), name)
            except InvalidValue as exc:
                raise InvalidParameters(f"{where}: {exc}") from None
        if self.b < 0:
            raise InvalidParameters(f"{where}: b must be >= 0, got {self.b}")
        if not -WAD < self.rho < WAD:
            raise InvalidParameters(f"{where}: |rho| must be < 1 (1e18), got {self.rho}")
        if self.sigma <= 0:
            raise InvalidParameters(f"{where}: sigma must be > 0, got {self.sigma}")
        # a + b·σ·√(1−ρ²) >= 0  ⇔  a >= 0, or (b·σ)²·(1−ρ²) >= a²  (all over WAD powers, cleared)
        if self.a < 0 and (self.b * self.sigma) ** 2 * (WAD * WAD - self.rho * self.rho) < self.a**2 * WAD**4:
            raise InvalidParameters(
                f"{where}: a + b·sigma·sqrt(1 − rho²) must be >= 0 (negative minimum total variance); "
                f"a={self.a} b={self.b} sigma={self.sigma} rho={self.rho}"
            )
        if self.b * (WAD + abs(self.rho)) > 2 * WAD * WAD:
            raise InvalidParameters(
                f"{where}: b·(1 + |rho|) must be <= 2 (Lee's wing bound); b={self.b} rho={self.rho}"
            )

    def total_variance(self, k: float) -> float:
        """w(k) in floats (views and table building only)."""
        a, b, rho, m, sig = (v / WAD for v in (self.a, self.b, self.rho, self.m, self.sigma))
        d = k - m
        return a + b * (rho * d + math.sqrt(d * d + sig * sig))


class SviSurface(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="svi"):
    """An underlying's SVI slices, strictly increasing in expiry."""

    underlying: str
    slices: tuple[SviSlice, ...]

    def validate(self) -> None:
        where = f"vol surface {self.underlying!r}"
        if not self.underlying:
            raise InvalidParameters("vol surface: underlying must be non-empty")
        if not self.slices:
            raise InvalidParameters(f"{where}: needs at least one slice")
        for i, s in enumerate(self.slices):
            s.validate(f"{where} slice {i}")
            if i and s.expiry <= self.slices[i - 1].expiry:
                raise InvalidParameters(f"{where}: slice expiries must be strictly increasing at slice {i}")

    @property
    def expiries(self) -> tuple[int, ...]:
        return tuple(s.expiry for s in self.slices)

    def slice_variance(self, i: int, strike: float, forward: float) -> float:
        return self.slices[i].total_variance(math.log(strike / forward))


class GridSurface(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="grid"):
    """Implied vols (WAD) at ``strikes`` (WAD, increasing) × ``expiries`` (Unix s, increasing).

    ``vols[i][j]`` is the vol at ``expiries[i]`` and ``strikes[j]``.
    """

    underlying: str
    strikes: tuple[int, ...]
    expiries: tuple[int, ...]
    vols: tuple[tuple[int, ...], ...]

    def validate(self) -> None:
        where = f"vol surface {self.underlying!r}"
        if not self.underlying:
            raise InvalidParameters("vol surface: underlying must be non-empty")
        if not self.strikes or not self.expiries:
            raise InvalidParameters(f"{where}: needs at least one strike and one expiry")
        for name, xs in (("strikes", self.strikes), ("expiries", self.expiries)):
            for x in xs:
                if type(x) is not int or not 0 < x < 2**255:
                    raise InvalidParameters(f"{where}: {name} must be positive integers, got {x!r}")
            if any(b <= a for a, b in itertools.pairwise(xs)):
                raise InvalidParameters(f"{where}: {name} must be strictly increasing")
        if len(self.vols) != len(self.expiries) or any(len(r) != len(self.strikes) for r in self.vols):
            raise InvalidParameters(
                f"{where}: vols must be {len(self.expiries)} rows × {len(self.strikes)} strikes"
            )
        for i, row in enumerate(self.vols):
            for j, v in enumerate(row):
                if type(v) is not int or not 0 < v <= MAX_GRID_VOL:
                    raise InvalidParameters(f"{where}: vols[{i}][{j}] must be in (0, 1000 %], got {v!r}")

    def slice_variance(self, i: int, strike: float, now: int) -> float:
        """Total variance at expiry ``i`` and ``strike``, linear in w between strikes, flat beyond."""
        t = (self.expiries[i] - now) / YEAR_SECONDS
        ks = [k / WAD for k in self.strikes]
        ws = [(v / WAD) ** 2 * t for v in self.vols[i]]
        if strike <= ks[0]:
            return ws[0]
        if strike >= ks[-1]:
            return ws[-1]
        j = bisect.bisect_right(ks, strike) - 1
        x = (strike - ks[j]) / (ks[j + 1] - ks[j])
        return ws[j] + x * (ws[j + 1] - ws[j])


VolSurface = SviSurface | GridSurface

_encoder = msgspec.json.Encoder(order="deterministic")


def encode_surface(surface: VolSurface) -> bytes:
    """The canonical encoding of a surface (deterministic JSON, exact big integers)."""
    return _encoder.encode(surface)


def decode_surface(data: bytes) -> VolSurface:
    """Decode, validate, and insist the bytes are the canonical encoding of what they decode to."""
    try:
        surface: VolSurface = msgspec.json.decode(data, type=VolSurface)
    except msgspec.ValidationError as exc:
        raise InvalidParameters(f"vol surface does not decode: {exc}") from None
    surface.validate()
    if encode_surface(surface) != data:
        raise InvalidParameters("vol surface bytes are not in canonical encoding")
    return surface


def total_variance(surface: VolSurface, strike: float, forward: float, expiry: int, now: int) -> float:
    """Total implied variance w at ``strike`` for an option expiring at ``expiry``, valued at ``now``."""
    if expiry <= now:
        raise InvalidValue(f"expiry {expiry} must be after the valuation time {now}")
    if not (strike > 0 and forward > 0 and math.isfinite(strike) and math.isfinite(forward)):
        raise InvalidValue(f"strike and forward must be positive and finite, got {strike}, {forward}")
    live = [i for i, e in enumerate(surface.expiries) if e > now]
    if not live:
        raise InvalidValue(f"every expiry of the surface is at or before the valuation time {now}")

    def w_at(i: int) -> float:
        if isinstance(surface, SviSurface):
            return surface.slice_variance(i, strike, forward)
        return surface.slice_variance(i, strike, now)

    # (time to expiry, total variance) knots, anchored at zero variance now
    knots = [(0, 0.0)] + [(surface.expiries[i] - now, w_at(i)) for i in live]
    t = expiry - now
    t_n, w_n = knots[-1]
    if t >= t_n:
        return w_n * t / t_n  # beyond the last expiry: hold its implied vol
    j = bisect.bisect_right([kt for kt, _ in knots], t) - 1
    (t0, w0), (t1, w1) = knots[j], knots[j + 1]
    return w0 + (t - t0) / (t1 - t0) * (w1 - w0)


def implied_vol(surface: VolSurface, strike: float, forward: float, expiry: int, now: int) -> float:
    """The implied volatility √(w / T) (a fraction) for pricing off-chain."""
    w = total_variance(surface, strike, forward, expiry, now)
    if w < 0:
        raise InvalidValue(f"negative total variance {w} at strike {strike}, expiry {expiry}")
    return math.sqrt(w / ((expiry - now) / YEAR_SECONDS))


def calendar_violations(
    surface: VolSurface, strikes: Iterable[float], forward: float, now: int
) -> list[tuple[float, int]]:
    """(strike, expiry) points where total variance falls from the previous listed expiry (a view check)."""
    out: list[tuple[float, int]] = []
    live = [e for e in surface.expiries if e > now]
    for k in strikes:
        prev = 0.0
        for e in live:
            w = total_variance(surface, k, forward, e, now)
            if w < prev:
                out.append((k, e))
            prev = w
    return out
