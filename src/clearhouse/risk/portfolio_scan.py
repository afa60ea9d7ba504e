"""Portfolio-margin screen: every options account revalued over the whole scenario grid at once, in
float64, with a per-account error bound so that it never misses an account the exact check would
liquidate ("fast scan, exact enforce", as :mod:`clearhouse.risk.scan` for perps).

The exact authority is :func:`clearhouse.options.portfolio_margin.portfolio_margin` (integers, one
account at a time, ~0.1-0.3 ms each). The screen computes, for all accounts of one underlying in one
pass (scipy CSR product or a fused numba kernel),

    P_s   = sum_legs size * (value_s - mark) + lin * shock_s           (lin = sum size * price, perps)
    MM    = max(max_s w_s * max(-P_s, 0) + spot * c * net_short,  spot * m * short_total)
    E     = cash + sum_legs size * mark

and nominates every account with ``E_hat < MM_hat (1 + margin) + tol``; :func:`enforce` re-checks the
nominees exactly and orders each liquidatable account's legs riskiest first (reusing
:func:`~clearhouse.options.portfolio_margin.riskiest_legs`).

**Error bound** (derivation in ``docs/portfolio-margin.md``; ``u = 2^-53``, ``gamma_k = k u/(1 - k u)``).
Every stored float is one correctly rounded conversion of an exact integer (Python ``int / int``); with
at most ``L`` legs per account every expression has depth ``<= L + 9``, so with ``k = L + 16``::

    |E_hat - E| + |MM_hat - MM| <= gamma_k * T
    T = |cash| + sum_legs |size| (max_s |value_s| + 2 |mark|) + |lin| max_s |shock_s|
        + spot (c * net_short + m * short_total)

(``max`` and ``max(., 0)`` are 1-Lipschitz and the weights are <= 1, so the per-scenario bounds carry
through the worst-case selection). The exact path rounds in the protocol's favour by at most one unit
(1e-18) per rounding: ``E_int >= E - 1`` (one floor of the marks), ``MM_int <= MM + 2`` (ceilings of
the worst loss and of the larger add-on). So ``E_int < MM_int`` implies ``E_hat < MM_hat + gamma_k T +
3e-18``; the screen uses ``2 gamma_k T_hat + 4e-18`` (the factor 2 covers ``T_hat`` and the right-hand
side being floats themselves).

**Equity.** An options account's equity is ``cash`` (everything the engine counts besides the options:
collateral after haircuts, perp unrealised P&L and funding, exact integers) plus its options at the
table's marks, floored once: :func:`exact_equity`. Linear legs (perps, dated futures on the same
underlying) enter the grid as ``size * price * shock``, exactly as in ``portfolio_margin``.

One book covers one underlying's :class:`~clearhouse.options.portfolio_margin.ScenarioTable`; an
account with options on several underlyings needs one book per underlying and the requirements add.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import msgspec
import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from clearhouse.ledger.errors import InvalidParameters, InvalidValue
from clearhouse.ledger.fixedpoint import WAD, check_range
from clearhouse.options.portfolio_margin import (
    GridSpec,
    MarginResult,
    Portfolio,
    ScenarioTable,
    portfolio_margin,
    riskiest_legs,
    short_exposure,
)
from clearhouse.risk.scan import DEFAULT_MARGIN, INT_UNIT, gamma

try:  # numba is an optional dependency (extra "fast")
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    HAVE_NUMBA = False

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Backend = Literal["auto", "numba", "numpy"]

#: Depth of every expression beyond the per-account leg count (see the module doc: L + 9 needed).
DEPTH_EXTRA = 16
#: Integer rounding of the exact path, in units of 1e-18: E floors once, MM ceils twice, + 1 spare.
INT_SLACK_UNITS = 4


class OptionsAccount(msgspec.Struct, frozen=True):
    """An account as the portfolio-margin check sees it.

    ``cash``: quote WAD the engine counts in equity besides the options (collateral after haircuts,
    perp unrealised P&L net of funding), exact; ``portfolio``: its option and linear legs on one
    underlying.
    """

    id: str
    cash: int
    portfolio: Portfolio


class ExactCheck(msgspec.Struct, frozen=True):
    equity: int
    margin: MarginResult
    liquidatable: bool


def exact_equity(table: ScenarioTable, account: OptionsAccount) -> int:
    """``cash + floor(sum size * mark / WAD)`` (one floor: the protocol's favour)."""
    check_range(account.cash, "cash")
    marks = sum(p.size * table.row(p.instrument).mark for p in account.portfolio.options)
    return account.cash + marks // WAD


def exact_check(spec: GridSpec, table: ScenarioTable, account: OptionsAccount) -> ExactCheck:
    """The exact integer verdict: liquidatable when ``equity < maintenance``."""
    eq = exact_equity(table, account)
    res = portfolio_margin(spec, table, account.portfolio)
    return ExactCheck(eq, res, eq < res.maintenance)


# -- the columnar book ----------------------------------------------------------------------------


def _position_aggregates(table: ScenarioTable, portfolio: Portfolio) -> tuple[int, int, int]:
    """Exact (linear notional sum size*price in WAD^2, net short over (expiry, strike), total short)."""
    lin = 0
    for p in portfolio.linear:
        check_range(p.size, "size")
        lin += p.size * p.price
    net_short, short_total = short_exposure(table, portfolio)
    return lin, net_short, short_total


def _convert(
    table: ScenarioTable, accounts: Sequence[OptionsAccount]
) -> tuple[I64, I64, F64, tuple[F64, F64, F64, F64]]:
    """Per account: leg count, legs (column, float size), and (cash, lin, net_short, short_total)."""
    col = {row.instrument: j for j, row in enumerate(table.options)}
    counts: list[int] = []
    indices: list[int] = []
    sizes: list[float] = []
    cash, lin, net_short, short_total = [], [], [], []
    for acct in accounts:
        pf = acct.portfolio
        for o in pf.options:
            check_range(o.size, "size")
            indices.append(col[table.row(o.instrument).instrument])
            sizes.append(o.size / WAD)
        counts.append(len(pf.options))
        check_range(acct.cash, "cash")
        lin_i, ns, st = _position_aggregates(table, pf)
        cash.append(acct.cash / WAD)
        lin.append(lin_i / (WAD * WAD))
        net_short.append(ns / WAD)
        short_total.append(st / WAD)
    scalars = tuple(np.array(v, dtype=np.float64) for v in (cash, lin, net_short, short_total))
    return (
        np.array(counts, dtype=np.int64),
        np.array(indices, dtype=np.int64),
        np.array(sizes, dtype=np.float64),
        (scalars[0], scalars[1], scalars[2], scalars[3]),
    )


@dataclass
class PortfolioBook:
    """Float64 mirror of the options accounts of one underlying: legs in CSR form, per-account scalars.

    Columns are the table's option rows (sorted ids). Every float is ``int / WAD`` (correctly rounded).
    Positions change rarely compared to prices: build once, :meth:`update` the rows of touched accounts
    (e.g. the engine's per-block touched set; a superset is fine).
    """

    instruments: tuple[str, ...]
    account_ids: list[str]
    indptr: I64
    indices: I64
    sizes: F64
    cash: F64
    lin: F64
    net_short: F64
    short_total: F64
    max_legs: int
    _table_cache: tuple[ScenarioTable, tuple[F64, F64, F64, F64, F64, F64, float]] | None = field(
        default=None, repr=False
    )

    @property
    def n(self) -> int:
        return len(self.account_ids)

    @cached_property
    def id_array(self) -> NDArray[np.object_]:
        return np.array(self.account_ids, dtype=object)

    @classmethod
    def from_accounts(cls, table: ScenarioTable, accounts: Sequence[OptionsAccount]) -> PortfolioBook:
        """Build the mirror of ``accounts`` (rows in the given order, ids unique)."""
        instruments = tuple(r.instrument for r in table.options)
        counts, indices, sizes, scalars = _convert(table, accounts)
        ids = [a.id for a in accounts]
        if len(set(ids)) != len(ids):
            raise InvalidValue("portfolio book: account ids must be unique")
        indptr = np.zeros(len(accounts) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(
            instruments, ids, indptr, indices, sizes, *scalars, int(counts.max(initial=0))
        )

    def update(self, table: ScenarioTable, accounts: Sequence[OptionsAccount]) -> None:
        """Replace the rows of ``accounts`` already in the book, append the others (in the given order).

        Python work only for the touched accounts; the leg arrays are spliced with a fixed number of
        numpy calls (O(legs in the book)). The result equals :meth:`from_accounts` on the merged list
        (tested).
        """
        if tuple(r.instrument for r in table.options) != self.instruments:
            raise InvalidParameters("portfolio book: the table lists other options: rebuild the book")
        ids = [a.id for a in accounts]
        if len(set(ids)) != len(ids):
            raise InvalidValue("portfolio book: account ids must be unique")
        row_of = self.row_of
        new_ids = [i for i in ids if i not in row_of]
        n_old, n_new = self.n, self.n + len(new_ids)
        rows = np.array([row_of.get(i, -1) for i in ids], dtype=np.int64)
        rows[rows < 0] = np.arange(n_old, n_new, dtype=np.int64)
        counts, indices, sizes, scalars = _convert(table, accounts)
        old_counts = np.diff(self.indptr)
        old_leg_rows = np.repeat(np.arange(n_old, dtype=np.int64), old_counts)
        touched = np.zeros(n_new, dtype=np.bool_)
        touched[rows] = True
        keep = ~touched[old_leg_rows]
        leg_rows = np.concatenate([old_leg_rows[keep], np.repeat(rows, counts)])
        order = np.argsort(leg_rows, kind="stable")  # kept legs first, each row's new legs in order
        self.indices = np.concatenate([self.indices[keep], indices])[order]
        self.sizes = np.concatenate([self.sizes[keep], sizes])[order]
        per_row = np.bincount(leg_rows, minlength=n_new)
        self.indptr = np.zeros(n_new + 1, dtype=np.int64)
        np.cumsum(per_row, out=self.indptr[1:])
        for name, values in zip(("cash", "lin", "net_short", "short_total"), scalars, strict=True):
            col = np.concatenate([getattr(self, name), np.zeros(n_new - n_old)])
            col[rows] = values
            setattr(self, name, col)
        self.account_ids.extend(new_ids)
        self.max_legs = int(per_row.max(initial=0))
        for cached in ("matrix", "abs_matrix", "id_array"):
            self.__dict__.pop(cached, None)
        for i, ident in enumerate(new_ids):
            row_of[ident] = n_old + i

    @cached_property
    def row_of(self) -> dict[str, int]:
        return {ident: i for i, ident in enumerate(self.account_ids)}

    @cached_property
    def matrix(self) -> sparse.csr_matrix:
        """The legs as an (accounts x instruments) CSR matrix (duplicates add, as in the exact path)."""
        return sparse.csr_matrix(
            (self.sizes, self.indices, self.indptr), shape=(self.n, len(self.instruments))
        )

    @cached_property
    def abs_matrix(self) -> sparse.csr_matrix:
        return sparse.csr_matrix(
            (np.abs(self.sizes), self.indices, self.indptr), shape=(self.n, len(self.instruments))
        )

    def table_arrays(self, table: ScenarioTable) -> tuple[F64, F64, F64, F64, F64, F64, float]:
        """(value − mark (I × S), mark, magnitude max|value| + 2|mark|, shocks, weights, |shock| max,
        spot) in WAD units, converted once per table (cached on identity)."""
        cached = self._table_cache
        if cached is not None and cached[0] is table:
            return cached[1]
        if tuple(r.instrument for r in table.options) != self.instruments:
            raise InvalidParameters(
                f"scenario table {table.underlying!r} lists other options than this book: rebuild it"
            )
        s_count = len(table.scenarios)
        values = np.array(
            [v / WAD for r in table.options for v in r.values], dtype=np.float64
        ).reshape(len(table.options), s_count)
        mark = np.array([r.mark / WAD for r in table.options], dtype=np.float64)
        diff = np.ascontiguousarray(values - mark[:, None])
        vmax = np.abs(values).max(axis=1) if s_count else np.zeros(len(mark))
        mag = vmax + 2.0 * np.abs(mark)
        shock = np.array([s.spot_shock / WAD for s in table.scenarios], dtype=np.float64)
        weight = np.array([s.weight / WAD for s in table.scenarios], dtype=np.float64)
        shock_max = np.array([float(np.abs(shock).max())])
        out = (diff, mark, mag, shock, weight, shock_max, table.spot / WAD)
        self._table_cache = (table, out)
        return out


# -- kernels ----------------------------------------------------------------------------------------

KernelOut = tuple[F64, F64, F64, I64, I64]


def _kernel_numpy(
    book: PortfolioBook, diff: F64, mark: F64, mag: F64, shock: F64, weight: F64, shock_max: float,
    cont: float, smin: float, rel: float, g2: float, slack: float,
) -> KernelOut:  # fmt: skip
    pnl = np.asarray(book.matrix @ diff)
    pnl += np.outer(book.lin, shock)
    np.negative(pnl, out=pnl)
    np.maximum(pnl, 0.0, out=pnl)
    pnl *= weight
    if pnl.shape[1]:
        worst = pnl.argmax(axis=1)
        scan = pnl[np.arange(book.n), worst]
    else:
        worst, scan = np.zeros(book.n, dtype=np.int64), np.zeros(book.n)
    c = cont * book.net_short
    m = smin * book.short_total
    maint = np.maximum(scan + c, m)
    equity = book.cash + np.asarray(book.matrix @ mark)
    t = np.abs(book.cash) + np.asarray(book.abs_matrix @ mag) + np.abs(book.lin) * shock_max + c + m
    tol = maint * rel + g2 * t + slack
    return equity, maint, tol, np.where(scan > 0.0, worst, -1), np.flatnonzero(equity < maint + tol)


if HAVE_NUMBA:

    @njit(cache=True, error_model="numpy", nogil=True)
    def _kernel_numba_into(
        indptr: I64, indices: I64, sizes: F64, cash: F64, lin: F64, net_short: F64, short_total: F64,
        diff: F64, mark: F64, mag: F64, shock: F64, weight: F64, shock_max: float,
        cont: float, smin: float, rel: float, g2: float, slack: float,
        equity: F64, maint: F64, tol: F64, worst: I64, cand: I64,
    ) -> int:  # fmt: skip
        """One pass per account: the whole grid in a scratch row (in L1), then loss, add-ons, bound."""
        n = cash.shape[0]
        s_count = shock.shape[0]
        pnl = np.empty(s_count)
        nc = 0
        for i in range(n):
            li = lin[i]
            for s in range(s_count):
                pnl[s] = li * shock[s]
            eo = 0.0
            t = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                z = sizes[p]
                for s in range(s_count):
                    pnl[s] += z * diff[j, s]
                eo += z * mark[j]
                t += abs(z) * mag[j]
            scan = 0.0
            w = -1
            for s in range(s_count):
                loss = -pnl[s]
                if loss > 0.0:
                    loss *= weight[s]
                    if loss > scan:
                        scan = loss
                        w = s
            c = cont * net_short[i]
            m = smin * short_total[i]
            mm = max(scan + c, m)
            eq = cash[i] + eo
            t += abs(cash[i]) + abs(li) * shock_max + c + m
            tl = mm * rel + g2 * t + slack
            equity[i] = eq
            maint[i] = mm
            tol[i] = tl
            worst[i] = w
            if eq < mm + tl:
                cand[nc] = i
                nc += 1
        return nc


def _kernel_numba(
    book: PortfolioBook, diff: F64, mark: F64, mag: F64, shock: F64, weight: F64, shock_max: float,
    cont: float, smin: float, rel: float, g2: float, slack: float,
) -> KernelOut:  # fmt: skip
    n = book.n
    equity, maint, tol = np.empty(n), np.empty(n), np.empty(n)
    worst, cand = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    nc = _kernel_numba_into(
        book.indptr, book.indices, book.sizes, book.cash, book.lin, book.net_short, book.short_total,
        diff, mark, mag, shock, weight, shock_max, cont, smin, rel, g2, slack,
        equity, maint, tol, worst, cand,
    )  # fmt: skip
    return equity, maint, tol, worst, cand[:nc].copy()


# -- screen -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortfolioScreen:
    """Float view of every account (book row order) and the candidates, lowest health first."""

    equity: F64
    maintenance: F64
    health: F64
    tolerance: F64
    #: Float worst scenario per account (-1: no scenario loses); the exact one decides enforcement.
    worst_scenario: I64
    candidate_rows: I64
    backend: str
    id_array: NDArray[np.object_] = field(repr=False)

    @cached_property
    def candidates(self) -> tuple[str, ...]:
        return tuple(self.id_array[self.candidate_rows].tolist())


def tolerance_terms(book: PortfolioBook, margin: float) -> tuple[float, float, float]:
    """(relative margin, 2 gamma_k, integer slack) of the candidate test (module doc)."""
    if not (0.0 <= margin < 1.0):
        raise InvalidValue(f"margin must be in [0, 1), got {margin}")
    return margin, 2.0 * gamma(book.max_legs + DEPTH_EXTRA), INT_SLACK_UNITS * INT_UNIT


def screen(
    book: PortfolioBook,
    spec: GridSpec,
    table: ScenarioTable,
    *,
    margin: float = DEFAULT_MARGIN,
    backend: Backend = "auto",
) -> PortfolioScreen:
    """Revalue every account of ``book`` over ``table`` (built for ``spec``) and nominate candidates.

    Never misses an account with ``exact_check(...).liquidatable`` (module doc); false positives are
    accounts within the tolerance of their boundary.
    """
    if tuple(table.scenarios) != spec.scenarios():
        raise InvalidParameters(
            f"scenario table {table.underlying!r} was not built for {type(spec).__name__}"
        )
    if backend == "auto":
        backend = "numba" if HAVE_NUMBA else "numpy"
    if backend == "numba" and not HAVE_NUMBA:
        raise InvalidValue("backend 'numba' requested but numba is not installed (extra 'fast')")
    if backend not in ("numba", "numpy"):
        raise InvalidValue(f"unknown backend {backend!r}")
    diff, mark, mag, shock, weight, shock_max, spot = book.table_arrays(table)
    cont = spot * (spec.contingency_rate / WAD)
    smin = spot * (spec.short_option_minimum_rate / WAD)
    rel, g2, slack = tolerance_terms(book, margin)
    kernel = _kernel_numba if backend == "numba" else _kernel_numpy
    equity, maint, tol, worst, cand = kernel(
        book, diff, mark, mag, shock, weight, float(shock_max[0]), cont, smin, rel, g2, slack
    )
    positive = maint > 0.0
    health = np.where(
        positive, equity / np.where(positive, maint, 1.0), np.where(equity >= 0.0, np.inf, -np.inf)
    )
    order = cand[np.argsort(health[cand], kind="stable")]
    return PortfolioScreen(equity, maint, health, tol, worst, order, backend, book.id_array)


# -- enforcement ------------------------------------------------------------------------------------


class Liquidatable(msgspec.Struct, frozen=True):
    """An account the exact check finds below maintenance, with its legs in closing order."""

    account: str
    equity: int
    margin: MarginResult
    #: (instrument, exact P&L in the worst scenario, WAD³), riskiest first; when no scenario loses
    #: (an add-on binds) the short option legs, largest short first.
    legs: tuple[tuple[str, int], ...]


def closing_order(
    table: ScenarioTable, account: OptionsAccount, result: MarginResult
) -> tuple[tuple[str, int], ...]:
    """Riskiest legs first: largest contribution to the worst scenario (``riskiest_legs``)."""
    if result.worst_scenario >= 0:
        return tuple(riskiest_legs(table, account.portfolio, result.worst_scenario))
    shorts = sorted((o.size, o.instrument) for o in account.portfolio.options if o.size < 0)
    return tuple((name, size) for size, name in shorts)


def enforce(
    spec: GridSpec,
    table: ScenarioTable,
    accounts: Sequence[OptionsAccount],
    result: PortfolioScreen,
) -> list[Liquidatable]:
    """Exact check of the screen's candidates only (``accounts`` in book row order), most underwater
    first as the screen ordered them; returns the liquidatable ones with their closing order."""
    out = []
    for row in result.candidate_rows.tolist():
        acct = accounts[row]
        check = exact_check(spec, table, acct)
        if check.liquidatable:
            legs = closing_order(table, acct, check.margin)
            out.append(Liquidatable(acct.id, check.equity, check.margin, legs))
    return out


def warm_up() -> None:
    """Compile or load the cached numba kernel (a no-op without numba)."""
    if not HAVE_NUMBA:
        return
    from clearhouse.options.instruments import OptionKind
    from clearhouse.options.portfolio_margin import OptionPosition, OptionRow, Span16

    spec = Span16()
    scen = spec.scenarios()
    row = OptionRow("a", OptionKind.CALL, WAD, 10**6, WAD // 10, (WAD // 10,) * len(scen))
    table = ScenarioTable("X", WAD, 0, scen, (row,))
    accounts = [OptionsAccount("w", WAD, Portfolio((OptionPosition("a", -WAD),)))]
    book = PortfolioBook.from_accounts(table, accounts)
    screen(book, spec, table, backend="numba")
