"""The per-market price band around the index (ledger.price_band) and the mark's venue leg.

Worked examples at ETH = 2000 with the default band of 5 %: fills in [1900, 2100] pass, one WAD unit
beyond either limit is refused with ``PriceOutOfBand`` and changes nothing.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearhouse.ledger import commands as c
from clearhouse.ledger.errors import InvalidParameters, InvalidValue
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.ledger.price_band import (
    DEFAULT_PRICE_BAND,
    PriceOutOfBand,
    band_limits,
    check_fill_price,
    in_band,
)
from clearhouse.oracle.mark import interval_venue_price

from .builders import ETH_PERP, ETH_PERP_ID, KEEPER, W, apply_txs, genesis_engine, rejections

INDEX = W(2000)


def test_default_band_is_five_percent_and_on_every_market() -> None:
    assert DEFAULT_PRICE_BAND * 20 == WAD
    assert ETH_PERP.price_band == DEFAULT_PRICE_BAND
    assert band_limits(INDEX, DEFAULT_PRICE_BAND) == (W(1900), W(2100))


def test_limits_round_inwards_when_the_band_is_not_a_whole_number_of_units() -> None:
    # index 2000e18 + 7: 5 % of it is 100e18 + 0.35 units, so the admitted deviation is 100e18 units.
    index = INDEX + 7
    lo, hi = band_limits(index, DEFAULT_PRICE_BAND)
    assert (lo, hi) == (W(1900) + 7, W(2100) + 7)
    assert in_band(hi, index, DEFAULT_PRICE_BAND) and not in_band(hi + 1, index, DEFAULT_PRICE_BAND)
    assert in_band(lo, index, DEFAULT_PRICE_BAND) and not in_band(lo - 1, index, DEFAULT_PRICE_BAND)


@given(
    index=st.integers(1, 10**30),
    band=st.integers(1, WAD),
    offset=st.integers(-3, 3),
)
def test_limits_agree_with_the_exact_test_and_never_admit_more_than_the_band(
    index: int, band: int, offset: int
) -> None:
    lo, hi = band_limits(index, band)
    assert in_band(lo, index, band) and in_band(hi, index, band)
    assert not in_band(lo - 1, index, band) and not in_band(hi + 1, index, band)
    for price in (lo + offset, hi + offset):
        admitted = in_band(price, index, band)
        assert admitted == (lo <= price <= hi)
        if admitted:  # the exact statement of the band, in integers
            assert abs(price - index) * WAD <= band * index


def test_error_names_market_price_index_and_band() -> None:
    with pytest.raises(PriceOutOfBand) as err:
        check_fill_price("ETH-PERP", W(2100) + 1, INDEX, DEFAULT_PRICE_BAND)
    e = err.value
    assert (e.market, e.price, e.index, e.band, e.code) == (
        "ETH-PERP",
        W(2100) + 1,
        INDEX,
        DEFAULT_PRICE_BAND,
        "price_out_of_band",
    )
    for part in ("ETH-PERP", str(W(2100) + 1), str(INDEX), str(DEFAULT_PRICE_BAND), str(W(2100))):
        assert part in str(e)


@pytest.mark.parametrize(
    ("price", "taker", "accepted"),
    [
        (W(2100), "buyer", True),
        (W(2100) + 1, "buyer", False),
        (W(1900), "seller", True),
        (W(1900) - 1, "seller", False),
        (100 * INDEX, "buyer", False),
    ],
    ids=["upper-edge", "just-above", "lower-edge", "just-below", "100x"],
)
def test_fill_just_inside_the_band_passes_and_just_outside_is_refused(
    price: int, taker: str, accepted: bool
) -> None:
    engine = genesis_engine()
    before = {a: acct.clone() for a, acct in engine.state.accounts.items()}
    trade = c.Trade(ETH_PERP_ID, "alice", KEEPER, W(1), price, taker=taker)  # type: ignore[arg-type]
    result = apply_txs(engine, [trade], prices={"ETH": INDEX})
    bad = rejections(result)
    if accepted:
        assert bad == []
        assert engine.state.accounts["alice"].positions[ETH_PERP_ID].entry_value == price
    else:
        assert [e.code for e in bad] == ["price_out_of_band"]
        assert str(price) in bad[0].message and str(INDEX) in bad[0].message
        assert engine.state.accounts == before
        market = engine.state.markets[ETH_PERP_ID]
        assert (market.open_interest, market.interval_size, market.last_trade_price) == (0, 0, 0)


def test_the_band_is_per_market_and_can_be_widened() -> None:
    engine = genesis_engine()
    fill = c.Trade(ETH_PERP_ID, "alice", KEEPER, W(1), W(2150))  # 7.5 % above the index
    assert [e.code for e in rejections(apply_txs(engine, [fill], prices={"ETH": INDEX}))] == [
        "price_out_of_band"
    ]
    wider = msgspec.structs.replace(ETH_PERP, price_band=W("0.10"))
    assert rejections(apply_txs(engine, [c.UpdateMarket(wider), fill], prices={"ETH": INDEX})) == []


@pytest.mark.parametrize(
    "changes",
    [{"price_band": 0}, {"price_band": WAD + 1}, {"price_band": -1}, {"mark_min_notional": -1}],
)
def test_band_and_minimum_notional_are_validated(changes: dict[str, int]) -> None:
    with pytest.raises((InvalidParameters, InvalidValue)):
        msgspec.structs.replace(ETH_PERP, **changes).validate()


# -- the venue leg of the mark ----------------------------------------------------------------------


def test_venue_price_is_the_index_below_the_minimum_notional() -> None:
    dust = W("0.001") * (100 * INDEX)  # 0.001 ETH at 100x: notional 200
    assert interval_venue_price(dust, W("0.001"), W(10_000), INDEX) == INDEX
    assert interval_venue_price(0, 0, 0, INDEX) == INDEX  # no fills


def test_venue_price_is_size_weighted_once_the_notional_is_reached() -> None:
    # 5 ETH at 2000 and 0.001 ETH at 2100: notional 10,002.1; the print at 2100 weighs 0.001 / 5.001.
    value = W(5) * W(2000) + W("0.001") * W(2100)
    price = interval_venue_price(value, W(5) + W("0.001"), W(10_000), INDEX)
    assert price == value // (W(5) + W("0.001"))
    assert W(2000) < price < W(2000) + W("0.021")
    # the threshold is on the interval's total: ten 1,000 fills together reach 10,000
    assert interval_venue_price(10 * W("0.5") * W(2000), W(5), W(10_000), W(1999)) == W(2000)


@given(fills=st.lists(st.tuples(st.integers(1, 10**21), st.integers(1, 10**24)), min_size=1, max_size=8))
def test_venue_price_lies_between_the_lowest_and_highest_fill(fills: list[tuple[int, int]]) -> None:
    value = sum(s * p for s, p in fills)
    size = sum(s for s, _ in fills)
    price = interval_venue_price(value, size, 0, INDEX)
    assert min(p for _, p in fills) <= price <= max(p for _, p in fills)
