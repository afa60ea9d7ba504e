"""Aave v3 (aave-v3-core 3.0.2) fixed-point math, bit for bit.

``WadRayMath`` and ``PercentageMath`` round **half up** (``(a * b + half) / unit``), unlike the ledger's
:mod:`clearhouse.core.fixedpoint`, which names a direction for every rounding. Each function here
mirrors the 3.0.2 assembly, including the overflow guard that makes it ``revert(0, 0)``; a failing
guard raises :class:`AaveMathOverflow`. The guards are the Solidity conditions themselves (not "the
exact result does not fit"), so the boundary values match the chain.

Plain Solidity 0.8 arithmetic (``+ - * /`` outside the libraries) is checked: overflow, underflow and
division by zero ``Panic``. :func:`add`, :func:`sub`, :func:`mul`, :func:`div` reproduce that and
raise :class:`AaveArithmeticPanic`. Division truncates (operands are unsigned).

All arguments must be Python ``int`` in ``[0, 2**256 - 1]`` (not ``bool``); anything else raises
:class:`~clearhouse.core.errors.InvalidValue` or :class:`~clearhouse.core.errors.ValueOutOfRange`.
"""

from __future__ import annotations

from typing import Final

from clearhouse.core.errors import InvalidValue, ValueOutOfRange
from clearhouse.core.fixedpoint import UINT256_MAX as UINT256_MAX
from clearhouse.liquidation.aave.errors import AaveArithmeticPanic, AaveMathOverflow

UINT128_MAX: Final = 2**128 - 1

WAD: Final = 10**18
HALF_WAD: Final = WAD // 2
RAY: Final = 10**27
HALF_RAY: Final = RAY // 2
WAD_RAY_RATIO: Final = 10**9

#: PercentageMath: percentages in basis points, 1e4 = 100.00 %.
PERCENTAGE_FACTOR: Final = 10**4
HALF_PERCENTAGE_FACTOR: Final = PERCENTAGE_FACTOR // 2


def uint256(value: int, name: str = "value") -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) in ``[0, 2**256 - 1]``; raise otherwise."""
    if type(value) is not int:
        raise InvalidValue(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < 0:
        raise InvalidValue(f"{name} must be >= 0 (uint256), got {value}")
    if value > UINT256_MAX:
        raise ValueOutOfRange(f"{name}={value} does not fit in a uint256")
    return value


# --- WadRayMath -------------------------------------------------------------------------------------


def wad_mul(a: int, b: int) -> int:
    """``a * b / WAD`` rounded half up; reverts if ``b != 0 and a > (MAX - HALF_WAD) / b``."""
    uint256(a, "a")
    uint256(b, "b")
    if b != 0 and a > (UINT256_MAX - HALF_WAD) // b:
        raise AaveMathOverflow(f"wadMul({a}, {b}) overflows")
    return (a * b + HALF_WAD) // WAD


def wad_div(a: int, b: int) -> int:
    """``a * WAD / b`` rounded half up; reverts if ``b == 0 or a > (MAX - b / 2) / WAD``."""
    uint256(a, "a")
    uint256(b, "b")
    if b == 0 or a > (UINT256_MAX - b // 2) // WAD:
        raise AaveMathOverflow(f"wadDiv({a}, {b}) divides by zero or overflows")
    return (a * WAD + b // 2) // b


def ray_mul(a: int, b: int) -> int:
    """``a * b / RAY`` rounded half up; reverts if ``b != 0 and a > (MAX - HALF_RAY) / b``."""
    uint256(a, "a")
    uint256(b, "b")
    if b != 0 and a > (UINT256_MAX - HALF_RAY) // b:
        raise AaveMathOverflow(f"rayMul({a}, {b}) overflows")
    return (a * b + HALF_RAY) // RAY


def ray_div(a: int, b: int) -> int:
    """``a * RAY / b`` rounded half up; reverts if ``b == 0 or a > (MAX - b / 2) / RAY``."""
    uint256(a, "a")
    uint256(b, "b")
    if b == 0 or a > (UINT256_MAX - b // 2) // RAY:
        raise AaveMathOverflow(f"rayDiv({a}, {b}) divides by zero or overflows")
    return (a * RAY + b // 2) // b


def ray_to_wad(a: int) -> int:
    """A ray as a wad, rounded half up (``a / 1e9``, plus one if the remainder >= 0.5e9). Never reverts."""
    uint256(a, "a")
    b, remainder = divmod(a, WAD_RAY_RATIO)
    if remainder >= WAD_RAY_RATIO // 2:
        b += 1
    return b


def wad_to_ray(a: int) -> int:
    """``a * 1e9``; reverts when the product overflows a uint256."""
    uint256(a, "a")
    b = a * WAD_RAY_RATIO
    if b > UINT256_MAX:
        raise AaveMathOverflow(f"wadToRay({a}) overflows")
    return b


# --- PercentageMath -----------------------------------------------------------------------------------


def percent_mul(value: int, percentage: int) -> int:
    """``value * percentage / 1e4`` rounded half up.

    Reverts if ``percentage != 0 and value > (MAX - HALF_PERCENTAGE_FACTOR) / percentage``.
    """
    uint256(value, "value")
    uint256(percentage, "percentage")
    if percentage != 0 and value > (UINT256_MAX - HALF_PERCENTAGE_FACTOR) // percentage:
        raise AaveMathOverflow(f"percentMul({value}, {percentage}) overflows")
    return (value * percentage + HALF_PERCENTAGE_FACTOR) // PERCENTAGE_FACTOR


def percent_div(value: int, percentage: int) -> int:
    """``value * 1e4 / percentage`` rounded half up.

    Reverts if ``percentage == 0 or value > (MAX - percentage / 2) / PERCENTAGE_FACTOR``.
    """
    uint256(value, "value")
    uint256(percentage, "percentage")
    if percentage == 0 or value > (UINT256_MAX - percentage // 2) // PERCENTAGE_FACTOR:
        raise AaveMathOverflow(f"percentDiv({value}, {percentage}) divides by zero or overflows")
    return (value * PERCENTAGE_FACTOR + percentage // 2) // percentage


# --- checked Solidity 0.8 arithmetic ------------------------------------------------------------------


def add(a: int, b: int) -> int:
    """Checked ``a + b`` (``Panic(0x11)`` on overflow)."""
    r = a + b
    if r > UINT256_MAX:
        raise AaveArithmeticPanic(f"Panic(0x11): {a} + {b} overflows uint256")
    return r


def sub(a: int, b: int) -> int:
    """Checked ``a - b`` (``Panic(0x11)`` on underflow)."""
    if b > a:
        raise AaveArithmeticPanic(f"Panic(0x11): {a} - {b} underflows uint256")
    return a - b


def mul(*factors: int) -> int:
    """Checked product, evaluated left to right as Solidity does (``Panic(0x11)`` on overflow)."""
    r = 1
    for f in factors:
        r *= f
        if r > UINT256_MAX:
            raise AaveArithmeticPanic(f"Panic(0x11): product {' * '.join(map(str, factors))} overflows")
    return r


def div(a: int, b: int) -> int:
    """Truncating ``a / b`` (``Panic(0x12)`` on division by zero)."""
    if b == 0:
        raise AaveArithmeticPanic(f"Panic(0x12): {a} / 0")
    return a // b


def to_uint128(value: int) -> int:
    """OpenZeppelin ``SafeCast.toUint128`` (reverts if the value does not fit)."""
    if value > UINT128_MAX:
        raise AaveArithmeticPanic(f"SafeCast: value {value} doesn't fit in 128 bits")
    return value
