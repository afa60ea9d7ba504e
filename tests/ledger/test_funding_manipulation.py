"""Funding cannot be set by dust trades (issue 9 item 8).

The attack: two colluding accounts trade 0.001 ETH with each other at 100x the index every block. Before
the price band and the notional-weighted mark, the last trade price was the venue leg of the mark, the
mark's median of two estimates moved with it, funding sat at its clamp (6 x (IM - MM) = 30 % per 8 h)
and a 2x long paid 60 % of its equity in 8 hours.
"""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.fixedpoint import RAY, WAD
from clearhouse.ledger.margin import funding_owed
from clearhouse.ledger.model import MarketSpec

from .builders import ETH_PERP, ETH_PERP_ID, KEEPER, W, apply_txs, genesis_engine, rejection_codes

INDEX = W(2000)
HOUR = 3600
BLOCK = 60
ATTACKERS = ("mallory", "trent")
VICTIM = "victor"


def attack_engine() -> Engine:
    """Genesis plus a 2x long: victor holds 10 ETH (20,000 notional) on 10,000 USDC."""
    engine = genesis_engine(
        accounts=(VICTIM, *ATTACKERS, KEEPER),
        deposits=(
            (VICTIM, "USDC", W(10_000)),
            ("mallory", "USDC", W(10_000)),
            ("trent", "USDC", W(10_000)),
            (KEEPER, "USDC", W(1_000_000)),
        ),
        markets=(ETH_PERP,),
    )
    opened = apply_txs(engine, [c.Trade(ETH_PERP_ID, VICTIM, KEEPER, W(10), INDEX)], prices={"ETH": INDEX})
    assert rejection_codes(opened) == []
    return engine


def victim_funding(engine: Engine) -> int:
    """Funding the victim owes (> 0) or is owed (< 0) at the current funding index."""
    pos = engine.state.accounts[VICTIM].positions[ETH_PERP_ID]
    return funding_owed(pos, engine.state.markets[ETH_PERP_ID].funding_index)


