"""Portfolio margin over the three grid specs: worked examples and properties of the exact arithmetic."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearhouse.ledger.errors import InvalidParameters, UnknownMarket
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.options.instruments import OptionKind
from clearhouse.options.portfolio_margin import (
    AnyGridSpec,
    DeribitStyle,
    DeriveStyle,
    FixedFractions,
    LinearPosition,
    OptionPosition,
    OptionRow,
    Portfolio,
    Scenario,
    ScenarioTable,
    Span16,
    VolMove,
    fixed_fraction_margin,
    portfolio_margin,
    riskiest_legs,
    scenario_pnl_numerators,
)
from clearhouse.options.scenario_table import OptionQuote, build_table, shocked_vol, vol_scale

NOW = 1_800_000_000
DAY = 86_400
SPOT = 3000 * WAD
SPECS: list[AnyGridSpec] = [Span16(), DeribitStyle(), DeriveStyle()]
QUOTES = [
    OptionQuote("C2700-30", OptionKind.CALL, 2700 * WAD, NOW + 30 * DAY, 0.6),
    OptionQuote("C3000-30", OptionKind.CALL, 3000 * WAD, NOW + 30 * DAY, 0.6),
    OptionQuote("C3000-90", OptionKind.CALL, 3000 * WAD, NOW + 90 * DAY, 0.6),
    OptionQuote("C3300-30", OptionKind.CALL, 3300 * WAD, NOW + 30 * DAY, 0.6),
    OptionQuote("P2700-30", OptionKind.PUT, 2700 * WAD, NOW + 30 * DAY, 0.6),
    OptionQuote("P3300-30", OptionKind.PUT, 3300 * WAD, NOW + 30 * DAY, 0.6),
]


def table(spec: AnyGridSpec) -> ScenarioTable:
    return build_table(spec, "ETH", SPOT, NOW, QUOTES)


def opt(name: str, size: float) -> OptionPosition:
    return OptionPosition(name, int(size * WAD))


def perp(size: float) -> LinearPosition:
    return LinearPosition("ETH-PERP", int(size * WAD), SPOT)


def test_scenario_grids_have_the_published_shapes() -> None:
    span = Span16().scenarios()
    assert len(span) == 16
    assert sorted({s.spot_shock for s in span[:14]}) == [
        -15 * WAD // 100,
        -10 * WAD // 100,
        -5 * WAD // 100,
        0,
        5 * WAD // 100,
        10 * WAD // 100,
        15 * WAD // 100,
    ]
    assert [(s.spot_shock, s.weight) for s in span[14:]] == [(45 * WAD // 100, 35 * WAD // 100)] * 1 + [
        (-45 * WAD // 100, 35 * WAD // 100)
    ]
    deribit = DeribitStyle().scenarios()
    assert len(deribit) == 9 * 3 + 8
    assert sorted({s.spot_shock for s in deribit[:27]}) == [(i - 4) * 4 * WAD // 100 for i in range(9)]
    assert all(s.vol is VolMove.UP and s.weight < WAD for s in deribit[27:])
    derive = DeriveStyle().scenarios()
    points = sorted({s.spot_shock for s in derive})
    assert len(derive) == 69 and len(points) == 23
    assert points[0] == -WAD // 5 and points[-1] == WAD // 5 and points[11] == 0


def test_vol_scaling_follows_30_days_over_t() -> None:
    spec = DeriveStyle()
    assert vol_scale(spec, 30 * DAY) == pytest.approx(1.0)
    assert vol_scale(spec, 15 * DAY) == pytest.approx(2**0.3)
    assert vol_scale(spec, 120 * DAY) == pytest.approx(0.25**0.13)
    assert vol_scale(spec, 60) == pytest.approx(30**0.3)  # floored at one day
    assert vol_scale(Span16(), 2 * DAY) == 1.0
    assert shocked_vol(spec, 0.5, VolMove.UP, 30 * DAY) == pytest.approx(0.5 * 1.45)
    assert shocked_vol(spec, 0.5, VolMove.DOWN, 30 * DAY) == pytest.approx(0.5 * 0.70)


def test_single_scenario_worked_example() -> None:
    """A hand-made table: one option, two scenarios; the margin is the weighted worst loss, rounded up."""
    spec = DeriveStyle(points=2, max_move=WAD // 10, contingency_rate=0)
    scen = spec.scenarios()
    assert [s.spot_shock for s in scen] == [-WAD // 10] * 3 + [WAD // 10] * 3
    row = OptionRow("C", OptionKind.CALL, 3000 * WAD, NOW + DAY, 100 * WAD, (40, 50, 60, 400, 300, 200))
    row = msgspec.structs.replace(row, values=tuple(v * WAD for v in row.values))
    t = ScenarioTable("ETH", SPOT, NOW, scen, (row,))
    t.validate()
    # short 2 calls + long 0.5 perp: P&L_s = −2·(v_s − 100) + 0.5·3000·shock_s
    p = Portfolio((opt("C", -2),), (perp(0.5),))
    pnl = [n // WAD**3 for n in scenario_pnl_numerators(t, p)]
    assert pnl == [-30, -50, -70, -450, -250, -50]
    r = portfolio_margin(spec, t, p)
    assert (r.scan, r.worst_scenario, r.maintenance) == (450 * WAD, 3, 450 * WAD)
    assert r.initial == 5625 * WAD // 10  # 1.25 ×
    assert [leg for leg, _ in riskiest_legs(t, p, 3)] == ["C", "ETH-PERP"]


def test_long_option_margin_never_exceeds_its_premium() -> None:
    for spec in SPECS:
        t = table(spec)
        for row in t.options:
            r = portfolio_margin(spec, t, Portfolio((OptionPosition(row.instrument, 3 * WAD),)))
            assert 0 < r.maintenance <= 3 * row.mark, (type(spec).__name__, row.instrument)
            assert r.contingency == 0 and r.short_option_minimum == 0


def test_hedges_reduce_margin() -> None:
    for spec in SPECS:
        t = table(spec)
        mm = {
            name: portfolio_margin(spec, t, p).maintenance
            for name, p in {
                "naked_call": Portfolio((opt("C3300-30", -1),)),
                "perp": Portfolio((), (perp(1),)),
                "covered": Portfolio((opt("C3300-30", -1),), (perp(1),)),
                "naked_itm_call": Portfolio((opt("C2700-30", -1),)),
                "covered_itm": Portfolio((opt("C2700-30", -1),), (perp(1),)),
                "short_strangle": Portfolio((opt("C3300-30", -1), opt("P2700-30", -1))),
                "naked_put": Portfolio((opt("P2700-30", -1),)),
            }.items()
        }
        name = type(spec).__name__
        # a covered call is less risky than the underlying alone and than the two margined apart
        assert mm["covered"] < mm["perp"], name
        assert mm["covered"] < mm["perp"] + mm["naked_call"], name
        # with an in-the-money call the covered call needs less than the naked call
        assert mm["covered_itm"] < mm["naked_itm_call"], name
        # a strangle's legs lose in opposite scenarios: less than the two margined apart
        assert mm["short_strangle"] < mm["naked_call"] + mm["naked_put"], name


def test_portfolio_margin_is_below_fixed_fractions_for_hedged_books() -> None:
    fixed = FixedFractions()
    for spec in SPECS:
        t = table(spec)
        calendar = Portfolio((opt("C3000-30", -1), opt("C3000-90", 1)))
        assert (
            portfolio_margin(spec, t, calendar).maintenance < fixed_fraction_margin(fixed, t, calendar)[0] + 1
        )


def test_fixed_fractions_worked_example() -> None:
    t = table(DeriveStyle())
    # long 2 perps at 3000: 5 % / 6.6 %; short 1 call 300 OTM: 7.5 % of spot, initial max(15 % − 10 %, 10 %)
    p = Portfolio((opt("C3300-30", -1),), (perp(2),))
    assert fixed_fraction_margin(FixedFractions(), t, p) == (300 * WAD + 225 * WAD, 396 * WAD + 300 * WAD)


def test_contingency_nets_calls_and_puts_per_strike() -> None:
    spec = DeribitStyle()
    t = table(spec)
    # +1 call and −2 puts at the same expiry/strike: net short 1 → 1 % of spot
    r = portfolio_margin(spec, t, Portfolio((opt("C3300-30", 1), opt("P3300-30", -2))))
    assert r.contingency == 30 * WAD
    assert r.maintenance == r.scan + r.contingency


def test_short_option_minimum_floors_span() -> None:
    spec = Span16(short_option_minimum_rate=WAD)  # absurdly high: 100 % of spot per short option
    t = table(spec)
    r = portfolio_margin(spec, t, Portfolio((opt("C3300-30", -1),)))
    assert r.maintenance == r.short_option_minimum == SPOT


def test_table_mismatch_and_unknown_options_are_refused() -> None:
    t = table(Span16())
    with pytest.raises(InvalidParameters, match="not built for"):
        portfolio_margin(DeriveStyle(), t, Portfolio())
    with pytest.raises(UnknownMarket):
        portfolio_margin(Span16(), t, Portfolio((opt("NOPE", 1),)))
    bad = msgspec.structs.replace(t, options=t.options[::-1])
    with pytest.raises(InvalidParameters, match="sorted"):
        bad.validate()
    with pytest.raises(InvalidParameters):
        DeriveStyle(vol_down=WAD).validate()
    with pytest.raises(InvalidParameters):
        DeribitStyle(extended_moves=(-WAD,)).validate()


def test_specs_round_trip_as_tagged_values() -> None:
    for spec in SPECS:
        data = msgspec.json.encode(spec)
        assert msgspec.json.decode(data, type=AnyGridSpec) == spec


sizes = st.integers(-5 * WAD, 5 * WAD)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(sizes, min_size=len(QUOTES), max_size=len(QUOTES)), hedge=sizes, k=st.integers(1, 7))
def test_margin_is_exact_homogeneous_and_rounds_up(sizes: list[int], hedge: int, k: int) -> None:
    """Scaling a book by k scales the exact scan loss by k up to rounding; the requirement is never below
    the exact (unrounded) worst loss."""
    spec = DeriveStyle(contingency_rate=0)
    t = TABLE_DERIVE
    book = Portfolio(
        tuple(OptionPosition(q.instrument, n) for q, n in zip(QUOTES, sizes, strict=True)),
        (LinearPosition("ETH-PERP", hedge, SPOT),),
    )
    r = portfolio_margin(spec, t, book)
    exact_worst = max(max(-n, 0) for n in scenario_pnl_numerators(t, book))
    assert r.scan * WAD**2 >= exact_worst > (r.scan - 1) * WAD**2 or r.scan == exact_worst == 0
    scaled = Portfolio(
        tuple(OptionPosition(p.instrument, k * p.size) for p in book.options),
        tuple(LinearPosition(p.instrument, k * p.size, p.price) for p in book.linear),
    )
    r_k = portfolio_margin(spec, t, scaled)
    assert k * r.scan - k <= r_k.scan <= k * r.scan


TABLE_DERIVE = table(DeriveStyle(contingency_rate=0))


def test_scenario_type_is_stable() -> None:
    assert msgspec.json.encode(Scenario(WAD, VolMove.UP)) == b'[1000000000000000000,"up",1000000000000000000]'
