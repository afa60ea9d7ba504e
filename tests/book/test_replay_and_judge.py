"""The book is deterministic and never produces a fill the engine's judge refuses.

Hypothesis drives random sequences of orders, cancels, context changes and position syncs: replaying the
same inputs rebuilds the same book (root) and the same fills; every fill passes
:func:`~clearhouse.auth.orders.check_fill` (limits, remaining size, band, time in force, reduce-only) with
the running filled amounts, and :func:`~clearhouse.auth.clearing.clear_fill` accepts it; an altered fill
is refused by ``clear_fill``.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clearhouse.auth.authorization import registry
from clearhouse.auth.clearing import FillBook, clear_fill
from clearhouse.auth.commands import MatchedFill
from clearhouse.auth.errors import (
    BadSignature,
    Overfill,
    PriceLimitExceeded,
    PriceOutsideBand,
    Unauthorized,
)
from clearhouse.auth.orders import Fill, SignedOrder, check_fill, order_id
from clearhouse.book.book import BookContext, Outcome
from clearhouse.book.cancels import CancelAll, CancelOrder, sign_cancel, sign_cancel_all
from clearhouse.book.replay import (
    BookInput,
    Cancel,
    CancelAllInput,
    Place,
    SetContext,
    SetPosition,
    decode_inputs,
    encode_inputs,
    replay,
)
from clearhouse.ledger import commands as c

from .helpers import BAND, CHAIN, CONFIG, CONTEXT, HEIGHT, INDEX, KEYS, MARKET, NOW_MS, STEP, TICK, order

ACCOUNTS = ["alice", "bob", "carol"]
REG = registry()
for _name in [*ACCOUNTS, "dave"]:
    REG = REG.apply(KEYS[_name].public_hex, c.OpenAccount(_name, KEYS[_name].public_hex))


@st.composite
def inputs(draw: st.DrawFn) -> list[BookInput]:
    out: list[BookInput] = []
    placed: list[SignedOrder] = []
    height, now, index = HEIGHT, NOW_MS, INDEX
    cid = 0
    for _ in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(["place"] * 6 + ["cancel", "cancel_all", "context", "position"]))
        if kind == "place":
            account = draw(st.sampled_from(ACCOUNTS))
            cid += 1
            kw: dict[str, Any] = {
                "client_id": cid,
                "time_in_force": draw(st.sampled_from(["gtc", "gtc", "ioc", "post_only"])),
                "reduce_only": draw(st.booleans()) and draw(st.booleans()),
                "good_til_block": draw(st.integers(height, height + 4)),
            }
            if draw(st.booleans()):
                kw["good_til_time"] = draw(st.integers(now, now + 5_000))
            ticks = draw(st.integers(-20, 20))  # +-0.2 % around the index, 0.2 apart
            size = draw(st.integers(1, 3000)) * STEP
            o = order(
                account,
                draw(st.sampled_from(["buy", "sell"])),
                0,
                0,
                size=size,
                limit_price=index - index % TICK + ticks * 20 * TICK,
                **kw,
            )
            placed.append(o)
            out.append(Place(o))
        elif kind == "cancel" and placed:
            o = draw(st.sampled_from(placed))
            signer = draw(st.sampled_from([o.order.account, o.order.account, "dave"]))
            out.append(Cancel(sign_cancel(CancelOrder(CHAIN, MARKET, order_id(o.order).hex()), KEYS[signer])))
        elif kind == "cancel_all":
            account = draw(st.sampled_from(ACCOUNTS))
            nonce = draw(st.integers(0, 5))
            out.append(
                CancelAllInput(sign_cancel_all(CancelAll(CHAIN, MARKET, account, nonce), KEYS[account]))
            )
        elif kind == "context":
            height += draw(st.integers(0, 2))
            now += draw(st.integers(0, 3_000))
            index += draw(st.integers(-30, 30)) * TICK * 10
            out.append(SetContext(BookContext(height, now, index)))
        elif kind == "position":
            out.append(SetPosition(draw(st.sampled_from(ACCOUNTS)), draw(st.integers(-2000, 2000)) * STEP))
    return out


def judge(items: list[BookInput], results: list[Any]) -> list[MatchedFill]:
    """Re-check every fill the way the engine does; return them all."""
    ctx = CONTEXT
    positions: dict[str, int] = {}
    filled: dict[bytes, int] = {}
    fills = FillBook()
    seen: list[MatchedFill] = []
    for item, result in zip(items, results, strict=True):
        if isinstance(item, SetContext):
            ctx = item.context
        if isinstance(item, SetPosition):
            positions[item.account] = item.size
        if not isinstance(result, Outcome):
            continue
        for m in result.fills:
            b, s = m.buy.order, m.sell.order
            bid, sid = order_id(b), order_id(s)
            kw: dict[str, Any] = {
                "tick_size": TICK,
                "step_size": STEP,
                "height": ctx.height,
                "now_ms": ctx.now_ms,
            }
            pos = (positions.get(b.account, 0), positions.get(s.account, 0))
            after = check_fill(
                m.fill,
                b,
                s,
                (filled.get(bid, 0), filled.get(sid, 0)),
                ctx.index_price,
                BAND,
                positions=pos,
                **kw,
            )
            filled[bid], filled[sid] = after
            fills, trade = clear_fill(
                fills, REG, m, chain_id=CHAIN, index_price=ctx.index_price, band=BAND, positions=pos, **kw
            )
            assert trade.size == m.fill.size and trade.price == m.fill.price
            positions[b.account] = pos[0] + m.fill.size
            positions[s.account] = pos[1] - m.fill.size
            seen.append(m)
    return seen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs())
def test_replay_is_deterministic_and_every_fill_passes_the_judge(items: list[BookInput]) -> None:
    book1, results1 = replay(CONFIG, CONTEXT, items)
    # through the canonical encoding, as a replica reading a journal would
    book2, results2 = replay(CONFIG, CONTEXT, decode_inputs(encode_inputs(items)))
    assert book1.root() == book2.root()
    assert msgspec.json.encode(results1) == msgspec.json.encode(results2)
    assert book1.depth() == book2.depth()
    fills = judge(items, results1)
    event(f"fills: {min(len(fills), 5)}+" if fills else "no fills")
    # the L2 snapshot equals the levels rebuilt from the deltas
    levels: dict[tuple[str, int], int] = {}
    for d in book1.deltas_since(0):
        levels[(d.side, d.price)] = d.size
    depth = book1.depth()
    assert sorted(depth.bids) == sorted((p, z) for (sd, p), z in levels.items() if sd == "bid" and z)
    assert sorted(depth.asks) == sorted((p, z) for (sd, p), z in levels.items() if sd == "ask" and z)
    # never crossed
    if depth.bids and depth.asks:
        assert depth.bids[0][0] < depth.asks[0][0]


def _one_fill() -> tuple[MatchedFill, dict[str, Any]]:
    items: list[BookInput] = [Place(order("bob", "sell", 2, 2000)), Place(order("alice", "buy", 1, 2001))]
    _, results = replay(CONFIG, CONTEXT, items)
    out = results[1]
    assert isinstance(out, Outcome) and len(out.fills) == 1
    kw = {
        "chain_id": CHAIN,
        "index_price": INDEX,
        "band": BAND,
        "tick_size": TICK,
        "step_size": STEP,
        "height": HEIGHT,
        "now_ms": NOW_MS,
    }
    clear_fill(FillBook(), REG, out.fills[0], **kw)  # the genuine fill clears
    return out.fills[0], kw


@pytest.mark.parametrize(
    ("alter", "error"),
    [
        (
            lambda m: msgspec.structs.replace(
                m, fill=msgspec.structs.replace(m.fill, price=m.fill.price + 200 * TICK)
            ),
            PriceLimitExceeded,
        ),
        (
            lambda m: msgspec.structs.replace(m, fill=msgspec.structs.replace(m.fill, size=m.fill.size * 3)),
            Overfill,
        ),
        (
            lambda m: msgspec.structs.replace(m, fill=Fill(MARKET, m.fill.size, 1800 * 10**18, "buyer")),
            (PriceLimitExceeded, PriceOutsideBand),
        ),
        (
            lambda m: msgspec.structs.replace(
                m,
                buy=msgspec.structs.replace(
                    m.buy, order=msgspec.structs.replace(m.buy.order, limit_price=3000 * 10**18)
                ),
            ),
            BadSignature,
        ),
        (lambda m: msgspec.structs.replace(m, buy=sign_as("carol", m.buy)), Unauthorized),
    ],
    ids=["price-above-limit", "overfill", "price-outside-band", "order-altered", "signed-by-other-key"],
)
def test_altered_fill_is_refused_by_the_judge(alter: Any, error: Any) -> None:
    genuine, kw = _one_fill()
    with pytest.raises(error):
        clear_fill(FillBook(), REG, alter(genuine), **kw)


def sign_as(name: str, signed: SignedOrder) -> SignedOrder:
    """The same order re-signed by another account's key (valid signature, wrong owner)."""
    from clearhouse.auth.orders import sign_order

    return sign_order(signed.order, KEYS[name])


def test_replay_of_a_fill_is_refused() -> None:
    genuine, kw = _one_fill()
    book, _ = clear_fill(FillBook(), REG, genuine, **kw)
    with pytest.raises(Overfill):
        clear_fill(book, REG, genuine, **kw)