def run_attack(engine: Engine, price: int, size: int, hours: int = 8) -> list[str]:
    """Every block the attackers trade ``size`` at ``price`` with each other, alternating sides so
    their positions stay flat. Returns the rejection codes of their trades."""
    codes: list[str] = []
    for i in range(hours * HOUR // BLOCK):
        buyer, seller = ATTACKERS if i % 2 == 0 else ATTACKERS[::-1]
        result = apply_txs(engine, [c.Trade(ETH_PERP_ID, buyer, seller, size, price)], prices={"ETH": INDEX})
        codes += rejection_codes(result)
    # one more block so the last interval is accrued
    apply_txs(engine, [], prices={"ETH": INDEX})
    return codes


def test_the_issues_attack_is_refused_and_funding_does_not_move() -> None:
    """0.001 ETH at 100x the index every block for 8 h: every fill is refused (price band) and the
    2x long pays no funding (no interest is configured, the index never moves)."""
    engine = attack_engine()
    before = victim_funding(engine)
    codes = run_attack(engine, price=100 * INDEX, size=W("0.001"))
    assert codes and set(codes) == {"price_out_of_band"}
    assert len(codes) == 8 * HOUR // BLOCK
    assert victim_funding(engine) - before == 0


def test_dust_at_the_edge_of_the_band_cannot_move_funding() -> None:
    """The same dust attack priced at the band's upper edge is accepted, but its notional (2.1 USDC a
    block) is far below the market's ``mark_min_notional``: it never sets the mark."""
    engine = attack_engine()
    spec = engine.state.markets[ETH_PERP_ID].spec
    edge = INDEX + INDEX * spec.price_band // W(1)
    before = victim_funding(engine)
    codes = run_attack(engine, price=edge, size=W("0.001"))
    assert codes == []
    assert engine.state.markets[ETH_PERP_ID].mark_price == INDEX
    assert victim_funding(engine) - before == 0


# -- properties ---------------------------------------------------------------------------------------

INTEREST = W("0.0001")  # 0.01 % per 8 h, so funding is not trivially zero
SPEC = msgspec.structs.replace(ETH_PERP, funding_interest=INTEREST)
VICTIM_SIZE = W(10)

#: A price: absolute (any, up to 200x the index) or relative to the block's index in basis points
#: (around the band's edges at +-500).
price_st = st.one_of(
    st.tuples(st.just("abs"), st.integers(1, 200 * INDEX)),
    st.tuples(st.just("bps"), st.integers(-600, 600)),
)
trade_st = st.tuples(
    st.booleans(),  # which attacker buys
    st.integers(1, 1000),  # size in steps of 0.001 ETH
    price_st,
)


def engine_for(spec: MarketSpec) -> Engine:
    engine = genesis_engine(
        accounts=(VICTIM, *ATTACKERS, KEEPER),
        deposits=(
            (VICTIM, "USDC", W(10_000)),
            ("mallory", "USDC", W(1_000_000)),
            ("trent", "USDC", W(1_000_000)),
            (KEEPER, "USDC", W(1_000_000)),
        ),
        markets=(spec,),
    )
    opened = apply_txs(
        engine, [c.Trade(ETH_PERP_ID, VICTIM, KEEPER, VICTIM_SIZE, INDEX)], prices={"ETH": INDEX}
    )
    assert rejection_codes(opened) == []
    return engine


Price = tuple[str, int]


def attack_txs(trades: list[tuple[bool, int, Price]], index: int) -> list[c.AnyCommand]:
    out: list[c.AnyCommand] = []
    for first_buys, steps, (kind, value) in trades:
        buyer, seller = ATTACKERS if first_buys else ATTACKERS[::-1]
        price = value if kind == "abs" else index + index * value // 10_000
        out.append(c.Trade(ETH_PERP_ID, buyer, seller, steps * W("0.001"), price))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(
        st.tuples(st.integers(60, 3600), st.integers(W(1500), W(2500)), st.lists(trade_st, max_size=3)),
        min_size=1,
        max_size=12,
    )
)
def test_dust_trades_pay_the_third_party_exactly_what_no_trades_pay(
    blocks: list[tuple[int, int, list[tuple[bool, int, Price]]]],
) -> None:
    """Any sequence of dust fills by the two colluders, at any price, with the index moving: the third
    party (a 2x long of 10 ETH) pays exactly what it pays over the same blocks with no fills at all.

    Bound: dust means an interval's admitted notional stays below mark_min_notional (here at most 3
    fills of at most 1 ETH, each inside the band: 3 x 1 x 2500 x 1.05 < 10,000). Then the interval's
    venue leg is the index, exactly as with no fills, the basis EMA records 0, the mark and the rate are
    those of the quiet history: premium 0, the interest r only (r x S x I x T / period, rounded as the
    quiet twin rounds). The general bound from the band and the clamp (next test) holds a fortiori.
    Every admitted fill is also checked to lie inside the band.
    """
    attacked, quiet = engine_for(SPEC), engine_for(SPEC)
    for dt, index, trades in blocks:
        result = apply_txs(attacked, attack_txs(trades, index), prices={"ETH": index}, dt=dt)
        apply_txs(quiet, [], prices={"ETH": index}, dt=dt)
        for e in result.events:
            if isinstance(e, ev.Traded):
                assert abs(e.price - index) * WAD <= SPEC.price_band * index
    apply_txs(attacked, [], prices={"ETH": INDEX})
    apply_txs(quiet, [], prices={"ETH": INDEX})
    assert victim_funding(attacked) == victim_funding(quiet)
    assert attacked.state.markets[ETH_PERP_ID].funding_index == quiet.state.markets[ETH_PERP_ID].funding_index


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(
        st.tuples(
            st.integers(60, 3600),
            st.lists(st.tuples(st.booleans(), st.integers(1, 50_000), price_st), max_size=3),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_fills_of_any_size_move_funding_by_at_most_the_band(
    blocks: list[tuple[int, list[tuple[bool, int, Price]]]],
) -> None:
    """Colluders' fills of any size (up to 50 ETH, far above mark_min_notional) at any price, with the
    index held at I = 2000: the third party's funding stays within the band's bound, not the clamp's.

    Bound. Let b be the price_band, r the funding_interest, C = clamp_factor x (IM - MM) the clamp, S
    the third party's size, T the time funded over in K accruals.
    1. Every admitted fill lies in [ceil(I (1 - b)), floor(I (1 + b))] (ledger.price_band); so does the
       interval's size-weighted price (a floor of a weighted mean), the basis EMA of (venue - I) stays
       in that range less one unit of rounding, and the mark (floor mean of I + basis and the venue)
       in [I (1 - b) - 1, I (1 + b)]. Hence |premium| <= b + 2 units, |rate| <= R = min(C, b + |r| + 2).
    2. Each accrual moves the funding index by at most R x I x dt x RAY / (WAD^2 x period) + 1 and the
       position owes ceil(S x dF / RAY), so
           |paid| <= S x I x R x T / (WAD^2 x period) + S x K / RAY + 1.
    With the defaults (b = 5 %, C = 30 %) R is the band: at most 5 % of notional per 8 h, against the
    30 % per 8 h the attack reached before the band (a 2x long lost 60 % of its equity in 8 h).
    """
    engine = engine_for(SPEC)
    before = victim_funding(engine)
    elapsed = accruals = 0
    for dt, trades in blocks:
        apply_txs(engine, attack_txs(trades, INDEX), prices={"ETH": INDEX}, dt=dt)
        elapsed, accruals = elapsed + dt, accruals + 1
    apply_txs(engine, [], prices={"ETH": INDEX})
    elapsed, accruals = elapsed + 60, accruals + 1
    clamp = SPEC.funding_clamp_factor * (SPEC.initial_margin - SPEC.maintenance_margin) // WAD
    rate = min(clamp, SPEC.price_band + abs(SPEC.funding_interest) + 2)
    bound = (
        VICTIM_SIZE * INDEX * rate * elapsed // (WAD * WAD * SPEC.funding_period)
        + VICTIM_SIZE * accruals // RAY
        + 1
    )
    paid = victim_funding(engine) - before
    assert abs(paid) <= bound
    assert rate < clamp  # the band, not the clamp, is what binds with the defaults
