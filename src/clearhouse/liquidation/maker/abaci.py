"""Price curves of a Clipper auction (dss ``abaci.sol``), bit for bit.

Each curve maps ``(top, dur)`` -- the starting price [ray] and the seconds since the auction (re)started --
to the current price [ray]:

* :class:`LinearDecrease` -- ``top * ((tau - dur) / tau)``, zero from ``dur >= tau`` on;
* :class:`StairstepExponentialDecrease` -- ``top * cut ** (dur // step)``;
* :class:`ExponentialDecrease` -- ``top * cut ** dur``.

The operation order, truncation and revert conditions are those of abaci.sol: ``mul(tau - dur, RAY) / tau``
then ``rmul`` for the linear curve; ``rmul(top, rpow(cut, n, RAY))`` with Maker's rounding ``rpow`` for the
exponential ones; ``file("cut", x)`` requires ``x <= RAY``; a stair-step curve with ``step == 0`` divides by
zero (:class:`~clearhouse.liquidation.maker.errors.ArithmeticRevert`), as on chain.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from clearhouse.liquidation.maker.errors import (
    AbacusCutGtRay,
    AbacusUnrecognizedParam,
    StairstepCutGtRay,
)
from clearhouse.liquidation.maker.uint import RAY, div, mul, rmul, rpow, uint

__all__ = ["Abacus", "ExponentialDecrease", "LinearDecrease", "StairstepExponentialDecrease"]


@runtime_checkable
class Abacus(Protocol):
    """The one interface of every curve: ``price(top [ray], dur [seconds]) -> price [ray]``."""

    def price(self, top: int, dur: int) -> int: ...


class LinearDecrease:
    """``price = rmul(top, mul(tau - dur, RAY) / tau)``; ``0`` once ``dur >= tau`` (also if ``tau == 0``)."""

    __slots__ = ("tau",)

    def __init__(self, tau: int = 0) -> None:
        self.tau = 0
        self.file("tau", tau)

    def file(self, what: str, data: int) -> None:
        if what == "tau":
            self.tau = uint(data, "tau")
        else:
            raise AbacusUnrecognizedParam(f"LinearDecrease/file-unrecognized-param: {what!r}")

    def price(self, top: int, dur: int) -> int:
        uint(top, "top")
        uint(dur, "dur")
        tau = self.tau
        if dur >= tau:
            return 0
        return rmul(top, mul(tau - dur, RAY) // tau)

    def __repr__(self) -> str:
        return f"LinearDecrease(tau={self.tau})"


class StairstepExponentialDecrease:
    """``price = rmul(top, rpow(cut, dur / step, RAY))``: multiply by ``cut`` once every ``step`` seconds.

    ``cut`` is the per-step factor [ray] (``RAY - 1%`` for a 1 % drop per step), ``cut <= RAY``. dss deploys
    this contract with ``step = cut = 0``; both must be filed before use (``step == 0`` divides by zero).
    """

    __slots__ = ("cut", "step")

    def __init__(self, step: int = 0, cut: int = 0) -> None:
        self.step = 0
        self.cut = 0
        self.file("step", step)
        self.file("cut", cut)

    def file(self, what: str, data: int) -> None:
        if what == "cut":
            uint(data, "cut")
            if data > RAY:
                raise StairstepCutGtRay(f"cut={data}")
            self.cut = data
        elif what == "step":
            self.step = uint(data, "step")
        else:
            raise AbacusUnrecognizedParam(f"StairstepExponentialDecrease/file-unrecognized-param: {what!r}")

    def price(self, top: int, dur: int) -> int:
        uint(top, "top")
        uint(dur, "dur")
        return rmul(top, rpow(self.cut, div(dur, self.step), RAY))

    def __repr__(self) -> str:
        return f"StairstepExponentialDecrease(step={self.step}, cut={self.cut})"


class ExponentialDecrease:
    """``price = rmul(top, rpow(cut, dur, RAY))``: per-second exponential decay, ``cut <= RAY``."""

    __slots__ = ("cut",)

    def __init__(self, cut: int = 0) -> None:
        self.cut = 0
        self.file("cut", cut)

    def file(self, what: str, data: int) -> None:
        if what == "cut":
            uint(data, "cut")
            if data > RAY:
                raise AbacusCutGtRay(f"cut={data}")
            self.cut = data
        else:
            raise AbacusUnrecognizedParam(f"ExponentialDecrease/file-unrecognized-param: {what!r}")

    def price(self, top: int, dur: int) -> int:
        uint(top, "top")
        uint(dur, "dur")
        return rmul(top, rpow(self.cut, dur, RAY))

    def __repr__(self) -> str:
        return f"ExponentialDecrease(cut={self.cut})"
