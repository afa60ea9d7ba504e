"""Per-(target, parameter) guardrails: what a controller may do to one parameter, and the exact checks.

A guardrail bounds the value (``lower <= value <= upper``), the step of one application (absolute in the
parameter's own units, or relative: a WAD fraction of the current value, rounded down so the allowed move
is never larger than stated), the time between applications, the wait between proposal and application
(timelock) and the life of a proposal (expiry). ``fast_direction`` exempts moves in one direction from the
interval and the timelock (Maker's DC-IAM lowers a ceiling at once; raising margins in a crash may be made
fast too); the bounds and the step still apply to them.

All checks are pure functions of integers and the block time, so the property "no sequence of controller
transactions moves a parameter beyond its bounds or faster than its step and interval allow" is a property
of :func:`check_move` alone plus the handler calling it with the live value.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from clearhouse.core.fixedpoint import MAX_ABS, WAD
from clearhouse.steward.errors import (
    IntervalNotElapsed,
    InvalidGuardrail,
    OutOfBounds,
    ParameterUnchanged,
    StepTooLarge,
    TimelockActive,
)

#: Aave's Risk Steward drops recommendations older than 6 hours.
DEFAULT_EXPIRY = 6 * 3600


class Guardrail(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Limits on the controller's moves of one (target, parameter)."""

    lower: int
    upper: int
    #: Largest increase / decrease per application; 0 forbids that direction.
    max_up: int
    max_down: int
    #: Steps are WAD fractions of the current value (``True``) or absolute amounts (``False``).
    relative: bool = False
    #: Seconds from one application to the next (>= 1: at most one application per block).
    min_interval: int = 1
    #: Seconds from the proposal to the earliest application.
    timelock: int = 0
    #: Seconds from the proposal after which it is void.
    expiry: int = DEFAULT_EXPIRY
    #: Moves in this direction skip the interval and the timelock ("" = none).
    fast_direction: Literal["", "up", "down"] = ""

    def validate(self, what: str) -> None:
        for name in ("lower", "upper", "max_up", "max_down", "min_interval", "timelock", "expiry"):
            value = getattr(self, name)
            if type(value) is not int or not -MAX_ABS < value < MAX_ABS:
                raise InvalidGuardrail(f"guardrail of {what}: {name} must be an int below 2^255")
        if self.lower > self.upper:
            raise InvalidGuardrail(f"guardrail of {what}: lower {self.lower} above upper {self.upper}")
        if self.max_up < 0 or self.max_down < 0:
            raise InvalidGuardrail(f"guardrail of {what}: steps must be >= 0")
        if self.min_interval < 1:
            raise InvalidGuardrail(f"guardrail of {what}: min_interval must be >= 1 s (one move per block)")
        if self.timelock < 0 or self.expiry < 1 or self.timelock >= self.expiry:
            raise InvalidGuardrail(
                f"guardrail of {what}: need 0 <= timelock ({self.timelock}) < expiry ({self.expiry})"
            )
        if self.fast_direction not in ("", "up", "down"):
            raise InvalidGuardrail(f"guardrail of {what}: fast_direction must be '', 'up' or 'down'")

    def step_limit(self, current: int, up: bool) -> int:
        """Largest allowed move from ``current`` in one direction (relative steps round down)."""
        step = self.max_up if up else self.max_down
        if not self.relative:
            return step
        return abs(current) * step // WAD

    def is_fast(self, current: int, value: int) -> bool:
        return (self.fast_direction == "up" and value > current) or (
            self.fast_direction == "down" and value < current
        )

    def nearest(self, current: int, desired: int) -> int:
        """The allowed value closest to ``desired`` reachable from ``current`` in one application (for
        controllers that want to propose only what the steward will accept)."""
        if desired > current:
            candidate = min(desired, current + self.step_limit(current, True), self.upper)
        else:
            candidate = max(desired, current - self.step_limit(current, False), self.lower)
        same_way = candidate > current if desired > current else candidate < current
        ok = same_way and self.lower <= candidate <= self.upper
        return candidate if ok else current

def check_value(guard: Guardrail, current: int, value: int, what: str) -> None:
    """Bounds and step of moving ``current`` to ``value`` (checked at proposal and again at application)."""
    if value == current:
        raise ParameterUnchanged(f"{what}: proposed value {value} equals the current value")
    if not guard.lower <= value <= guard.upper:
        raise OutOfBounds(f"{what}: {value} outside the guardrail [{guard.lower}, {guard.upper}]")
    up = value > current
    move = value - current if up else current - value
    limit = guard.step_limit(current, up)
    if move > limit:
        direction = "increase" if up else "decrease"
        raise StepTooLarge(f"{what}: {direction} {move} from {current} exceeds the step {limit}")


def check_timing(
    guard: Guardrail,
    current: int,
    value: int,
    now: int,
    proposed_at: int,
    last_applied: int | None,
    what: str,
) -> None:
    """Timelock and minimum interval at application time (expiry is the proposal's own)."""
    if guard.is_fast(current, value):
        return
    if now < proposed_at + guard.timelock:
        raise TimelockActive(f"{what}: timelocked until {proposed_at + guard.timelock}, now {now}")
    if last_applied is not None and now - last_applied < guard.min_interval:
        raise IntervalNotElapsed(
            f"{what}: last applied at {last_applied}, next allowed at {last_applied + guard.min_interval}"
        )


__all__ = ["DEFAULT_EXPIRY", "Guardrail", "check_timing", "check_value"]
