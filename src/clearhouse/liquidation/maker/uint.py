"""uint256 arithmetic exactly as the dss contracts do it.

Solidity 0.6 integers are unsigned 256-bit words; ``/`` truncates (toward zero, which for unsigned values
is floor) and reverts on a zero divisor. The SafeMath-style helpers of ``clip.sol``/``dog.sol``/``abaci.sol``
(``add``, ``sub``, ``mul``, ``wmul``, ``rmul``, ``rdiv``) revert on overflow/underflow; here they raise
:class:`~clearhouse.liquidation.maker.errors.ArithmeticRevert`. Python ints never wrap, so a result is
either the exact on-chain value or an error where the chain reverts.
"""

from __future__ import annotations

from typing import Final

from clearhouse.core.errors import InvalidValue, ValueOutOfRange
from clearhouse.core.fixedpoint import BLN as BLN
from clearhouse.core.fixedpoint import RAD, RAY, WAD
from clearhouse.core.fixedpoint import UINT256_MAX as UINT256_MAX
from clearhouse.core.fixedpoint import rpow as _ledger_rpow
from clearhouse.liquidation.maker.errors import ArithmeticRevert

__all__ = [
    "BLN",
    "RAD",
    "RAY",
    "UINT64_MAX",
    "UINT96_MAX",
    "UINT192_MAX",
    "UINT256_MAX",
    "WAD",
    "add",
    "div",
    "feed_price",
    "mul",
    "rdiv",
    "rmul",
    "rpow",
    "sub",
    "uint",
    "umin",
    "wmul",
]

UINT192_MAX: Final = 2**192 - 1
UINT96_MAX: Final = 2**96 - 1
UINT64_MAX: Final = 2**64 - 1


def uint(value: int, name: str) -> int:
    """Return ``value`` if it is a Python ``int`` (not bool) in ``[0, 2**256)``; else raise.

    This is the boundary check standing in for ABI decoding of a ``uint256`` argument.
    """
    if type(value) is not int:
        raise InvalidValue(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise InvalidValue(f"{name} must be >= 0 (uint256), got {value}")
    if value > UINT256_MAX:
        raise ValueOutOfRange(f"{name}={value} does not fit in a uint256")
    return value


def umin(x: int, y: int) -> int:
    return x if x <= y else y


def add(x: int, y: int) -> int:
    z = x + y
    if z > UINT256_MAX:
        raise ArithmeticRevert(f"add overflow {x} + {y}")
    return z


def sub(x: int, y: int) -> int:
    if y > x:
        raise ArithmeticRevert(f"sub underflow {x} - {y}")
    return x - y


def mul(x: int, y: int) -> int:
    z = x * y
    if z > UINT256_MAX:
        raise ArithmeticRevert(f"mul overflow {x} * {y}")
    return z


def div(x: int, y: int) -> int:
    """Solidity ``x / y`` on uint256: truncating, reverting when ``y == 0``."""
    if y == 0:
        raise ArithmeticRevert(f"division by zero ({x} / 0)")
    return x // y


def wmul(x: int, y: int) -> int:
    return mul(x, y) // WAD


def rmul(x: int, y: int) -> int:
    return mul(x, y) // RAY


def rdiv(x: int, y: int) -> int:
    return div(mul(x, RAY), y)


def rpow(x: int, n: int, base: int = RAY) -> int:
    """abaci.sol ``rpow`` (dss PR #78 assembly): delegated to :func:`clearhouse.core.fixedpoint.rpow`.

    The ledger's ``rpow`` uses the same square-and-multiply order and the same round-half-up after every
    product, and raises exactly where the assembly reverts (``x >= 2**128`` while squaring, or a product
    plus ``base/2`` beyond 2^256-1); ``tests/liquidation/maker/test_abaci.py`` checks it against a literal
    transcription of the assembly. Its overflow error is re-raised here as :class:`ArithmeticRevert`.
    """
    try:
        return _ledger_rpow(x, n, base)
    except ValueOutOfRange as exc:
        raise ArithmeticRevert(str(exc)) from None


def feed_price(val: int, par: int = RAY) -> int:
    """clip.sol ``getFeedPrice``: ``rdiv(mul(val, BLN), par)``; OSM ``val`` [wad], ``par`` [ray] -> [ray]."""
    return rdiv(mul(uint(val, "val"), BLN), uint(par, "par"))
