"""Integer-only statistics and logarithms used by aggregators and policies.

Everything here takes and returns Python ``int``; there is no float anywhere, so results are the
same on every machine.

* **Median of an even count** is the mean of the two middle values rounded *down* (floor). It stays
  inside ``[min, max]`` of the inputs. The weighted median generalises this (see
  :func:`weighted_median`).
* **Natural log / exp** are computed at an internal scale of ``1e36`` (``ONE``) with an
  ``atanh`` series for ``ln`` and a Taylor series for ``exp`` after range reduction by ``ln 2``;
  the truncation error of each series is below ``1e-34`` relative. The WAD wrappers round the
  result down, so a WAD result is within 1e-18 (one WAD unit) of the exact value for ``ln`` and
  within a relative ``2e-18`` for ``exp`` of a WAD argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Final

from clearhouse.core.errors import InvalidValue
from clearhouse.core.fixedpoint import WAD

#: Internal fixed-point scale for logarithms (36 decimals: 18 guard digits beyond WAD).
ONE: Final = 10**36
_TO_WAD: Final = ONE // WAD


def median_floor(sorted_values: Sequence[int]) -> int:
    """Median of an already sorted, non-empty sequence; even count → floor of the two middles' mean."""
    n = len(sorted_values)
    mid = n // 2
    if n % 2:
        return sorted_values[mid]
    return (sorted_values[mid - 1] + sorted_values[mid]) // 2


def median_of(values: Sequence[int]) -> int:
    """Median of a non-empty sequence in any order (see :func:`median_floor`)."""
    if not values:
        raise InvalidValue("median of an empty sequence")
    return median_floor(sorted(values))


def median3(a: int, b: int, c: int) -> int:
    """The middle one of three integers."""
    if a > b:
        a, b = b, a
    if b > c:
        b = c
    return a if a > b else b


def weighted_median(pairs: Sequence[tuple[int, int]]) -> int:
    """Weighted median of ``(value, weight)`` pairs with positive integer weights.

    Sort by value; the result is the first value whose cumulative weight ``C`` reaches half the
    total ``W`` (``2C >= W``). If ``2C == W`` exactly and a next value exists, the result is the floor
    of the mean of that value and the next: with unit weights this is exactly :func:`median_floor`.
    """
    if not pairs:
        raise InvalidValue("weighted median of an empty sequence")
    ordered = sorted(pairs)
    total = 0
    for _, w in ordered:
        if w <= 0:
            raise InvalidValue(f"weights must be > 0, got {w}")
        total += w
    cum = 0
    for i, (value, w) in enumerate(ordered):
        cum += w
        if 2 * cum >= total:
            if 2 * cum == total and i + 1 < len(ordered):
                return (value + ordered[i + 1][0]) // 2
            return value
    raise AssertionError("unreachable: cumulative weight never reached half")  # pragma: no cover


def _atanh_series(y_num: int, y_den: int) -> int:
    """``atanh(y_num / y_den) * ONE`` for ``0 <= y < 1/2`` by its power series, rounded down."""
    term = y_num * ONE // y_den  # y^(2k+1) at scale ONE
    y2_num, y2_den = y_num * y_num, y_den * y_den
    total = 0
    k = 0
    while term:
        total += term // (2 * k + 1)
        term = term * y2_num // y2_den
        k += 1
    return total


#: ``ln 2`` at scale ONE, rounded down (0.693147180559945309417232121458176568|0755...).
LN2: Final = 693147180559945309417232121458176568


def ln_one(x: int) -> int:
    """``ln(x / ONE) * ONE`` for ``x > 0`` (rounded toward minus infinity within 1 unit)."""
    if x <= 0:
        raise InvalidValue(f"ln needs x > 0, got {x}")
    # x = m * 2^k with m in [ONE, 2*ONE)
    k = x.bit_length() - ONE.bit_length()
    m = x >> k if k >= 0 else x << -k
    if m < ONE:
        m <<= 1
        k -= 1
    elif m >= 2 * ONE:
        m >>= 1
        k += 1
    # ln m = 2 atanh((m - 1) / (m + 1)), with (m-1)/(m+1) in [0, 1/3)
    return k * LN2 + 2 * _atanh_series(m - ONE, m + ONE)


def exp_one(x: int) -> int:
    """``exp(x / ONE) * ONE`` for any integer ``x`` (rounded down); 0 when it underflows."""
    k = x // LN2  # floor, so r in [0, LN2)
    r = x - k * LN2
    total = ONE
    term = ONE
    i = 1
    while term:
        term = term * r // (ONE * i)
        total += term
        i += 1
    return total << k if k >= 0 else total >> -k


def ln_wad(price: int) -> int:
    """``ln(price / WAD)`` in WAD, rounded down, for a WAD price ``> 0``."""
    return ln_one(price * _TO_WAD) // _TO_WAD


def exp_wad(x: int) -> int:
    """``exp(x / WAD)`` in WAD, rounded down."""
    return exp_one(x * _TO_WAD) // _TO_WAD


@lru_cache(maxsize=256)
def decay_one(dt: int, half_life: int) -> int:
    """``2 ** (-dt / half_life)`` at scale ONE (rounded down), for ``dt >= 0``, ``half_life > 0``.

    A pure function of two integers, memoised: blocks at a fixed interval ask for the same decay every
    block (the mark EMA of every market), and the series costs ~5 us."""
    return exp_one(-(dt * LN2) // half_life)
