"""Exact risk views, in integers, on top of :mod:`clearhouse.ledger.margin`.

All values are WAD integers. Ratios (health, leverage, skew) are WAD fractions rounded down, ``None``
where the denominator is zero or not positive. Nothing here mutates the ledger.

Liquidation price of a position (moving the price of the market's oracle key, with everything else
fixed -- this also moves collateral priced by the same key and other markets on the same key):

* **exact** (``method="exact"``): the account's cross bucket holds exactly one position and no collateral
  priced by the oracle key. Then ``E(P) - MM(P)`` equals the linear ``g(P) = D + a P`` up to integer
  rounding in ``(-2, 0]`` units, so ``g(P) < 0`` guarantees liquidation and ``g(P) >= 2`` guarantees
  safety. Both roots are computed exactly with integer division, and an integer bisection on the exact
  predicate between them returns a *crossing point*: for a long the price ``P`` with ``E(P) < MM(P)`` and
  ``E(P+1) >= MM(P+1)``; for a short the ``P`` with ``E(P) < MM(P)`` and ``E(P-1) >= MM(P-1)``.
  The bracket is at most ``2 / a + 1`` wide, so for sizes above ~1e-15 base units the crossing is unique.
* **bisection** (``method="bisection"``, every other case, including isolated positions through
  :func:`isolated_liquidation_price` when there is more than one term): starting from the current
  price, a downward crossing in ``[1, P_now]`` and an upward crossing in ``[P_now, 2^200]`` (found by
  doubling) located by integer bisection on the exact predicate. Each result is a crossing point as
  above; if the exact health is not monotone in P (e.g. collateral in the same asset as a short), it is
  *a* crossing, not necessarily the nearest one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from clearhouse.core.errors import UnknownAccount, UnknownMarket
from clearhouse.core.fixedpoint import WAD, WAD2, mul_div_up
from clearhouse.ledger.margin import (
    MarginSummary,
    PriceLookup,
    collateral_value,
    cross_summary,
    fresh_price_lookup,
    funding_owed,
    isolated_summary,
)
from clearhouse.ledger.model import Account, LedgerState, Position

#: Upper end of the upward liquidation-price search.
MAX_SEARCH_PRICE = 2**200


@dataclass(frozen=True, slots=True)
class AccountRisk:
    """Exact margin of one bucket (cross account or isolated position) at the given prices."""

    account: str
    market: str | None  # None for the cross bucket
    equity: int
    initial: int
    maintenance: int
    #: Sum of |size| x price (rounded down) over the bucket's positions.
    notional: int
    #: equity / maintenance (WAD, rounded down); None when nothing is required.
    health: int | None
    #: notional / equity (WAD, rounded down); None when equity <= 0.
    leverage: int | None
    liquidatable: bool


@dataclass(frozen=True, slots=True)
class LiquidationPrice:
    """Crossing prices (WAD) of the position's oracle key below / above the current price."""

    account: str
    market: str
    lower: int | None
    upper: int | None
    method: Literal["exact", "bisection"]


@dataclass(frozen=True, slots=True)
class MarketRisk:
    market: str
    open_interest: int
    long_size: int
    short_size: int
    long_notional: int
    short_notional: int
    long_accounts: int
    short_accounts: int
    #: (long_accounts - short_accounts) / (long_accounts + short_accounts), WAD; sizes always net to zero.
    account_skew: int | None


@dataclass(frozen=True, slots=True)
class HealthDistribution:
    """Notional of buckets by distance to liquidation, ``buffer = (equity - MM) / notional``.

    Cumulative: ``within_10`` includes ``within_5`` which includes ``liquidatable``.
    """

    total_notional: int
    liquidatable: int
    within_5: int
    within_10: int
    within_20: int
    buckets: int


def _lookup(state: LedgerState, price_of: PriceLookup | None) -> PriceLookup:
    return price_of if price_of is not None else fresh_price_lookup(state)


def _account(state: LedgerState, account_id: str) -> Account:
    acct = state.accounts.get(account_id)
    if acct is None:
        raise UnknownAccount(f"unknown account {account_id!r}")
    return acct


