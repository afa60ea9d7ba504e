"""Portfolio-margin screen: no miss against the exact integer path, worked numbers, enforcement order."""

from __future__ import annotations

import random
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearhouse.ledger.errors import InvalidParameters, InvalidValue
from clearhouse.ledger.fixedpoint import WAD
from clearhouse.options.instruments import OptionKind
from clearhouse.options.portfolio_margin import (
    AnyGridSpec,
    DeribitStyle,
    DeriveStyle,
    LinearPosition,
    MarginResult,
    OptionPosition,
    Portfolio,
    ScenarioTable,
    Span16,
    portfolio_margin,
    riskiest_legs,
)
from clearhouse.options.scenario_table import OptionQuote, build_table
from clearhouse.risk import portfolio_scan as ps
from clearhouse.risk.portfolio_scan import (
    HAVE_NUMBA,
    OptionsAccount,
    PortfolioBook,
    enforce,
    exact_check,
    exact_equity,
    screen,
)

NOW = 1_800_000_000
DAY = 86_400
SPOT = 3000 * WAD
SPECS: dict[str, AnyGridSpec] = {"span16": Span16(), "deribit": DeribitStyle(), "derive": DeriveStyle()}
QUOTES = [
    OptionQuote("C2700-30", OptionKind.CALL, 2700 * WAD, NOW + 30 * DAY, 0.6),
    OptionQuote("C3000-30", OptionKind.CALL, 3000 * WAD, NOW + 30 * DAY, 0.6),
    OptionQuote("C3000-7", OptionKind.CALL, 3000 * WAD, NOW + 7 * DAY, 0.7),
    OptionQuote("C3000-90", OptionKind.CALL, 3000 * WAD, NOW + 90 * DAY, 0.55),
    OptionQuote("C3300-30", OptionKind.CALL, 3300 * WAD, NOW + 30 * DAY, 0.6),
    OptionQuote("P2700-30", OptionKind.PUT, 2700 * WAD, NOW + 30 * DAY, 0.65),
    OptionQuote("P3000-30", OptionKind.PUT, 3000 * WAD, NOW + 30 * DAY, 0.6),
    OptionQuote("P3300-30", OptionKind.PUT, 3300 * WAD, NOW + 30 * DAY, 0.6),
]
NAMES = sorted(q.instrument for q in QUOTES)
BACKENDS = ["numpy", "numba"] if HAVE_NUMBA else ["numpy"]


@cache
def table(name: str) -> ScenarioTable:
    return build_table(SPECS[name], "ETH", SPOT, NOW, QUOTES)


def at_boundary(
    spec: AnyGridSpec, tab: ScenarioTable, ident: str, pf: Portfolio, delta: int
) -> OptionsAccount:
    """An account whose exact equity is ``maintenance + delta`` integer units."""
    mm = portfolio_margin(spec, tab, pf).maintenance
    marks = exact_equity(tab, OptionsAccount(ident, 0, pf))
    return OptionsAccount(ident, mm + delta - marks, pf)


def strangle(size: int = WAD) -> Portfolio:
    return Portfolio((OptionPosition("C3300-30", -size), OptionPosition("P2700-30", -size)))


