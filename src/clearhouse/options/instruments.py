"""Contract specs of dated futures and European options, and the expiry calendar (exact integers).

A spec is what an admin ``ListInstrument`` transaction would carry: immutable, validated, with a
canonical encoding (deterministic msgspec JSON, tagged by ``type``). Prices and sizes are WAD integers,
times are Unix seconds; nothing here reads a clock — the calendar is computed from a start time it is given.

Both instruments are **cash-settled** at the settlement price of
:mod:`~clearhouse.options.settlement` (the TWAP of the index over ``settlement_window`` seconds before
``expiry``); physical delivery is refused at validation.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec

from clearhouse.core.errors import InvalidParameters, InvalidValue
from clearhouse.core.fixedpoint import check_range

#: The hour (UTC) of the standard crypto expiry (Deribit, Derive): 08:00.
EXPIRY_HOUR_UTC: Final = 8
DAY: Final = 86_400
#: 1970-01-01 was a Thursday; with Monday = 0 a day number's weekday is ``(days + 3) % 7``.
_EPOCH_WEEKDAY: Final = 3
FRIDAY: Final = 4


class OptionKind(enum.StrEnum):
    """Call or put."""

    CALL = "call"
    PUT = "put"


class ContractSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type"):
    """What every dated contract has: an underlying index, an expiry and trading increments."""

    symbol: str
    underlying: str
    #: Expiry time (Unix seconds); the settlement window ends here.
    expiry: int
    #: Price increment (WAD); every order and entry price is a multiple.
    tick_size: int
    #: Size increment (WAD, base units); every size is a multiple.
    step_size: int
    #: Smallest order size (WAD), a multiple of ``step_size``.
    min_size: int
    #: Length of the settlement TWAP window (seconds before expiry).
    settlement_window: int = 1800
    #: The feed must have reported within this many seconds of expiry to settle.
    max_feed_age: int = 300
    cash_settled: bool = True

    def validate(self) -> None:
        """Refuse a spec that makes no sense, naming the field."""
        where = f"instrument {self.symbol!r}"
        if not self.symbol or not self.underlying:
            raise InvalidParameters(f"{where}: symbol and underlying must be non-empty")
        for name in ("expiry", "tick_size", "step_size", "min_size", "settlement_window", "max_feed_age"):
            value = getattr(self, name)
            try:
                check_range(value, name)
            except InvalidValue as exc:
                raise InvalidParameters(f"{where}: {exc}") from None
            if value <= 0:
                raise InvalidParameters(f"{where}: {name} must be > 0, got {value}")
        if self.min_size % self.step_size:
            raise InvalidParameters(
                f"{where}: min_size {self.min_size} is not a multiple of step_size {self.step_size}"
            )
        if self.settlement_window < self.max_feed_age:
            raise InvalidParameters(
                f"{where}: settlement_window {self.settlement_window} must be >= max_feed_age "
                f"{self.max_feed_age}"
            )
        if self.cash_settled is not True:
            raise InvalidParameters(f"{where}: only cash settlement is supported")

    def check_price(self, price: int) -> int:
        """``price`` if it is a positive multiple of the tick; :class:`InvalidValue` otherwise."""
        check_range(price, "price")
        if price <= 0 or price % self.tick_size:
            raise InvalidValue(
                f"instrument {self.symbol!r}: price {price} must be a positive multiple of tick "
                f"{self.tick_size}"
            )
        return price

    def check_size(self, size: int) -> int:
        """A signed ``size`` if ``|size| >= min_size`` and a multiple of the step; raise otherwise."""
        check_range(size, "size")
        if abs(size) < self.min_size or size % self.step_size:
            raise InvalidValue(
                f"instrument {self.symbol!r}: size {size} must be a multiple of step {self.step_size} "
                f"with |size| >= {self.min_size}"
            )
        return size

    def is_expired(self, now: int) -> bool:
        """Whether a block at ``now`` is at or after expiry (the first such block settles)."""
        return now >= self.expiry


class DatedFuture(ContractSpec, frozen=True, tag="future"):
    """A future that settles in cash at expiry: ``(settlement − entry) × size``."""


class EuropeanOption(ContractSpec, frozen=True, tag="option"):
    """A European option, premium paid at trade, settling in cash to its intrinsic value at expiry."""

    option_kind: OptionKind = OptionKind.CALL
    #: Strike price (WAD), a multiple of ``tick_size``.
    strike: int = 0

    def validate(self) -> None:
        super().validate()
        where = f"instrument {self.symbol!r}"
        try:
            check_range(self.strike, "strike")
        except InvalidValue as exc:
            raise InvalidParameters(f"{where}: {exc}") from None
        if self.strike <= 0 or self.strike % self.tick_size:
            raise InvalidParameters(
                f"{where}: strike {self.strike} must be a positive multiple of tick {self.tick_size}"
            )


Instrument = DatedFuture | EuropeanOption


_encoder = msgspec.json.Encoder(order="deterministic")


def encode_instrument(spec: Instrument) -> bytes:
    """The canonical encoding (deterministic JSON, exact big integers, as the ledger's blocks)."""
    return _encoder.encode(spec)


def decode_instrument(data: bytes) -> Instrument:
    """Decode a JSON-encoded spec and validate it (the boundary of a listing transaction)."""
    try:
        spec: Instrument = msgspec.json.decode(data, type=Instrument)
    except msgspec.ValidationError as exc:
        raise InvalidParameters(f"instrument spec does not decode: {exc}") from None
    spec.validate()
    return spec


# --- calendar: proleptic Gregorian day numbers (H. Hinnant's civil-date algorithms), integers only ---


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a Gregorian date."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day number since 1970-01-01."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def weekday(days: int) -> int:
    """Weekday of a day number, Monday = 0 … Sunday = 6."""
    return (days + _EPOCH_WEEKDAY) % 7


def _at_hour(days: int, hour: int) -> int:
    return days * DAY + hour * 3600


def daily_expiries(start: int, count: int, hour: int = EXPIRY_HOUR_UTC) -> tuple[int, ...]:
    """The next ``count`` daily expiries (``hour``:00 UTC) strictly after ``start``."""
    day = start // DAY
    if _at_hour(day, hour) <= start:
        day += 1
    return tuple(_at_hour(day + i, hour) for i in range(count))


def weekly_expiries(start: int, count: int, hour: int = EXPIRY_HOUR_UTC) -> tuple[int, ...]:
    """The next ``count`` Friday expiries (``hour``:00 UTC) strictly after ``start``."""
    day = start // DAY
    day += (FRIDAY - weekday(day)) % 7
    if _at_hour(day, hour) <= start:
        day += 7
    return tuple(_at_hour(day + 7 * i, hour) for i in range(count))


def last_friday(year: int, month: int) -> int:
    """Day number of the last Friday of a month."""
    next_first = days_from_civil(year + month // 12, month % 12 + 1, 1)
    last = next_first - 1
    return last - (weekday(last) - FRIDAY) % 7


def monthly_expiries(
    start: int, count: int, hour: int = EXPIRY_HOUR_UTC, months: tuple[int, ...] = tuple(range(1, 13))
) -> tuple[int, ...]:
    """The next ``count`` last-Friday-of-the-month expiries strictly after ``start``.

    ``months`` restricts the cycle, e.g. ``(3, 6, 9, 12)`` for quarterlies.
    """
    if not months or any(not 1 <= m <= 12 for m in months):
        raise InvalidValue(f"months must be a non-empty subset of 1..12, got {months}")
    year, month, _ = civil_from_days(start // DAY)
    out: list[int] = []
    while len(out) < count:
        if month in months:
            t = _at_hour(last_friday(year, month), hour)
            if t > start:
                out.append(t)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(out)


def expiry_calendar(
    start: int, daily: int = 0, weekly: int = 0, monthly: int = 0, quarterly: int = 0
) -> tuple[int, ...]:
    """The listed expiries after ``start``: the union of the cycles, sorted, without duplicates.

    A common crypto listing: ``daily=3, weekly=2, monthly=3, quarterly=4`` (a Friday that is also a
    month's last Friday is listed once).
    """
    for name, n in (("daily", daily), ("weekly", weekly), ("monthly", monthly), ("quarterly", quarterly)):
        if type(n) is not int or n < 0:
            raise InvalidValue(f"{name} must be an integer >= 0, got {n!r}")
    times = {
        *daily_expiries(start, daily),
        *weekly_expiries(start, weekly),
        *monthly_expiries(start, monthly),
        *monthly_expiries(start, quarterly, months=(3, 6, 9, 12)),
    }
    return tuple(sorted(times))