def _risk(account: str, market: str | None, m: MarginSummary, notional: int) -> AccountRisk:
    leverage = notional * WAD // m.equity if m.equity > 0 else None
    return AccountRisk(
        account, market, m.equity, m.initial, m.maintenance, notional, m.health, leverage, m.liquidatable
    )


def _notional(state: LedgerState, positions: list[Position], price_of: PriceLookup) -> int:
    return sum(abs(p.size) * price_of(state.markets[p.market].spec.oracle) // WAD for p in positions)


def account_risk(state: LedgerState, account_id: str, price_of: PriceLookup | None = None) -> AccountRisk:
    """Exact risk of the account's cross bucket."""
    prices = _lookup(state, price_of)
    acct = _account(state, account_id)
    cross = [p for p in acct.positions.values() if not p.isolated and p.size != 0]
    return _risk(account_id, None, cross_summary(state, acct, prices), _notional(state, cross, prices))


def isolated_risk(
    state: LedgerState, account_id: str, market: str, price_of: PriceLookup | None = None
) -> AccountRisk:
    """Exact risk of one isolated position."""
    prices = _lookup(state, price_of)
    pos = _account(state, account_id).positions.get(market)
    if pos is None or not pos.isolated:
        raise UnknownMarket(f"account {account_id} has no isolated position in {market!r}")
    return _risk(account_id, market, isolated_summary(state, pos, prices), _notional(state, [pos], prices))


# -- liquidation price ----------------------------------------------------------------------------


def _with_price(base: PriceLookup, key: str, price: int) -> PriceLookup:
    def lookup(k: str) -> int:
        return price if k == key else base(k)

    return lookup


def _bisect(liq: Callable[[int], bool], good: int, bad: int) -> int:
    """Given ``not liq(good)`` and ``liq(bad)``, return a ``bad'`` adjacent to a ``good'`` (|diff| = 1)."""
    while abs(bad - good) > 1:
        mid = (good + bad) // 2
        if liq(mid):
            bad = mid
        else:
            good = mid
    return bad


def liquidation_price(
    state: LedgerState,
    account_id: str,
    market: str,
    price_of: PriceLookup | None = None,
    *,
    method: Literal["auto", "exact", "bisection"] = "auto",
) -> LiquidationPrice:
    """Liquidation price(s) of the position in ``market`` (cross or isolated; see the module doc)."""
    prices = _lookup(state, price_of)
    acct = _account(state, account_id)
    pos = acct.positions.get(market)
    if pos is None or pos.size == 0:
        raise UnknownMarket(f"account {account_id} has no open position in {market!r}")
    mstate = state.markets[market]
    key = mstate.spec.oracle

    def liq(price: int) -> bool:
        at = _with_price(prices, key, price)
        summary = isolated_summary(state, pos, at) if pos.isolated else cross_summary(state, acct, at)
        return summary.liquidatable

    others = [p for p in acct.positions.values() if not p.isolated and p.size != 0 and p is not pos]
    collateral_keyed = any(a == key and b != 0 for a, b in acct.balances.items())
    single = pos.isolated or (not others and not collateral_keyed)
    if method == "exact" or (method == "auto" and single):
        if not single:
            raise UnknownMarket(f"exact liquidation price needs a single-position bucket ({account_id})")
        return _exact(state, acct, pos, prices, liq)
    return _general(account_id, market, prices(key), liq)


def _exact(
    state: LedgerState, acct: Account, pos: Position, prices: PriceLookup, liq: Callable[[int], bool]
) -> LiquidationPrice:
    mstate = state.markets[pos.market]
    mm = mstate.spec.maintenance_margin
    base = pos.margin if pos.isolated else collateral_value(acct.balances, state, prices)
    d = base - pos.entry_value - funding_owed(pos, mstate.funding_index)
    s = pos.size
    if s > 0:
        # g(P) = d + P s (W - mm) / W^2; liquidatable for sure iff g < 0, safe for sure iff g >= 2.
        denom = s * (WAD - mm)
        p_bad = (-d * WAD2 - 1) // denom  # largest P with g(P) < 0
        p_good = mul_div_up(2 - d, WAD2, denom)  # smallest P with g(P) >= 2
        p_bad = max(p_bad, 1)
        p_good = max(p_good, p_bad + 1)
        if not liq(p_bad):
            return LiquidationPrice(acct.id, pos.market, None, None, "exact")
        return LiquidationPrice(acct.id, pos.market, _bisect(liq, p_good, p_bad), None, "exact")
    # short: g(P) = d - P |s| (W + mm) / W^2
    denom = -s * (WAD + mm)
    p_bad = d * WAD2 // denom + 1  # smallest P with g(P) < 0
    p_good = (d - 2) * WAD2 // denom  # largest P with g(P) >= 2
    p_bad = max(p_bad, 1)
    if p_good < 1:
        upper = 1 if liq(1) else _bisect(liq, 1, p_bad)
        return LiquidationPrice(acct.id, pos.market, None, upper, "exact")
    return LiquidationPrice(acct.id, pos.market, None, _bisect(liq, p_good, p_bad), "exact")


def _general(account_id: str, market: str, now: int, liq: Callable[[int], bool]) -> LiquidationPrice:
    if liq(now):
        # Already liquidatable: find safe prices above / below and the crossings next to them.
        lower = upper = None
        probe = now
        while probe < MAX_SEARCH_PRICE:
            probe = min(probe * 2, MAX_SEARCH_PRICE)
            if not liq(probe):
                lower = _bisect(liq, probe, now)
                break
        probe = now
        while probe > 1:
            probe //= 2
            if not liq(probe):
                upper = _bisect(liq, probe, now)
                break
        return LiquidationPrice(account_id, market, lower, upper, "bisection")
    lower = _bisect(liq, now, 1) if liq(1) else None
    upper = None
    probe = now
    while probe < MAX_SEARCH_PRICE:
        probe = min(probe * 2, MAX_SEARCH_PRICE)
        if liq(probe):
            upper = _bisect(liq, now, probe)
            break
    return LiquidationPrice(account_id, market, lower, upper, "bisection")


# -- book-wide views ------------------------------------------------------------------------------


def market_risk(state: LedgerState, price_of: PriceLookup | None = None) -> dict[str, MarketRisk]:
    """Open interest and long/short split per market (markets and accounts in id order)."""
    prices = _lookup(state, price_of)
    out: dict[str, MarketRisk] = {}
    for mid in sorted(state.markets):
        ms = state.markets[mid]
        price = prices(ms.spec.oracle)
        ls = ss = ln = sn = la = sa = 0
        for aid in sorted(state.accounts):
            pos = state.accounts[aid].positions.get(mid)
            if pos is None or pos.size == 0:
                continue
            if pos.size > 0:
                ls += pos.size
                ln += pos.size * price // WAD
                la += 1
            else:
                ss -= pos.size
                sn += -pos.size * price // WAD
                sa += 1
        skew = (la - sa) * WAD // (la + sa) if la + sa else None
        out[mid] = MarketRisk(mid, ms.open_interest, ls, ss, ln, sn, la, sa, skew)
    return out


def health_distribution(state: LedgerState, price_of: PriceLookup | None = None) -> HealthDistribution:
    """Notional by distance to liquidation over every cross bucket and isolated position."""
    prices = _lookup(state, price_of)
    total = liq = w5 = w10 = w20 = buckets = 0
    for aid in sorted(state.accounts):
        acct = state.accounts[aid]
        risks = [account_risk(state, aid, prices)]
        risks += [
            isolated_risk(state, aid, m, prices)
            for m in sorted(acct.positions)
            if acct.positions[m].isolated and acct.positions[m].size != 0
        ]
        for r in risks:
            if r.notional == 0:
                continue
            buckets += 1
            total += r.notional
            buffer = r.equity - r.maintenance
            liq += r.notional if buffer < 0 else 0
            w5 += r.notional if buffer * 100 < 5 * r.notional else 0
            w10 += r.notional if buffer * 100 < 10 * r.notional else 0
            w20 += r.notional if buffer * 100 < 20 * r.notional else 0
    return HealthDistribution(total, liq, w5, w10, w20, buckets)
