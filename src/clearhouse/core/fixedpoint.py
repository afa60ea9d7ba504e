"""Fixed-point integer arithmetic for the ledger.

Every amount, price and index in the engine is a Python ``int`` scaled by a power of ten:

* ``WAD`` (1e18) for token amounts, prices, values and fractions;
* ``RAY`` (1e27) for indices and rates where precision matters (funding index, auction curves);
* ``RAD`` (1e45) for products of a WAD and a RAY kept without rounding (Maker's ``tab``).

Every multiply and divide names its rounding direction: ``down`` rounds toward minus infinity,
``up`` toward plus infinity. The protocol always rounds in its own favour: what an account owes and
what it must hold round up, what it is paid or credited rounds down. Floats and decimal strings
enter only through :func:`to_fixed`, once, at the boundary, rounded half-even.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import Final

from clearhouse.core.errors import InvalidValue, ValueOutOfRange

WAD: Final = 10**18
RAY: Final = 10**27
RAD: Final = 10**45
#: Largest magnitude any ledger quantity may take (values must satisfy ``|x| < MAX_ABS``).
MAX_ABS: Final = 2**255
#: On-chain word size, used where we reproduce EVM overflow reverts bit for bit.
UINT256_MAX: Final = 2**256 - 1
#: 1e9: WAD -> RAY (dss ``BLN``).
BLN: Final = 10**9
#: WAD squared: the divisor of a size x price x fraction product.
WAD2: Final = WAD * WAD


def check_range(value: int, name: str) -> int:
    """Return ``value`` if ``|value| < 2**255``; raise :class:`ValueOutOfRange` naming it otherwise."""
    if type(value) is not int:  # rejects bool, float, Decimal, str
        raise InvalidValue(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not -MAX_ABS < value < MAX_ABS:
        raise ValueOutOfRange(f"{name}={value} is beyond 2^255")
    return value


def check_positive(value: int, name: str) -> int:
    """Return ``value`` if it is an in-range integer > 0."""
    check_range(value, name)
    if value <= 0:
        raise InvalidValue(f"{name} must be > 0, got {value}")
    return value


def check_non_negative(value: int, name: str) -> int:
    """Return ``value`` if it is an in-range integer >= 0."""
    check_range(value, name)
    if value < 0:
        raise InvalidValue(f"{name} must be >= 0, got {value}")
    return value


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for ``b > 0`` (the one spelling of ``-((-a) // b)``)."""
    return -(-a // b)


def mul_div_down(a: int, b: int, c: int) -> int:
    """``floor(a * b / c)`` exactly, for any signs (``c`` != 0)."""
    return (a * b) // c


def mul_div_up(a: int, b: int, c: int) -> int:
    """``ceil(a * b / c)`` exactly, for any signs (``c`` != 0)."""
    return -((-a * b) // c)


def wmul_down(a: int, b: int) -> int:
    """``floor(a * b / WAD)``: a WAD product rounded toward minus infinity."""
    return (a * b) // WAD


def wmul_up(a: int, b: int) -> int:
    """``ceil(a * b / WAD)``: a WAD product rounded toward plus infinity."""
    return -((-a * b) // WAD)


def wdiv_down(a: int, b: int) -> int:
    """``floor(a * WAD / b)``."""
    return (a * WAD) // b


def wdiv_up(a: int, b: int) -> int:
    """``ceil(a * WAD / b)``."""
    return -((-a * WAD) // b)


def rmul_down(a: int, b: int) -> int:
    """``floor(a * b / RAY)``."""
    return (a * b) // RAY


def rmul_up(a: int, b: int) -> int:
    """``ceil(a * b / RAY)``."""
    return -((-a * b) // RAY)


def rdiv_down(a: int, b: int) -> int:
    """``floor(a * RAY / b)``."""
    return (a * RAY) // b


def rdiv_up(a: int, b: int) -> int:
    """``ceil(a * RAY / b)``."""
    return -((-a * RAY) // b)


def rpow(x: int, n: int, base: int = RAY) -> int:
    """``x ** n`` in fixed point with scale ``base``, as MakerDAO's ``rpow`` computes it on chain.

    Exponentiation by squaring; after each multiply the product is rounded half up
    (``(p + base // 2) // base``). Intermediate products that would overflow a uint256 raise
    :class:`ValueOutOfRange`, where the EVM code reverts, so results match on-chain bit for bit.
    """
    if x < 0 or n < 0 or base <= 0:
        raise InvalidValue(f"rpow needs x >= 0, n >= 0, base > 0; got x={x} n={n} base={base}")
    if x == 0:
        return base if n == 0 else 0
    z = x if n % 2 else base
    half = base // 2
    n //= 2
    while n:
        xx = x * x
        if xx + half > UINT256_MAX:
            raise ValueOutOfRange(f"rpow overflow squaring x={x}")
        x = (xx + half) // base
        if n % 2:
            zx = z * x
            if zx + half > UINT256_MAX:
                raise ValueOutOfRange(f"rpow overflow multiplying z={z} by x={x}")
            z = (zx + half) // base
        n //= 2
    return z


def to_fixed(value: str | int | float | Decimal, scale: int = WAD, name: str = "value") -> int:
    """Convert a human number at the boundary into a fixed-point integer, rounding half-even once.

    Accepts decimal strings (``"1234.5"``), ints (taken as whole units) and finite floats (taken by
    their shortest decimal representation). NaN, infinities, booleans, unparsable strings and values
    beyond 2^255 raise typed errors naming ``name``.
    """
    if isinstance(value, bool):
        raise InvalidValue(f"{name} must be a number, got a boolean")
    if isinstance(value, int):
        return check_range(value * scale, name)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue(f"{name} must be finite, got {value}")
        dec = Decimal(repr(value))
    elif isinstance(value, Decimal):
        dec = value
    elif isinstance(value, str):
        try:
            dec = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidValue(f"{name}={value!r} is not a decimal number") from None
    else:
        raise InvalidValue(f"{name} must be a number or decimal string, got {type(value).__name__}")
    if not dec.is_finite():
        raise InvalidValue(f"{name} must be finite, got {value}")
    if dec and dec.adjusted() > 100:  # far beyond 2^255 / 1e18; keeps the Decimal math bounded
        raise ValueOutOfRange(f"{name}={value} is beyond 2^255")
    with localcontext() as ctx:
        ctx.prec = 200
        scaled = (dec * scale).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return check_range(int(scaled), name)


def to_decimal(value: int, scale: int = WAD) -> Decimal:
    """The exact decimal value of a fixed-point integer (for display and reports, never for state)."""
    with localcontext() as ctx:
        ctx.prec = 200
        return Decimal(value) / Decimal(scale)


def fmt(value: int, scale: int = WAD, places: int = 4) -> str:
    """A fixed-point integer as a decimal string with ``places`` digits (display only)."""
    q = Decimal(1).scaleb(-places)
    with localcontext() as ctx:
        ctx.prec = 200
        return str(to_decimal(value, scale).quantize(q, rounding=ROUND_HALF_EVEN))