# -- worked numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(SPECS))
def test_screen_matches_exact_numbers_on_a_short_strangle(name: str, backend: str) -> None:
    spec, tab = SPECS[name], table(name)
    pf = Portfolio(
        (OptionPosition("C3300-30", -2 * WAD), OptionPosition("P2700-30", -WAD)),
        (LinearPosition("ETH-PERP", WAD // 2, SPOT),),
    )
    acct = OptionsAccount("a", 3000 * WAD, pf)
    exact = exact_check(spec, tab, acct)
    res = screen(PortfolioBook.from_accounts(tab, [acct]), spec, tab, backend=backend)  # type: ignore[arg-type]
    assert res.equity[0] == pytest.approx(exact.equity / WAD, rel=1e-12)
    assert res.maintenance[0] == pytest.approx(exact.margin.maintenance / WAD, rel=1e-12)
    assert res.worst_scenario[0] == exact.margin.worst_scenario
    # 3000 cash minus the two short premiums: above maintenance under every grid (Deribit needs ~1170)
    assert not exact.liquidatable and res.candidates == ()
    assert 0 < res.tolerance[0] < 1e-9 * res.maintenance[0] + 1e-9


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_millionth_above_the_boundary_is_not_nominated(backend: str) -> None:
    spec, tab = SPECS["derive"], table("derive")
    above = at_boundary(spec, tab, "above", strangle(), 10**12)  # 1e-6 USDC above
    below = at_boundary(spec, tab, "below", strangle(), -1)
    res = screen(PortfolioBook.from_accounts(tab, [above, below]), spec, tab, backend=backend, margin=0.0)  # type: ignore[arg-type]
    assert res.candidates == ("below",)
    assert exact_check(spec, tab, below).liquidatable and not exact_check(spec, tab, above).liquidatable


def test_empty_accounts_and_the_add_on_closing_order() -> None:
    spec, tab = SPECS["span16"], table("span16")
    empty = OptionsAccount("empty", 0, Portfolio())
    broke = OptionsAccount("broke", -1, Portfolio())
    res = screen(PortfolioBook.from_accounts(tab, [empty, broke]), spec, tab)
    assert res.maintenance.tolist() == [0.0, 0.0]
    assert res.health[0] == np.inf and res.health[1] == -np.inf
    # equity 0 = maintenance 0 is within the 4e-18 integer slack: nominated, and the exact check drops it
    assert res.candidates == ("broke", "empty")
    assert [x.account for x in enforce(spec, tab, [empty, broke], res)] == ["broke"]
    # no scenario loses (an add-on binds): shorts close first, largest first
    legs = ("C3000-30", WAD), ("P2700-30", -WAD), ("C3300-30", -2 * WAD)
    pf = Portfolio(tuple(OptionPosition(n, z) for n, z in legs))
    acct = OptionsAccount("y", 0, pf)
    result = MarginResult(1, 1, 0, -1, 0, 1, (0,) * len(tab.scenarios))
    assert ps.closing_order(tab, acct, result) == (("C3300-30", -2 * WAD), ("P2700-30", -WAD))


# -- no miss (the property the screen exists for) ----------------------------------------------------

sizes = st.one_of(
    st.integers(10**6, 10**18),
    st.integers(10**18, 10**22),
    st.integers(10**22, 2**120),
)
leg = st.tuples(st.sampled_from(NAMES), sizes, st.booleans())
portfolios = st.builds(
    lambda legs, lin: Portfolio(
        tuple(OptionPosition(n, -s if short else s) for n, s, short in legs),
        tuple(LinearPosition("ETH-PERP", s, p) for s, p in lin),
    ),
    st.lists(leg, max_size=12),
    st.lists(st.tuples(st.integers(-(2**100), 2**100), st.integers(10**15, 10**24)), max_size=2),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(list(SPECS)),
    books=st.lists(st.tuples(portfolios, st.integers(-3, 3)), min_size=1, max_size=8),
    far=st.lists(st.tuples(portfolios, st.integers(-(2**140), 2**140)), max_size=3),
)
def test_screen_never_misses_an_account_the_exact_check_liquidates(
    name: str, books: list[tuple[Portfolio, int]], far: list[tuple[Portfolio, int]]
) -> None:
    spec, tab = SPECS[name], table(name)
    accounts = [at_boundary(spec, tab, f"b{i}", pf, d) for i, (pf, d) in enumerate(books)]
    accounts += [OptionsAccount(f"f{i}", cash, pf) for i, (pf, cash) in enumerate(far)]
    book = PortfolioBook.from_accounts(tab, accounts)
    must = {a.id for a in accounts if exact_check(spec, tab, a).liquidatable}
    for backend in BACKENDS:
        res = screen(book, spec, tab, backend=backend, margin=0.0)  # type: ignore[arg-type]
        assert must <= set(res.candidates), backend
        # candidates come lowest health first
        assert list(res.health[res.candidate_rows]) == sorted(res.health[res.candidate_rows])
        assert {x.account for x in enforce(spec, tab, accounts, res)} == must


def test_without_the_bound_boundary_accounts_are_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tolerance has teeth: with it set to zero, accounts 1 unit below maintenance slip through."""
    spec, tab = SPECS["deribit"], table("deribit")
    rng = random.Random(7)
    accounts = []
    for i in range(200):
        legs = tuple(OptionPosition(n, rng.randint(-(10**21), 10**21)) for n in rng.sample(NAMES, 4))
        accounts.append(at_boundary(spec, tab, f"a{i}", Portfolio(legs), -1))
    book = PortfolioBook.from_accounts(tab, accounts)
    assert len(screen(book, spec, tab, margin=0.0).candidates) == 200
    monkeypatch.setattr(ps, "tolerance_terms", lambda book, margin: (0.0, 0.0, 0.0))
    assert len(screen(book, spec, tab, margin=0.0).candidates) < 200


# -- enforcement and errors --------------------------------------------------------------------------


def test_enforce_orders_legs_riskiest_first() -> None:
    spec, tab = SPECS["derive"], table("derive")
    legs = ("P2700-30", -3 * WAD), ("C3300-30", -WAD), ("C3000-90", WAD)
    pf = Portfolio(tuple(OptionPosition(n, z) for n, z in legs))
    acct = at_boundary(spec, tab, "x", pf, -5)
    res = screen(PortfolioBook.from_accounts(tab, [acct]), spec, tab)
    (liq,) = enforce(spec, tab, [acct], res)
    worst = liq.margin.worst_scenario
    assert tab.scenarios[worst].spot_shock < 0  # three short puts: the crash is the worst case
    assert liq.legs == tuple(riskiest_legs(tab, pf, worst))
    # in the crash: the short puts lose most, the long call loses its premium, the short call gains
    assert [name for name, _ in liq.legs] == ["P2700-30", "C3000-90", "C3300-30"]
    assert liq.legs[0][1] < liq.legs[1][1] < 0 < liq.legs[2][1]


def test_refuses_a_table_of_another_spec_or_listing() -> None:
    tab = table("span16")
    book = PortfolioBook.from_accounts(tab, [OptionsAccount("a", WAD, strangle())])
    with pytest.raises(InvalidParameters):
        screen(book, SPECS["derive"], tab)
    other = build_table(SPECS["span16"], "ETH", SPOT, NOW, QUOTES[:3])
    with pytest.raises(InvalidParameters):
        screen(book, SPECS["span16"], other)
    with pytest.raises(InvalidValue):
        screen(book, SPECS["span16"], tab, backend="gpu")  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        screen(book, SPECS["span16"], tab, margin=-1.0)


@settings(max_examples=40, deadline=None)
@given(
    base=st.lists(portfolios, min_size=0, max_size=6),
    changes=st.lists(st.tuples(st.integers(0, 9), portfolios, st.integers(-(10**24), 10**24)), max_size=6),
)
def test_update_equals_a_rebuild(base: list[Portfolio], changes: list[tuple[int, Portfolio, int]]) -> None:
    tab = table("span16")
    accounts = [OptionsAccount(f"a{i}", WAD, pf) for i, pf in enumerate(base)]
    book = PortfolioBook.from_accounts(tab, accounts)
    book.matrix  # noqa: B018 - a cached matrix must be dropped by update
    touched: dict[str, OptionsAccount] = {}
    for k, pf, cash in changes:
        touched[f"a{k}"] = OptionsAccount(f"a{k}", cash, pf)
    book.update(tab, list(touched.values()))
    merged = [touched.pop(a.id, a) for a in accounts] + list(touched.values())
    rebuilt = PortfolioBook.from_accounts(tab, merged)
    assert book.account_ids == rebuilt.account_ids
    for name in ("indptr", "indices", "sizes", "cash", "lin", "net_short", "short_total"):
        assert np.array_equal(getattr(book, name), getattr(rebuilt, name)), name
    assert book.max_legs == rebuilt.max_legs
    spec = SPECS["span16"]
    a, b = screen(book, spec, tab, backend="numpy"), screen(rebuilt, spec, tab, backend="numpy")
    assert a.candidates == b.candidates and np.array_equal(a.maintenance, b.maintenance)


def test_duplicate_ids_are_refused() -> None:
    tab = table("span16")
    dup = [OptionsAccount("a", 0, Portfolio()), OptionsAccount("a", 1, Portfolio())]
    with pytest.raises(InvalidValue):
        PortfolioBook.from_accounts(tab, dup)
    book = PortfolioBook.from_accounts(tab, dup[:1])
    with pytest.raises(InvalidValue):
        book.update(tab, dup)
