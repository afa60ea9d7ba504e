"""Worked examples and refusals of the fast scan, and candidate ordering."""

from __future__ import annotations

import math

import numpy as np
import pytest
from risk_helpers import RAY, E, add_account, empty_state

from clearhouse.ledger.errors import InvalidValue, MissingPrice
from clearhouse.ledger.margin import cross_summary, fresh_price_lookup, isolated_summary
from clearhouse.ledger.model import Position
from clearhouse.risk.columnar import ColumnarBook
from clearhouse.risk.scan import (
    DEFAULT_MARGIN,
    HAVE_NUMBA,
    INT_UNIT,
    ScanInvalidPrice,
    ScanMissingPrice,
    gamma,
    headroom_ratios,
    order_candidates,
    price_keys,
    price_vectors,
    scan,
)

BACKENDS = ["numpy", "numba"] if HAVE_NUMBA else ["numpy"]
PRICES = {"ETH": 2000 * E, "BTC": 40_000 * E}


def worked_state():  # type: ignore[no-untyped-def]
    state = empty_state()
    state.markets["ETH-PERP"].funding_index = 5 * RAY  # 5 USDC per ETH accrued since snapshot 0
    # alice: 1000 USDC, long 1 ETH from 2000. equity = 1000 - 5 (funding) = 995, MM = 100: healthy.
    add_account(state, "alice", {"USDC": 1000 * E}, [Position("ETH-PERP", E, 2000 * E)])
    # bob: 100 USDC, long 1 ETH entered at 2010: equity = 100 - 10 - 5 = 85 < MM 100: liquidatable.
    add_account(state, "bob", {"USDC": 100 * E}, [Position("ETH-PERP", E, 2010 * E)])
    # carol: 0.05 ETH collateral (x2000 x0.9 = 90) + 15 USDC, short 1 ETH at 2000 (snapshot 5: no
    # funding owed): equity = 105, MM = 100: healthy, health 1.05.
    add_account(
        state, "carol", {"ETH": 5 * E // 100, "USDC": 15 * E}, [Position("ETH-PERP", -E, -2000 * E, 5 * RAY)]
    )
    # dave: exactly at the boundary (equity == MM): NOT liquidatable, but must be a candidate (slack).
    add_account(state, "dave", {"USDC": 105 * E}, [Position("ETH-PERP", E, 2000 * E)])
    # erin: isolated long 0.5 BTC at 40000 with margin 400: equity = 400, MM = 20000 x 2.5% = 500.
    add_account(
        state, "erin", {"USDC": 10 * E}, [Position("BTC-PERP", E // 2, 20_000 * E, 0, True, 400 * E)]
    )
    # frank: bad debt left after a bankruptcy, no positions: equity -3 < MM 0: liquidatable.
    add_account(state, "frank", {"USDC": -3 * E})
    return state


@pytest.mark.parametrize("backend", BACKENDS)
def test_worked_example(backend: str) -> None:
    state = worked_state()
    book = ColumnarBook.from_state(state)
    res = scan(book, PRICES, backend=backend)  # type: ignore[arg-type]
    row = book.row_of
    assert res.equity[row["alice"]] == pytest.approx(995.0)
    assert res.maintenance[row["alice"]] == pytest.approx(100.0)
    assert res.initial[row["alice"]] == pytest.approx(200.0)
    assert res.equity[row["bob"]] == pytest.approx(85.0)
    assert res.equity[row["carol"]] == pytest.approx(105.0)
    assert res.health[row["carol"]] == pytest.approx(1.05)
    assert res.health[row["frank"]] == -math.inf
    slot = res.iso_slot(row["erin"], book.markets.index("BTC-PERP"))
    assert slot is not None and res.iso_slot(row["erin"], book.markets.index("ETH-PERP")) is None
    assert res.iso_rows.tolist() == [row["erin"]]  # only isolated positions have slots
    assert res.iso_equity[slot] == pytest.approx(400.0)
    assert res.iso_maintenance[slot] == pytest.approx(500.0)
    assert res.iso_health[slot] == pytest.approx(0.8)
    # lowest health first: frank (-inf), bob (0.85), dave (1.0); alice and carol are not nominated.
    assert res.candidates == ("frank", "bob", "dave")
    assert res.isolated_candidates == (("erin", "BTC-PERP"),)
    assert res.isolated_health[0] == pytest.approx(0.8)
    # cross-check with the exact integer path
    lookup = fresh_price_lookup(state)
    exact = {a: cross_summary(state, acct, lookup).liquidatable for a, acct in state.accounts.items()}
    assert {a for a, liq in exact.items() if liq} == {"bob", "frank"}
    assert isolated_summary(state, state.accounts["erin"].positions["BTC-PERP"], lookup).liquidatable


def test_price_array_form_matches_dict() -> None:
    book = ColumnarBook.from_state(worked_state())
    keys = price_keys(book)
    assert keys == ("BTC", "ETH")
    arr = np.array([40_000.0, 2000.0])
    assert scan(book, arr).candidates == scan(book, PRICES).candidates


@pytest.mark.parametrize(
    "prices",
    [
        {"ETH": 2000 * E},  # BTC missing
        {"ETH": 2000 * E, "BTC": 0},
        {"ETH": 2000 * E, "BTC": -1},
        {"ETH": 2000 * E, "BTC": 2**255},
        {"ETH": 2000 * E, "BTC": float("nan")},
        {"ETH": 2000 * E, "BTC": 40_000.0},  # float in the integer-WAD form
        {"ETH": 2000 * E, "BTC": True},
        np.array([math.nan, 2000.0]),
        np.array([40_000.0, -1.0]),
        np.array([40_000.0, math.inf]),
        np.array([40_000.0, 0.0]),
        np.array([40_000.0]),
        np.array([40_000, 2000]),  # int array: units ambiguous, refused
    ],
)
def test_bad_prices_are_refused(prices: object) -> None:
    book = ColumnarBook.from_state(worked_state())
    with pytest.raises((ScanMissingPrice, ScanInvalidPrice)) as info:
        scan(book, prices)  # type: ignore[arg-type]
    assert isinstance(info.value, MissingPrice | InvalidValue)


def test_bad_margin_refused() -> None:
    book = ColumnarBook.from_state(worked_state())
    with pytest.raises(InvalidValue):
        scan(book, PRICES, margin=math.nan)
    with pytest.raises(InvalidValue):
        scan(book, PRICES, abs_tolerance=-1.0)


def test_order_candidates_small_set_is_sorted_by_health_then_key() -> None:
    assert order_candidates(["c", "a", "b"], [0.5, 0.9, 0.5], height=7) == ["b", "c", "a"]


def test_order_candidates_rotation_is_deterministic_and_starvation_free() -> None:
    ids = [f"acct{i:03d}" for i in range(40)]
    healths = [0.5 + i / 100 for i in range(40)]
    cap = 6
    seen: set[str] = set()
    for height in range(20):
        picked = order_candidates(ids, healths, height, cap)
        assert picked == order_candidates(list(reversed(ids)), list(reversed(healths)), height, cap)
        assert len(picked) == cap
        assert picked[:3] == ["acct000", "acct001", "acct002"]  # the 3 most underwater always first
        assert [healths[ids.index(p)] for p in picked] == sorted(healths[ids.index(p)] for p in picked)
        seen.update(picked)
    # 37 others, 3 rotating slots: everyone is served within ceil(37 / 3) = 13 blocks
    assert seen == set(ids)


def test_order_candidates_pairs_and_bad_input() -> None:
    pairs = [("b", "ETH-PERP"), ("a", "ETH-PERP"), ("a", "BTC-PERP")]
    assert order_candidates(pairs, [1.0, 1.0, 1.0], 0) == sorted(pairs)
    with pytest.raises(InvalidValue):
        order_candidates(["a"], [math.nan], 0)
    with pytest.raises(InvalidValue):
        order_candidates(["a"], [1.0], 0, cap=0)
    with pytest.raises(InvalidValue):
        order_candidates(["a", "b"], [1.0], 0)


@pytest.mark.skipif(not HAVE_NUMBA, reason="needs numba")
def test_backends_agree_on_a_synthetic_book() -> None:
    """Fused numba kernel == numpy fallback: candidates, order, sparse isolated slots, values."""
    rng = np.random.default_rng(11)
    n, m = 3000, 7
    size = np.where(rng.random((n, m)) < 0.35, rng.normal(0.0, 5.0, (n, m)), 0.0)
    px = np.linspace(10.0, 3000.0, m)
    entry = size * px * (1.0 + rng.normal(0.0, 0.05, (n, m)))
    iso = rng.random((n, m)) < 0.15
    iso[:5] = True  # rows whose every market is isolated, some with size 0 (margin only)
    book = ColumnarBook.from_arrays(
        markets=tuple(f"M{i}-PERP" for i in range(m)),
        oracles=tuple(f"M{i}" for i in range(m)),
        assets=("ETH", "USDC"),
        settlement="USDC",
        im_frac=np.full(m, 0.1),
        mm_frac=np.full(m, 0.05),
        funding=rng.normal(0.0, 1.0, m),
        haircut=np.array([0.9, 1.0]),
        size=size,
        entry=entry,
        snapshot=rng.normal(0.0, 1.0, (n, m)) * (size != 0),
        margin=np.where(iso, np.abs(size) * px * 0.1 + 1.0, 0.0),
        isolated=iso,
        balances=np.c_[rng.random(n) * 10.0, rng.random(n) * 20_000.0 - 2_000.0],
    )
    prices = np.array([2000.0 if k == "ETH" else px[int(k[1:])] for k in price_keys(book)])
    a = scan(book, prices, backend="numba")
    b = scan(book, prices, backend="numpy")
    assert len(a.candidates) > 10 and len(a.isolated_candidates) > 10
    assert a.candidates == b.candidates
    assert a.isolated_candidates == b.isolated_candidates
    assert np.array_equal(a.candidate_rows, b.candidate_rows)
    rows, cols = np.nonzero(iso)
    for r in (a, b):
        assert np.array_equal(r.iso_rows, rows) and np.array_equal(r.iso_cols, cols)
        assert list(r.candidate_health) == sorted(r.candidate_health)
        assert list(r.isolated_health) == sorted(r.isolated_health)
    for x, y in [
        (a.equity, b.equity), (a.initial, b.initial), (a.maintenance, b.maintenance),
        (a.tolerance, b.tolerance), (a.iso_equity, b.iso_equity),
        (a.iso_maintenance, b.iso_maintenance), (a.iso_tolerance, b.iso_tolerance),
    ]:  # fmt: skip
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(np.isinf(a.iso_health), np.isinf(b.iso_health))


def test_candidate_ids_survive_a_later_sync() -> None:
    """Candidate ids are built lazily from the mirror's id list; appending rows does not shift them."""
    state = worked_state()
    book = ColumnarBook.from_state(state)
    res = scan(book, PRICES)
    add_account(state, "zed", {"USDC": -1 * E})
    book.sync(state, ["zed"])
    assert res.candidates == ("frank", "bob", "dave")
    assert scan(book, PRICES).candidates == ("frank", "zed", "bob", "dave")


def test_id_array_follows_sync_growth_and_rebuild() -> None:
    """The object id array the scan indexes into stays equal to ``account_ids`` through appends that
    grow the capacity and through a rebuild, and an earlier result keeps its own ids."""
    state = worked_state()
    book = ColumnarBook.from_state(state)
    assert book.id_array.tolist() == book.account_ids
    first = scan(book, PRICES)
    capacity = book.capacity
    new_ids = [f"z{i:03d}" for i in range(capacity + 5)]  # forces at least one doubling
    for aid in new_ids:
        add_account(state, aid, {"USDC": -1 * E})
    book.sync(state, new_ids)
    assert book.capacity > capacity
    assert book.id_array.tolist() == book.account_ids
    assert first.candidates == ("frank", "bob", "dave")
    after = scan(book, PRICES)
    assert set(new_ids) <= set(after.candidates)
    assert after.candidates == tuple(book.account_ids[r] for r in after.candidate_rows.tolist())
    book.rebuild(state)
    assert book.id_array.tolist() == book.account_ids
    assert after.candidates == tuple(after.account_ids[r] for r in after.candidate_rows.tolist())


@pytest.mark.skipif(not HAVE_NUMBA, reason="the numpy fallback allocates fresh outputs")
def test_output_buffers_are_recycled_only_when_unreferenced() -> None:
    """The per-row output block is reused only once the previous result and all its views are gone."""
    book = ColumnarBook.from_state(worked_state())
    first = scan(book, PRICES)
    expected = first.equity.copy()
    block_id = id(book.scan_workspace)
    second = scan(book, PRICES)  # `first` alive: a new block
    assert id(book.scan_workspace) != block_id
    np.testing.assert_array_equal(first.equity, expected)
    view = second.tolerance[1:]
    del first, second
    block_id = id(book.scan_workspace)
    third = scan(book, PRICES)  # a view of `second` alive: a new block
    assert id(book.scan_workspace) != block_id
    del view, third
    block_id = id(book.scan_workspace)
    fourth = scan(book, PRICES, margin=0.0)  # nothing alive: recycled, and fully rewritten
    assert id(book.scan_workspace) == block_id
    np.testing.assert_array_equal(fourth.equity, expected)


@pytest.mark.skipif(not HAVE_NUMBA, reason="the numpy backend computes the initial column in its pass")
def test_lazy_initial_and_health_match_the_numpy_pass_and_refuse_a_synced_mirror() -> None:
    """The numba kernel writes neither per-row initial requirements nor healths; both are derived on
    access, equal to the numpy pass (initial: up to summation order; health: the same division),
    and the initial column refuses once the mirror has been rewritten since the scan."""
    state = worked_state()
    book = ColumnarBook.from_state(state)
    res = scan(book, PRICES)
    ref = scan(book, PRICES, backend="numpy")
    np.testing.assert_allclose(res.initial, ref.initial, rtol=1e-15)
    assert res.initial[book.row_of["alice"]] == pytest.approx(200.0)
    np.testing.assert_array_equal(res.health, np.where(
        res.maintenance > 0, res.equity / np.where(res.maintenance > 0, res.maintenance, 1.0),
        np.where(res.equity >= 0, np.inf, -np.inf)))  # fmt: skip
    stale = scan(book, PRICES)
    add_account(state, "zed", {"USDC": -1 * E})
    book.sync(state, ["zed"])
    with pytest.raises(InvalidValue, match="synced since this scan"):
        _ = stale.initial
    assert res.initial[book.row_of["alice"]] == pytest.approx(200.0)  # cached before the sync


def _dense_reference(book: ColumnarBook, mprice: list[float], aprice: list[float]) -> list[tuple[float, ...]]:
    """(equity, maintenance, magnitude) per row the way the former dense kernel summed them: collateral
    in asset order, then every market cell in column order with inputs masked by the cross flag."""
    size, entry, snap, cross, bal = (x.tolist() for x in (book.size, book.entry, book.snapshot, book.cross,
                                                          book.balances))  # fmt: skip
    fund, mm, hc = book.funding.tolist(), book.mm_frac.tolist(), book.haircut.tolist()
    out = []
    for i in range(book.n):
        eq = mmt = mag = 0.0
        for a, b in enumerate(bal[i]):
            c = b * (aprice[a] * hc[a] if b > 0.0 else aprice[a])
            eq += c
            mag += abs(c)
        for j in range(len(book.markets)):
            cf = float(cross[i][j])
            s, e, sn = size[i][j] * cf, entry[i][j] * cf, snap[i][j] * cf
            mmr = abs(s) * (mprice[j] * mm[j])
            eq += s * mprice[j] - e - s * (fund[j] - sn)
            mmt += mmr
            mag += abs(s) * ((mprice[j] + abs(fund[j])) + abs(sn)) + abs(e) + mmr
        out.append((eq, mmt, mag))
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_sync_moves_and_compacts_rows_with_the_dense_floats(backend: str) -> None:
    """Rows that gain positions move to the end of their pool and the pools get compacted; the mirror
    stays equal to a rebuild, and the scan's floats are bit for bit those of the former dense layout
    (same terms, same order: empty cells only ever added zeros)."""
    state = worked_state()
    book = ColumnarBook.from_state(state)
    markets = ["BTC-PERP", "ETH-PERP"]
    for k in range(40):
        aid = f"p{k:02d}"
        positions = [Position(markets[k % 2], (k + 1) * E // 7, (k + 1) * 300 * E, k * RAY // 3)]
        add_account(state, aid, {"USDC": (k * 37 % 500) * E}, positions)
        book.sync(state, [aid])
    for k in range(40):  # every account opens a second market: each row outgrows its region
        acct = state.accounts[f"p{k:02d}"]
        other = markets[(k + 1) % 2]
        acct.positions[other] = Position(other, -(k + 3) * E // 11, -(k + 3) * 150 * E, 0, k % 3 == 0, 50 * E)
        book.sync(state, [acct.id, "alice"])
        assert book.equals(ColumnarBook.from_state(state))
    cp = book.cross_pool
    assert cp.end >= int(book.cross_count.sum())
    assert (cp.length[: book.n] <= cp.room[: book.n]).all()
    assert book.cross_count[book.row_of["p05"]] == 2 and book.iso_count[book.row_of["p03"]] == 1
    res = scan(book, PRICES, backend=backend)  # type: ignore[arg-type]
    fresh = scan(ColumnarBook.from_state(state), PRICES, backend=backend)  # type: ignore[arg-type]
    mprice, aprice = price_vectors(book, PRICES)
    ref = _dense_reference(book, mprice.tolist(), aprice.tolist())
    for r in (res, fresh):
        assert r.equity.tolist() == [x[0] for x in ref]
        assert r.maintenance.tolist() == [x[1] for x in ref]
        assert r.candidates == fresh.candidates and r.isolated_candidates == fresh.isolated_candidates
        np.testing.assert_array_equal(r.iso_equity, fresh.iso_equity)
        np.testing.assert_array_equal(r.tolerance, fresh.tolerance)
    assert res.iso_rows.tolist() == np.nonzero(book.isolated)[0].tolist()
    slots = np.arange(res.iso_rows.shape[0])[::-1]  # any order: sizes of the scan's isolated slots
    np.testing.assert_array_equal(
        book.isolated_sizes(res.iso_rows, slots), book.size[res.iso_rows[slots], res.iso_cols[slots]]
    )


def test_headroom_refuses_a_mirror_changed_since_the_scan() -> None:
    state = worked_state()
    book = ColumnarBook.from_state(state)
    res = scan(book, PRICES)
    assert np.isfinite(headroom_ratios(book, res)).any()
    add_account(state, "zed", {"USDC": 10 * E}, [Position("ETH-PERP", -E, -2000 * E, 0, True, 100 * E)])
    book.sync(state, ["zed"])
    with pytest.raises(InvalidValue, match="changed since this scan"):
        headroom_ratios(book, res)


def _single_pass_reference(
    book: ColumnarBook, mprice: list[float], aprice: list[float]
) -> tuple[list[float], ...]:
    """The former one-pass kernel as a plain loop: per row collateral, cross positions by column,
    tolerance and candidate test; isolated slots row-major. Returns per-row equity, maintenance and
    tolerance, candidate rows, then per slot equity, maintenance, health, tolerance, candidate slots."""
    n_m, n_a = len(book.markets), len(book.assets)
    g2, slack = 2.0 * gamma(n_m + n_a + 8), (n_a + 3 * n_m + 1) * INT_UNIT
    g2_iso, slack_iso, rel = 2.0 * gamma(10), 5 * INT_UNIT, DEFAULT_MARGIN
    fund, mm, hc = book.funding.tolist(), book.mm_frac.tolist(), book.haircut.tolist()
    bal, cp, ip = book.balances.tolist(), book.cross_pool, book.iso_pool
    out: tuple[list[float], ...] = tuple([] for _ in range(9))
    eqs, mms, tols, cand, ieqs, imms, ihs, itols, icand = out
    for i in range(book.n):
        eq = mmt = mag = 0.0
        for a in range(n_a):
            c = bal[i][a] * (aprice[a] * hc[a] if bal[i][a] > 0.0 else aprice[a])
            eq += c
            mag += abs(c)
        for pool, record in ((cp, None), (ip, ieqs)):
            lo = int(pool.start[i])
            for p in range(lo, lo + int(pool.length[i])):
                j = int(pool.col[p])
                s, e, sn = (float(x) for x in pool.vals[p, :3])
                mmr = abs(s) * (mprice[j] * mm[j])
                value = s * mprice[j] - e - s * (fund[j] - sn)
                pm = abs(s) * ((mprice[j] + abs(fund[j])) + abs(sn)) + abs(e) + mmr
                if record is None:
                    eq, mmt, mag = eq + value, mmt + mmr, mag + pm
                    continue
                mg = float(pool.vals[p, 3])
                ieq, itol = mg + value, mmr * rel + 0.0 + g2_iso * (abs(mg) + pm) + slack_iso
                if ieq < mmr + itol:
                    icand.append(len(ieqs))
                ieqs.append(ieq), imms.append(mmr), itols.append(itol)
                ihs.append(ieq / mmr if mmr > 0.0 else (math.inf if ieq >= 0.0 else -math.inf))
        t = mmt * rel + 0.0 + g2 * mag + slack
        eqs.append(eq), mms.append(mmt), tols.append(t)
        if eq < mmt + t:
            cand.append(i)
    return out


@pytest.mark.skipif(not HAVE_NUMBA, reason="the numba kernel's evaluation order")
@pytest.mark.parametrize("assets", [("USDC",), ("ETH", "USDC")])
def test_kernel_passes_give_the_single_pass_floats_bit_for_bit(assets: tuple[str, ...]) -> None:
    """The multi-pass numba kernel (collateral pass, isolated pass, gathered cross rows, candidate
    pass) returns exactly the floats and candidates of the former one-pass loop, on books
    with one collateral asset (the kernel's specialised pass) and two, zero and negative balances, rows
    without positions, with only isolated positions, and with several cross positions."""
    rng = np.random.default_rng(5)
    n, m = 1500, 6
    size = np.where(rng.random((n, m)) < 0.12, rng.normal(0.0, 5.0, (n, m)), 0.0)
    px = np.linspace(10.0, 3000.0, m)
    iso = (rng.random((n, m)) < 0.04) & (rng.random((n, m)) < 0.8)
    bal = np.where(rng.random((n, len(assets))) < 0.2, 0.0, rng.random((n, len(assets))) * 3_000.0 - 600.0)
    book = ColumnarBook.from_arrays(
        markets=tuple(f"M{i}-PERP" for i in range(m)), oracles=tuple(f"M{i}" for i in range(m)),
        assets=assets, settlement="USDC", im_frac=np.full(m, 0.1), mm_frac=np.full(m, 0.05),
        funding=rng.normal(0.0, 1.0, m), haircut=np.linspace(0.9, 1.0, len(assets)), size=size,
        entry=size * px * (1.0 + rng.normal(0.0, 0.05, (n, m))),
        snapshot=rng.normal(0.0, 1.0, (n, m)) * (size != 0),
        margin=np.where(iso, np.abs(size) * px * 0.1 + 1.0, 0.0), isolated=iso, balances=bal,
    )  # fmt: skip
    prices = np.array([2000.0 if k == "ETH" else px[int(k[1:])] for k in price_keys(book)])
    mprice, aprice = price_vectors(book, prices)
    eqs, mms, tols, cand, ieqs, imms, ihs, itols, icand = _single_pass_reference(
        book, mprice.tolist(), aprice.tolist()
    )
    assert len(cand) > 20 and len(icand) > 5 and (book.cross_count >= 2).sum() > 20
    res = scan(book, prices, backend="numba")
    for got, want in ((res.equity, eqs), (res.maintenance, mms), (res.tolerance, tols),
                      (res.iso_equity, ieqs), (res.iso_maintenance, imms), (res.iso_health, ihs),
                      (res.iso_tolerance, itols)):  # fmt: skip
        assert got.tobytes() == np.array(want, dtype=np.float64).tobytes()
    assert sorted(res.candidate_rows.tolist()) == cand
    assert sorted(res.isolated_candidate_slots.tolist()) == icand


@pytest.mark.skipif(not HAVE_NUMBA, reason="the numba wrapper's isolated-slot count")
def test_a_wrong_isolated_slot_count_is_corrected_not_trusted() -> None:
    """The kernel checks the number of isolated slots it is given: a wrong hint (0 for a book that
    holds isolated positions, or too many) is retried with the exact count, never written past."""
    from clearhouse.risk.scan import _bounds, _kernel_numba, mirror_arrays

    book = ColumnarBook.from_state(worked_state())
    mprice, aprice = price_vectors(book, PRICES)
    args = (mirror_arrays(book), mprice, book.funding, book.im_frac, book.mm_frac, aprice, book.haircut,
            DEFAULT_MARGIN, 0.0, *_bounds(len(book.markets), len(book.assets)))  # fmt: skip
    exact = _kernel_numba(*args)
    assert exact[5].shape == (1,)  # erin's isolated BTC position
    for hint in (0, 5):
        got = _kernel_numba(*args, iso_slots_hint=hint)
        for x, y in zip(got, exact, strict=True):
            assert (x is None and y is None) or np.asarray(x).tobytes() == np.asarray(y).tobytes()
