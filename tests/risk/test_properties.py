"""No-miss property of the scan, and incremental sync == rebuild on engine-driven books."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from risk_helpers import RAY, E, add_account, empty_state

from clearhouse.ledger import commands as c
from clearhouse.ledger.block import Block
from clearhouse.ledger.engine import Engine
from clearhouse.ledger.margin import cross_summary, isolated_summary
from clearhouse.ledger.model import AssetSpec, LedgerParams, LedgerState, MarketSpec, Position
from clearhouse.risk.columnar import ColumnarBook
from clearhouse.risk.scan import HAVE_NUMBA, scan

MARKETS = ("BTC-PERP", "ETH-PERP")
magnitude = st.sampled_from([10**6, 10**15, E, 10**21, 10**30, 2**200])


@st.composite
def signed(draw: st.DrawFn) -> int:
    return draw(st.integers(-draw(magnitude), draw(magnitude)))


@st.composite
def books(draw: st.DrawFn) -> tuple[LedgerState, dict[str, int]]:
    state = empty_state()
    for mid in MARKETS:
        state.markets[mid].funding_index = draw(st.integers(-(10**6) * RAY, 10**6 * RAY))
    prices = {
        "ETH": draw(st.integers(1, 10**6 * E)),
        "BTC": draw(st.integers(1, 10**7 * E)),
    }
    state.prices = {k: (v, state.time) for k, v in prices.items()}
    lookup = prices.get
    n = draw(st.integers(1, 12))
    for i in range(n):
        balances = {"USDC": draw(signed())}
        if draw(st.booleans()):
            balances["ETH"] = draw(st.integers(0, draw(magnitude)))
        positions = []
        for mid in MARKETS:
            kind = draw(st.sampled_from(["none", "cross", "iso"]))
            if kind == "none":
                continue
            size = draw(signed())
            entry = size * draw(st.integers(1, 10**6)) + draw(signed()) // 7
            snap = state.markets[mid].funding_index + draw(st.integers(-(10**4) * RAY, 10**4 * RAY))
            margin = draw(st.integers(0, draw(magnitude))) if kind == "iso" else 0
            positions.append(Position(mid, size, entry, snap, kind == "iso", margin))
        acct = add_account(state, f"a{i:03d}", balances, positions)
        # Put some accounts within a few units of the maintenance boundary, on both sides.
        if draw(st.booleans()):
            delta = draw(st.integers(-3, 3))
            s = cross_summary(state, acct, lambda k: E if k == "USDC" else lookup(k))  # type: ignore[arg-type,return-value]
            acct.balances["USDC"] += s.maintenance - s.equity + delta
        for pos in acct.positions.values():
            if pos.isolated and draw(st.booleans()):
                delta = draw(st.integers(-3, 3))
                s = isolated_summary(state, pos, lookup)  # type: ignore[arg-type]
                pos.margin += s.maintenance - s.equity + delta
    return state, prices




def price_lookup(prices: dict[str, int]):  # type: ignore[no-untyped-def]
    return lambda k: E if k == "USDC" else prices[k]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.sampled_from(["numpy", "numba"] if HAVE_NUMBA else ["numpy"]))
def test_scan_never_misses_a_liquidatable_account(book_prices, backend) -> None:  # type: ignore[no-untyped-def]
    state, prices = book_prices
    lookup = price_lookup(prices)
    res = scan(ColumnarBook.from_state(state), prices, backend=backend)
    cands = set(res.candidates)
    iso_cands = set(res.isolated_candidates)
    for aid, acct in state.accounts.items():
        if cross_summary(state, acct, lookup).liquidatable:
            assert aid in cands, (aid, cross_summary(state, acct, lookup))
        for mid, pos in acct.positions.items():
            if pos.isolated and isolated_summary(state, pos, lookup).liquidatable:
                assert (aid, mid) in iso_cands, (aid, mid, isolated_summary(state, pos, lookup))


def test_boundary_accounts_small_magnitudes_are_tight() -> None:
    """On ordinary magnitudes the slack is tiny: 1 WAD above the boundary the account is not nominated."""
    state = empty_state()
    add_account(state, "x", {"USDC": 100 * E + 10**12}, [Position("ETH-PERP", E, 2000 * E)])
    res = scan(ColumnarBook.from_state(state), {"ETH": 2000 * E, "BTC": 40_000 * E}, margin=0.0)
    assert res.candidates == ()
    assert 0 < res.tolerance[0] < 1e-9


# -- incremental sync -------------------------------------------------------------------------------

SPEC = MarketSpec("ETH-PERP", "ETH", E // 10, E // 20, taker_fee=E // 1000, step_size=E // 1000)
SPEC2 = MarketSpec("BTC-PERP", "BTC", E // 10, E // 20, step_size=E // 1000, funding_interest=E // 100)


def _engine(n: int) -> Engine:
    engine = Engine()
    txs: list[c.AnyCommand] = [
        c.SetLedgerParams(LedgerParams("USDC", max_price_age=10**6)),
        c.ListAsset(AssetSpec("USDC", decimals=6)),
        c.ListAsset(AssetSpec("ETH", haircut=8 * E // 10)),
        c.ListMarket(SPEC),
        c.ListMarket(SPEC2),
    ]
    for i in range(n):
        txs += [c.OpenAccount(f"u{i:03d}", f"{i:064x}"), c.Deposit(f"u{i:03d}", "USDC", 10_000 * E)]
    engine.apply_block(Block(1, 1000, {"ETH": 2000 * E, "BTC": 40_000 * E}, tuple(txs)))
    return engine


def _named(cmd: c.AnyCommand) -> set[str]:
    fields = ("account", "buyer", "seller", "liquidator")
    return {v for k in fields if isinstance(v := getattr(cmd, k, None), str)}


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32))
def test_incremental_sync_equals_rebuild(seed: int) -> None:
    rng = random.Random(seed)
    engine = _engine(6)
    mirror = ColumnarBook.from_state(engine.state)
    n_accounts = 6
    for _ in range(8):
        txs: list[c.AnyCommand] = []
        for _ in range(rng.randint(1, 6)):
            names = [f"u{i:03d}" for i in range(n_accounts)]
            kind = rng.choice(["trade", "trade", "deposit", "eth", "iso", "withdraw", "open", "settle"])
            a, b = rng.sample(names, 2)
            market = rng.choice(["ETH-PERP", "BTC-PERP"])
            if kind == "trade":
                size = rng.randint(1, 3000) * E // 1000
                txs.append(c.Trade(market, a, b, size, rng.randint(1900, 2100) * E))
            elif kind == "deposit":
                txs.append(c.Deposit(a, "USDC", rng.randint(1, 500) * E))
            elif kind == "eth":
                txs.append(c.Deposit(a, "ETH", rng.randint(1, 5) * E))
            elif kind == "iso":
                txs.append(c.TransferMargin(a, market, rng.randint(1, 300) * E))
            elif kind == "withdraw":
                txs.append(c.Withdraw(a, "USDC", rng.randint(1, 500) * E))
            elif kind == "open":
                new = f"u{n_accounts:03d}"
                n_accounts += 1
                txs += [c.OpenAccount(new, f"{n_accounts:064x}"), c.Deposit(new, "USDC", 1000 * E)]
            else:
                txs.append(c.SettleFunding(a))
        state = engine.state
        prices = {"ETH": rng.randint(1800, 2200) * E, "BTC": rng.randint(38_000, 42_000) * E}
        engine.apply_block(Block(state.height + 1, state.time + 3600, prices, tuple(txs)))
        touched = set().union(*(_named(t) for t in txs)) & set(engine.state.accounts)
        mirror.sync(engine.state, touched)
        assert mirror.equals(ColumnarBook.from_state(engine.state))
    assert mirror.capacity >= mirror.n


def test_sync_grows_by_doubling_and_appends_rows() -> None:
    state = empty_state()
    mirror = ColumnarBook.from_state(state)
    assert mirror.capacity == 16
    for i in range(40):
        add_account(state, f"n{i:03d}", {"USDC": i * E})
    mirror.sync(state, [f"n{i:03d}" for i in reversed(range(40))])
    assert mirror.capacity == 64
    assert mirror.account_ids == [f"n{i:03d}" for i in range(40)]
    assert mirror.equals(ColumnarBook.from_state(state))
    assert mirror.balances[39, mirror.assets.index("USDC")] == 39.0
