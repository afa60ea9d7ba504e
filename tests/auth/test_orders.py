"""Signed orders and fills: worked examples for every rule of ``check_fill``."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearhouse.auth.envelope import TX_DOMAIN
from clearhouse.auth.errors import (
    BadSignature,
    Expired,
    MalformedEnvelope,
    OffGrid,
    OrderMismatch,
    Overfill,
    PriceLimitExceeded,
    PriceOutsideBand,
    ReduceOnlyViolation,
    SelfTrade,
    TimeInForceViolation,
    WrongChain,
)
from clearhouse.auth.orders import (
    ORDER_DOMAIN,
    Fill,
    Order,
    SignedOrder,
    check_fill,
    decode_signed_order,
    encode_signed_order,
    order_id,
    sign_order,
    to_trade,
    verify_order,
)
from clearhouse.auth.signing import domain_digest
from clearhouse.ledger.commands import Trade
from clearhouse.ledger.errors import InvalidValue
from clearhouse.ledger.fixedpoint import WAD

from .helpers import ALICE, BOB, CHAIN, HEIGHT, NOW_MS

TICK = WAD // 100  # 0.01
STEP = WAD // 1000  # 0.001
INDEX = 2000 * WAD
BAND = WAD // 20  # ±5 %


def order(account: str, side: str, size: float, limit: float, **kw: Any) -> Order:
    fields: dict[str, Any] = {
        "chain_id": CHAIN,
        "account": account,
        "market": "ETH-PERP",
        "side": side,
        "size": round(size * 1000) * STEP,
        "limit_price": round(limit * 100) * TICK,
        "client_id": 1,
        "good_til_block": HEIGHT + 100,
    }
    fields.update(kw)
    return Order(**fields)


BUY = order("alice", "buy", 2, 2000)  # alice buys up to 2 ETH at 2000 or less
SELL = order("bob", "sell", 1.5, 1990)  # bob sells up to 1.5 ETH at 1990 or more


def fill(size: float, price: float, taker: str = "buyer", market: str = "ETH-PERP") -> Fill:
    return Fill(market, round(size * 1000) * STEP, round(price * 100) * TICK, taker)  # type: ignore[arg-type]


def check(
    f: Fill,
    buy: Order = BUY,
    sell: Order = SELL,
    filled: tuple[int, int] = (0, 0),
    index: int = INDEX,
    band: int = BAND,
    **kw: Any,
) -> tuple[int, int]:
    opts: dict[str, Any] = {"tick_size": TICK, "step_size": STEP, "height": HEIGHT, "now_ms": NOW_MS}
    opts.update(kw)
    return check_fill(f, buy, sell, filled, index, band, **opts)


def test_worked_example_partial_fills_until_the_seller_is_done() -> None:
    # 1 ETH at 1995 is inside both limits (<= 2000, >= 1990) and 0.25 % from the index.
    after = check(fill(1, 1995))
    assert after == (1 * WAD, 1 * WAD)
    # Another 0.5 at 1990 (the seller's limit, exactly) fills the seller completely.
    after = check(fill(0.5, 1990), filled=after)
    assert after == (3 * WAD // 2, 3 * WAD // 2)
    # Nothing remains of the sell order: even 0.001 more overfills it; the buyer still has 0.5 left.
    with pytest.raises(Overfill, match="exceeds the 0 remaining of bob"):
        check(fill(0.001, 1995), filled=after)


def test_fill_beyond_the_buyers_remaining_is_refused() -> None:
    big_sell = order("bob", "sell", 5, 1990)
    with pytest.raises(Overfill, match="alice"):
        check(fill(2.5, 1995), sell=big_sell)
    assert check(fill(2, 1995), sell=big_sell) == (2 * WAD, 2 * WAD)


def test_limits_bound_the_price_on_both_sides() -> None:
    with pytest.raises(PriceLimitExceeded, match="above alice's limit"):
        check(fill(1, 2000.01))
    with pytest.raises(PriceLimitExceeded, match="below bob's limit"):
        check(fill(1, 1989.99))
    assert check(fill(1, 2000)) == (WAD, WAD)  # the limit itself is allowed


def test_price_band_around_the_index_is_exact_at_the_boundary() -> None:
    band = WAD // 400  # 0.25 %: 5.00 from an index of 2000
    assert check(fill(1, 1995), band=band) == (WAD, WAD)
    with pytest.raises(PriceOutsideBand):
        check(fill(1, 1994.99), sell=order("bob", "sell", 1, 1990), band=band)
    # The index moved to 2100: a fill at 1995 is 5 % away, outside a 1 % band.
    with pytest.raises(PriceOutsideBand, match="from index"):
        check(fill(1, 1995), index=2100 * WAD, band=WAD // 100)


def test_prices_and_sizes_must_be_on_the_grid() -> None:
    with pytest.raises(OffGrid, match="tick"):
        check(Fill("ETH-PERP", WAD, 1995 * WAD + 1, "buyer"))
    with pytest.raises(OffGrid, match="step"):
        check(Fill("ETH-PERP", WAD + 1, 1995 * WAD, "buyer"))
    with pytest.raises(OffGrid, match="limit price"):
        check(fill(1, 1995), buy=msgspec.structs.replace(BUY, limit_price=2000 * WAD + 5))
    with pytest.raises(OffGrid, match="size"):
        check(fill(1, 1995), sell=msgspec.structs.replace(SELL, size=SELL.size + 1))


def test_orders_must_fit_the_fill() -> None:
    with pytest.raises(OrderMismatch, match="a buy and a sell"):
        check(fill(1, 1995), buy=order("carol", "sell", 2, 1990))
    with pytest.raises(OrderMismatch, match="BTC-PERP"):
        check(fill(1, 1995), sell=order("bob", "sell", 1, 1990, market="BTC-PERP"))
    with pytest.raises(OrderMismatch):
        check(fill(1, 1995, market="BTC-PERP"))
    with pytest.raises(SelfTrade):
        check(fill(1, 1995), sell=order("alice", "sell", 1, 1990))


def test_time_in_force_post_only_makes_and_ioc_takes() -> None:
    post_sell = order("bob", "sell", 1, 1990, time_in_force="post_only")
    assert check(fill(1, 1995, taker="buyer"), sell=post_sell) == (WAD, WAD)
    with pytest.raises(TimeInForceViolation, match="post-only order of bob cannot take"):
        check(fill(1, 1995, taker="seller"), sell=post_sell)
    ioc_buy = order("alice", "buy", 1, 2000, time_in_force="ioc")
    assert check(fill(1, 1995, taker="buyer"), buy=ioc_buy) == (WAD, WAD)
    with pytest.raises(TimeInForceViolation, match="immediate-or-cancel order of alice"):
        check(fill(1, 1995, taker="seller"), buy=ioc_buy)


def test_expired_orders_do_not_fill() -> None:
    with pytest.raises(Expired, match="block"):
        check(fill(1, 1995), buy=order("alice", "buy", 2, 2000, good_til_block=HEIGHT - 1))
    timed = order("bob", "sell", 1, 1990, good_til_block=None, good_til_time=NOW_MS)
    assert check(fill(1, 1995), sell=timed) == (WAD, WAD)  # the last millisecond still counts
    with pytest.raises(Expired, match="ms"):
        check(fill(1, 1995), sell=timed, now_ms=NOW_MS + 1)


def test_reduce_only_only_reduces_a_known_position() -> None:
    ro_buy = order("alice", "buy", 2, 2000, reduce_only=True)
    with pytest.raises(ReduceOnlyViolation, match="position not given"):
        check(fill(1, 1995), buy=ro_buy)
    assert check(fill(1, 1995), buy=ro_buy, positions=(-WAD, None)) == (WAD, WAD)  # short 1 -> flat
    with pytest.raises(ReduceOnlyViolation, match="would not only reduce"):
        check(fill(1.5, 1995), buy=ro_buy, positions=(-WAD, None))  # would flip to long 0.5
    with pytest.raises(ReduceOnlyViolation):
        check(fill(1, 1995), buy=ro_buy, positions=(WAD, None))  # long already: buying grows it
    ro_sell = order("bob", "sell", 1, 1990, reduce_only=True)
    assert check(fill(1, 1995), sell=ro_sell, positions=(None, 3 * WAD)) == (WAD, WAD)


def test_bad_numbers_are_typed_errors() -> None:
    with pytest.raises(InvalidValue):
        check(fill(1, 1995), buy=msgspec.structs.replace(BUY, size=0))
    with pytest.raises(InvalidValue):
        check(fill(1, 1995), filled=(-1, 0))
    with pytest.raises(InvalidValue):
        check(fill(1, 1995), index=0)
    with pytest.raises(InvalidValue):
        check(Fill("ETH-PERP", 2**255, 1995 * WAD, "buyer"))
    with pytest.raises(InvalidValue, match="good_til"):
        order("alice", "buy", 1, 2000, good_til_block=None).check()


def test_signed_orders_verify_and_edits_or_other_chains_are_refused() -> None:
    signed = sign_order(BUY, ALICE)
    assert verify_order(signed, CHAIN) == order_id(BUY)
    assert order_id(BUY) == domain_digest(
        ORDER_DOMAIN, CHAIN, msgspec.json.encode(BUY, order="deterministic")
    )
    richer = msgspec.structs.replace(BUY, limit_price=BUY.limit_price + TICK)
    with pytest.raises(BadSignature):
        verify_order(SignedOrder(richer, signed.signer, signed.signature), CHAIN)
    with pytest.raises(BadSignature):
        verify_order(SignedOrder(BUY, BOB.public_hex, signed.signature), CHAIN)
    with pytest.raises(WrongChain):
        verify_order(sign_order(msgspec.structs.replace(BUY, chain_id="other"), ALICE), CHAIN)


def test_order_and_transaction_domains_differ() -> None:
    payload = msgspec.json.encode(BUY, order="deterministic")
    assert domain_digest(ORDER_DOMAIN, CHAIN, payload) != domain_digest(TX_DOMAIN, CHAIN, payload)


def test_client_id_distinguishes_identical_orders() -> None:
    assert order_id(BUY) != order_id(msgspec.structs.replace(BUY, client_id=2))


def test_a_checked_fill_becomes_the_engines_trade() -> None:
    f = fill(1, 1995, taker="seller")
    assert to_trade(f, BUY, SELL) == Trade("ETH-PERP", "alice", "bob", WAD, 1995 * WAD, "seller")


def test_signed_orders_decode_only_from_canonical_bytes() -> None:
    wire = encode_signed_order(sign_order(BUY, ALICE))
    assert verify_order(decode_signed_order(wire), CHAIN) == order_id(BUY)
    for bad in (wire.replace(b'"side":', b'"side": '), wire.replace(b'"buy"', b'"b\\u0075y"'), wire[:-1]):
        assert bad != wire
        with pytest.raises(MalformedEnvelope):
            decode_signed_order(bad)


@given(
    st.lists(
        st.tuples(st.integers(1, 3000), st.integers(1950_00, 2050_00), st.sampled_from(["buyer", "seller"])),
        max_size=30,
    ),
    st.integers(1, 4000),
    st.integers(1, 4000),
)
def test_accepted_fills_never_break_a_limit_the_band_or_an_orders_size(
    fills: list[tuple[int, int, str]], buy_size: int, sell_size: int
) -> None:
    buy = msgspec.structs.replace(BUY, size=buy_size * STEP)
    sell = msgspec.structs.replace(SELL, size=sell_size * STEP)
    filled = (0, 0)
    for size, cents, taker in fills:
        f = Fill("ETH-PERP", size * STEP, cents * TICK, taker)  # type: ignore[arg-type]
        try:
            after = check(f, buy=buy, sell=sell, filled=filled)
        except (PriceLimitExceeded, Overfill, PriceOutsideBand):
            continue
        assert sell.limit_price <= f.price <= buy.limit_price
        assert abs(f.price - INDEX) * 20 <= INDEX  # ±5 %
        assert after == (filled[0] + f.size, filled[1] + f.size)
        filled = after
    assert filled[0] <= buy.size and filled[1] <= sell.size
    # whatever remains is exactly fillable once more and no further
    rest = min(buy.size - filled[0], sell.size - filled[1])
    if rest:
        assert check(Fill("ETH-PERP", rest, 1995 * WAD, "buyer"), buy=buy, sell=sell, filled=filled)
    with pytest.raises(Overfill):
        check(Fill("ETH-PERP", rest + STEP, 1995 * WAD, "buyer"), buy=buy, sell=sell, filled=filled)


def test_boundaries_are_exact_to_the_last_unit() -> None:
    """With a grid of 1 every comparison is visible to one wei: the limits, the remaining size, the band."""
    unit: dict[str, Any] = {"tick_size": 1, "step_size": 1}
    buy = msgspec.structs.replace(BUY, limit_price=2000 * WAD + 7, size=WAD + 3)
    sell = msgspec.structs.replace(SELL, limit_price=1990 * WAD + 1, size=5 * WAD)
    assert check(Fill("ETH-PERP", WAD + 3, 2000 * WAD + 7, "buyer"), buy=buy, sell=sell, **unit)
    with pytest.raises(PriceLimitExceeded):
        check(Fill("ETH-PERP", WAD, 2000 * WAD + 8, "buyer"), buy=buy, sell=sell, **unit)
    with pytest.raises(PriceLimitExceeded):
        check(Fill("ETH-PERP", WAD, 1990 * WAD, "buyer"), buy=buy, sell=sell, **unit)
    with pytest.raises(Overfill):
        check(Fill("ETH-PERP", WAD + 4, 1995 * WAD, "buyer"), buy=buy, sell=sell, **unit)
    band = WAD // 400  # 5 * WAD from an index of 2000 * WAD
    assert check(Fill("ETH-PERP", WAD, 1995 * WAD, "buyer"), buy=buy, sell=sell, band=band, **unit)
    with pytest.raises(PriceOutsideBand):
        check(Fill("ETH-PERP", WAD, 1995 * WAD - 1, "buyer"), buy=buy, sell=sell, band=band, **unit)
