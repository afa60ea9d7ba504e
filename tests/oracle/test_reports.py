from __future__ import annotations

import msgspec
import pytest

from clearhouse.ledger.errors import InvalidValue, ValueOutOfRange
from clearhouse.oracle import SourceReport, make_report

from .conftest import W


def test_make_report_converts_once_half_even() -> None:
    r = make_report("binance", "ETH", "1834.52", 100, confidence=0.25)
    assert r == SourceReport("binance", "ETH", 1834_520_000_000_000_000_000, 100, W // 4)
    # the 19th decimal rounds half-even: ...15 → ...2, ...25 → ...2
    assert make_report("a", "ETH", "1.0000000000000000015", 0).price == W + 2
    assert make_report("a", "ETH", "1.0000000000000000025", 0).price == W + 2


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), float("-inf"), "nan", "abc", 0, "0", -1, "-5.5", True]
)
def test_make_report_rejects_bad_prices(bad: object) -> None:
    with pytest.raises(InvalidValue):
        make_report("a", "ETH", bad, 0)  # type: ignore[arg-type]


def test_report_validates_on_construction_and_decoding() -> None:
    with pytest.raises(InvalidValue):
        SourceReport("a", "ETH", 0, 0)
    with pytest.raises(InvalidValue):
        SourceReport("a", "ETH", 1.5, 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        SourceReport("a", "ETH", W, -1)
    with pytest.raises(InvalidValue):
        SourceReport("a", "ETH", W, 0, -1)
    with pytest.raises(InvalidValue):
        SourceReport("", "ETH", W, 0)
    with pytest.raises(ValueOutOfRange):
        SourceReport("a", "ETH", 2**255, 0)
    raw = msgspec.json.encode(SourceReport("a", "ETH", 10**30, 5, 7))
    assert msgspec.json.decode(raw, type=SourceReport) == SourceReport("a", "ETH", 10**30, 5, 7)
    with pytest.raises(InvalidValue):  # decoding runs the same validation, with the typed error
        msgspec.json.decode(b'{"source":"a","asset":"ETH","price":-3,"observed_at":0}', type=SourceReport)
