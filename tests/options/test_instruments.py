"""Contract specs (validation, encoding) and the expiry calendar against the standard library's dates."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearhouse.ledger.errors import InvalidParameters, InvalidValue
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.options.instruments import (
    DatedFuture,
    EuropeanOption,
    OptionKind,
    civil_from_days,
    daily_expiries,
    days_from_civil,
    decode_instrument,
    encode_instrument,
    expiry_calendar,
    monthly_expiries,
    weekly_expiries,
)

UTC = dt.UTC


def ts(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=UTC).timestamp())


def call(**kw: object) -> EuropeanOption:
    base: dict[str, object] = {
        "symbol": "ETH-27DEC26-3000-C",
        "underlying": "ETH",
        "expiry": ts(2026, 12, 25, 8),
        "tick_size": WAD // 10,
        "step_size": WAD // 100,
        "min_size": WAD // 10,
        "option_kind": OptionKind.CALL,
        "strike": 3000 * WAD,
    }
    return EuropeanOption(**(base | kw))  # type: ignore[arg-type]


def test_valid_specs_round_trip_through_canonical_json() -> None:
    fut = DatedFuture("ETH-25DEC26", "ETH", ts(2026, 12, 25, 8), WAD // 10, WAD // 100, WAD // 100)
    for spec in (fut, call()):
        spec.validate()
        assert decode_instrument(encode_instrument(spec)) == spec


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"tick_size": 0}, "tick_size must be > 0"),
        ({"min_size": WAD // 10 + 1}, "not a multiple of step_size"),
        ({"strike": 3000 * WAD + 1}, "multiple of tick"),
        ({"strike": -WAD}, "strike"),
        ({"cash_settled": False}, "cash settlement"),
        ({"symbol": ""}, "non-empty"),
        ({"settlement_window": 100}, "settlement_window"),
        ({"expiry": 2**256}, "beyond 2"),
    ],
)
def test_invalid_specs_are_refused(change: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameters, match=match):
        call(**change).validate()


def test_decode_refuses_unknown_fields_and_types() -> None:
    raw = msgspec.json.encode({"type": "option", "symbol": "X", "bogus": 1})
    with pytest.raises(InvalidParameters):
        decode_instrument(raw)


def test_price_and_size_increments() -> None:
    spec = call()
    assert spec.check_price(3000 * WAD) == 3000 * WAD
    assert spec.check_size(-WAD) == -WAD
    with pytest.raises(InvalidValue):
        spec.check_price(WAD // 100)
    with pytest.raises(InvalidValue):
        spec.check_size(WAD // 100)  # below min_size
    with pytest.raises(InvalidValue):
        spec.check_size(WAD // 10 + 1)  # off the step
    assert not spec.is_expired(spec.expiry - 1) and spec.is_expired(spec.expiry)


@given(st.integers(min_value=-719_162, max_value=2_932_896))  # 0001-01-01 .. 9999-12-31
def test_civil_date_conversions_match_datetime(days: int) -> None:
    date = dt.date(1970, 1, 1) + dt.timedelta(days=days)
    assert civil_from_days(days) == (date.year, date.month, date.day)
    assert days_from_civil(date.year, date.month, date.day) == days


def test_weekly_and_daily_expiries() -> None:
    start = ts(2026, 12, 3, 20, 46)  # a Thursday evening
    assert weekly_expiries(start, 2) == (ts(2026, 12, 4, 8), ts(2026, 12, 11, 8))
    assert daily_expiries(start, 2) == (ts(2026, 12, 4, 8), ts(2026, 12, 5, 8))
    # exactly at an expiry: that one is no longer listed (strictly after start)
    assert weekly_expiries(ts(2026, 12, 4, 8), 1) == (ts(2026, 12, 11, 8),)
    assert daily_expiries(ts(2026, 12, 4, 7, 59), 1) == (ts(2026, 12, 4, 8),)


@given(st.integers(min_value=0, max_value=4_000_000_000))
def test_expiries_are_fridays_after_start(start: int) -> None:
    for t in weekly_expiries(start, 3) + monthly_expiries(start, 3):
        d = dt.datetime.fromtimestamp(t, UTC)
        assert t > start and d.weekday() == 4 and (d.hour, d.minute, d.second) == (8, 0, 0)
    for t in monthly_expiries(start, 3):
        d = dt.datetime.fromtimestamp(t, UTC)
        assert (d + dt.timedelta(days=7)).month != d.month  # the month's last Friday


def test_monthly_quarterly_and_calendar() -> None:
    start = ts(2026, 12, 3)
    assert monthly_expiries(start, 3) == (ts(2026, 12, 25, 8), ts(2027, 1, 29, 8), ts(2027, 2, 26, 8))
    assert monthly_expiries(start, 2, months=(3, 6, 9, 12)) == (ts(2026, 12, 25, 8), ts(2027, 3, 26, 8))
    cal = expiry_calendar(start, daily=2, weekly=4, monthly=2, quarterly=2)
    assert list(cal) == sorted(set(cal))
    assert cal == (
        ts(2026, 12, 3, 8),
        ts(2026, 12, 4, 8),
        ts(2026, 12, 11, 8),
        ts(2026, 12, 18, 8),
        ts(2026, 12, 25, 8),
        ts(2027, 1, 29, 8),
        ts(2027, 3, 26, 8),
    )
    with pytest.raises(InvalidValue):
        expiry_calendar(start, daily=-1)
