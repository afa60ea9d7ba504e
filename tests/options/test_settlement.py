"""Settlement TWAP from cumulative aggregates, its typed waiting states, and payoffs (worked examples)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearhouse.ledger.errors import InvalidValue
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.options.instruments import OptionKind
from clearhouse.options.settlement import (
    CumulativeFeed,
    OracleReport,
    Ready,
    Waiting,
    WaitReason,
    div_half_even,
    future_payoff,
    option_payoff,
    settle_book,
    settlement_price,
)

E = 1_800_000_000  # an expiry time


def reports(pairs: list[tuple[int, int]]) -> list[OracleReport]:
    return [OracleReport(E + dt, p * WAD) for dt, p in pairs]


def test_worked_example_from_the_module_doc() -> None:
    feed = reports([(-1800, 2000), (-1500, 2000), (-1200, 2000), (-900, 2100), (-600, 2100), (-300, 2100)])
    state = settlement_price(feed, E, E)
    assert state == Ready(2050 * WAD, E - 1800, E, 1800)
    assert future_payoff(state.price, 2000 * WAD, 2 * WAD) == 100 * WAD
    assert option_payoff(OptionKind.PUT, state.price, 2100 * WAD, -WAD) == -50 * WAD
    assert option_payoff(OptionKind.CALL, state.price, 2000 * WAD, WAD) == 50 * WAD
    assert option_payoff(OptionKind.CALL, state.price, 2100 * WAD, WAD) == 0


def test_twap_is_time_weighted_not_report_weighted() -> None:
    # 2000 held 1,700 s (one report), then ten reports of 3000 in the last 100 s: not the report mean.
    feed = reports([(-1900, 2000), *[(-100 + 10 * i, 3000) for i in range(10)]])
    state = settlement_price(feed, E, E, max_age=2000)
    assert isinstance(state, Ready)
    assert state.price == div_half_even(2000 * WAD * 1700 + 3000 * WAD * 100, 1800)


def test_six_second_prints_and_reports_after_expiry_are_ignored() -> None:
    feed = [OracleReport(E - 1800 + 6 * i, (2000 + i) * WAD) for i in range(301)]  # last print at E
    later = [*feed, OracleReport(E + 6, 10**9 * WAD)]
    state = settlement_price(later, E, E + 12)
    # mean of 2000..2299 each held 6 s (the print at E itself holds for 0 s in the window)
    assert state == Ready((2000 + 2299) * WAD // 2, E - 1800, E, 1800)


@pytest.mark.parametrize(
    ("pairs", "kwargs", "now", "reason"),
    [
        ([(-1800, 2000)], {}, E - 1, WaitReason.NOT_EXPIRED),
        ([(-1800, 2000), (-10, 2000)], {"halted": True}, E, WaitReason.HALTED),
        ([(10, 2000)], {}, E + 20, WaitReason.NO_REPORTS),
        ([(-1800, 2000), (-301, 2000)], {}, E, WaitReason.STALE),
        ([(-1700, 2000), (-10, 2000)], {"max_age": 2000}, E, WaitReason.NOT_ENOUGH_COVERAGE),
        ([(-1800, 2000), (-1400, 2000), (-10, 2000)], {}, E, WaitReason.NOT_ENOUGH_COVERAGE),
    ],
)
def test_bad_feeds_wait_and_never_settle(
    pairs: list[tuple[int, int]], kwargs: dict[str, object], now: int, reason: WaitReason
) -> None:
    state = settlement_price(reports(pairs), E, now, **kwargs)  # type: ignore[arg-type]
    assert isinstance(state, Waiting) and state.reason is reason and state.detail


def test_partial_coverage_allowed_when_configured() -> None:
    # a 400 s gap (100 s of it stale) is tolerated with min_coverage = 1,700
    pairs = [(-1800, 2000), (-1400, 2000), *[(t, 2000) for t in range(-1100, 0, 100)]]
    assert isinstance(settlement_price(reports(pairs), E, E, min_coverage=1700), Ready)
    state = settlement_price(reports(pairs), E, E, min_coverage=1800)
    assert isinstance(state, Waiting) and "1700 of 1800" in state.detail


def test_rounding_is_half_even() -> None:
    assert [div_half_even(n, 2) for n in (1, 3, 5, -1, -3)] == [0, 2, 2, 0, -2]
    # a window whose exact mean is x.5 wei rounds to the even neighbour
    feed = [OracleReport(E - 1800, 1), OracleReport(E - 900, 2), OracleReport(E - 300, 2)]
    assert settlement_price(feed, E, E, max_age=900) == Ready(2, E - 1800, E, 1800)  # 1.5 → 2
    feed = [OracleReport(E - 1800, 2), OracleReport(E - 900, 3), OracleReport(E - 300, 3)]
    assert settlement_price(feed, E, E, max_age=900) == Ready(2, E - 1800, E, 1800)  # 2.5 → 2


def test_feed_rejects_out_of_order_and_non_positive_reports() -> None:
    feed = CumulativeFeed([OracleReport(1, WAD)])
    with pytest.raises(InvalidValue):
        feed.append(OracleReport(1, WAD))
    with pytest.raises(InvalidValue):
        feed.append(OracleReport(2, 0))
    feed.append(OracleReport(11, 2 * WAD))
    assert feed.cumulative(11) == 10 * WAD and feed.cumulative(12) == 12 * WAD


def test_payoff_rounding_favours_the_protocol() -> None:
    # (S − E) × size = 1 wei × 0.5 → long gets floor(0.5) = 0, short pays ceil(0.5) = 1
    assert future_payoff(WAD + 1, WAD, WAD // 2) == 0
    assert future_payoff(WAD + 1, WAD, -(WAD // 2)) == -1
    assert option_payoff(OptionKind.CALL, WAD + 1, WAD, WAD // 2) == 0
    assert option_payoff(OptionKind.CALL, WAD + 1, WAD, -(WAD // 2)) == -1


prices = st.integers(min_value=1, max_value=10**6 * WAD)
sizes = st.integers(min_value=1, max_value=10**6 * WAD)


@given(s=prices, k=prices, sizes=st.lists(sizes, min_size=1, max_size=8), kind=st.sampled_from(OptionKind))
def test_balanced_book_settlement_never_creates_value(
    s: int, k: int, sizes: list[int], kind: OptionKind
) -> None:
    """Longs and shorts of equal total size: amounts sum to <= 0 and the dust is < 1 wei per position."""
    total = sum(sizes)
    book = [(f"long{i}", option_payoff(kind, s, k, n)) for i, n in enumerate(sizes)]
    book.append(("short", option_payoff(kind, s, k, -total)))
    rows, dust = settle_book(book)
    assert [r.account for r in rows] == sorted(a for a, _ in book)
    assert 0 <= dust < len(book)
    fut = [(f"l{i}", future_payoff(s, k, n)) for i, n in enumerate(sizes)] + [
        ("s", future_payoff(s, k, -total))
    ]
    assert 0 <= settle_book(fut)[1] < len(fut)


@given(price=prices, gap=st.integers(1, 300), n=st.integers(7, 40))
def test_constant_price_settles_at_that_price(price: int, gap: int, n: int) -> None:
    feed = [OracleReport(E - 1800 - gap * i, price) for i in range(n)][::-1]
    feed += [OracleReport(t, price) for t in range(E - 1800 + gap, E + 1, gap)]
    assert settlement_price(feed, E, E) == Ready(price, E - 1800, E, 1800)
