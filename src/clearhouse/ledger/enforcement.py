"""Step 4 of a block: find accounts below maintenance, confirm exactly, order, cap, enforce.

The engine asks a :class:`CandidateScanner` (a port) for a *superset* of the accounts that may be
below maintenance. Any scanner that never misses gives the same result, because the exact integer
check decides and the order is derived from exact healths only: the pure-Python :class:`ExactScanner`
(the reference, used by replay) and the vectorised columnar scan in :mod:`clearhouse.risk.scanner`
are interchangeable. Candidates are ordered most underwater first with a deterministic rotation so no
account starves, and at most ``max_liquidations_per_block`` are acted on per block (dYdX uses 50).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol, TypeVar

from clearhouse.core.errors import MissingPrice, StalePrice
from clearhouse.core.fixedpoint import WAD
from clearhouse.ledger.margin import (
    MarginSummary,
    MarginTable,
    PriceLookup,
    cross_summary,
    fresh_price_lookup,
    isolated_summary,
    make_summary,
)
from clearhouse.ledger.margin_models import FixedMargin
from clearhouse.ledger.model import Account, LedgerState
from clearhouse.liquidation.vault import AaveLiquidation, projected_rate, spot

#: A liquidation target: (account, None) for the cross bucket, (account, market) for an isolated one.
Target = tuple[str, str | None]


class CandidateScanner(Protocol):
    """Returns a superset of the targets below maintenance at the state's current prices."""

    def candidates(self, state: LedgerState, touched: Collection[str]) -> Sequence[Target]: ...


class ExactScanner:
    """Every account with positions, exact integers: O(accounts) Python, the reference scanner."""

    def candidates(self, state: LedgerState, touched: Collection[str]) -> Sequence[Target]:
        price_of = fresh_price_lookup(state)
        found: list[Target] = []
        for aid in sorted(state.accounts):
            account = state.accounts[aid]
            if not account.positions:
                continue
            try:
                has_cross = any(not p.isolated and p.size for p in account.positions.values())
                if has_cross and cross_summary(state, account, price_of).liquidatable:
                    found.append((aid, None))
                for mid in sorted(account.positions):
                    pos = account.positions[mid]
                    if pos.isolated and pos.size and isolated_summary(state, pos, price_of).liquidatable:
                        found.append((aid, mid))
            except (MissingPrice, StalePrice):
                continue  # nothing can be enforced without a fresh price
        return found


@dataclass(frozen=True, slots=True)
class Confirmed:
    target: Target
    equity: int
    maintenance: int
    #: The exact summary's initial requirement and the committed account it was computed from (see
    #: :func:`still_valid`); with ``equity`` and ``maintenance`` they are the bucket's summary.
    initial: int | None = field(default=None, compare=False, repr=False)
    account: Account | None = field(default=None, compare=False, repr=False)

    @property
    def health(self) -> int:
        """Equity / maintenance in WAD, rounded down (ties are broken by target id)."""
        return self.equity * WAD // self.maintenance

    @property
    def summary(self) -> MarginSummary | None:
        """The exact summary the check found (None when only equity and maintenance are known).
        Built on demand: a backstop close-out that needs only ``equity < maintenance`` never asks."""
        if self.initial is None:
            return None
        return make_summary(self.equity, self.initial, self.maintenance)


_new = object.__new__
_slot_setters = tuple(
    getattr(Confirmed, name).__set__ for name in ("target", "equity", "maintenance", "initial", "account")
)


def _make_confirmed(
    target: Target, equity: int, maintenance: int, initial: int, account: Account
) -> Confirmed:
    """``Confirmed(target, equity, maintenance, initial, account)`` without the frozen ``__init__``'s
    ``object.__setattr__`` per field (the same object: no ``__post_init__``)."""
    c: Confirmed = _new(Confirmed)
    set_target, set_equity, set_maintenance, set_initial, set_account = _slot_setters
    set_target(c, target)
    set_equity(c, equity)
    set_maintenance(c, maintenance)
    set_initial(c, initial)
    set_account(c, account)
    return c


def confirm(
    state: LedgerState,
    candidates: Sequence[Target],
    price_of: PriceLookup,
    table: MarginTable | None = None,
) -> list[Confirmed]:
    """The candidates the exact check finds below maintenance (deduplicated, in target order).

    Cross buckets are summed through a :class:`MarginTable` (``table``, or one made here): every
    candidate is valued at the same prices, so each price, haircut and fraction is looked up once."""
    out: list[Confirmed] = []
    accounts = state.accounts
    if table is None:
        table = MarginTable(state, price_of)
    cross_totals = table.cross_totals
    unique = set(candidates)
    if all(mid is None for _, mid in unique):  # cross buckets only: their ids are the order
        ordered: list[Target] = [(aid, None) for aid in sorted(aid for aid, _ in unique)]
    else:
        ordered = sorted(unique, key=_target_key)
    for target in ordered:
        aid, mid = target
        account = accounts.get(aid)
        if account is None:
            continue
        try:
            if mid is None:
                for p in account.positions.values():
                    if not p.isolated and p.size:
                        break
                else:
                    continue  # no cross position with size
                equity, initial, maintenance = cross_totals(account)
                if equity < maintenance:  # cross_summary(...).liquidatable
                    out.append(_make_confirmed(target, equity, maintenance, initial, account))
                continue
            pos = account.positions.get(mid)
            if pos is None or not pos.isolated or not pos.size:
                continue
            summary = isolated_summary(state, pos, price_of)
        except (MissingPrice, StalePrice):
            continue
        if summary.equity < summary.maintenance:  # summary.liquidatable
            out.append(
                _make_confirmed(target, summary.equity, summary.maintenance, summary.initial, account)
            )
    return out


def _target_key(target: Target) -> tuple[str, str]:
    return target[0], target[1] or ""


def still_valid(state: LedgerState, confirmed: Confirmed) -> MarginSummary | None:
    """The confirmed summary if it is still exactly what the bucket's summary would be now, else None.

    Within one enforcement step prices and funding indices do not change, so a bucket's summary can
    only change through its account (the ledger swaps in a new object whenever a transaction writes
    an account, so an unchanged account is the *same* object) or through open interest, which enters
    only the fractions of non-fixed margin models. So: the same account object, and fixed margin on
    every market the bucket holds. The close-out then reuses it instead of recomputing it.
    """
    account = confirmed.account
    if account is None or confirmed.initial is None or state.accounts.get(account.id) is not account:
        return None
    markets = state.markets
    for pos in account.positions.values():
        if pos.size and type(markets[pos.market].spec.margin_model) is not FixedMargin:
            return None
    return confirmed.summary


K = TypeVar("K")


def rotate_by_health(items: Sequence[tuple[Fraction | float | int, K]], height: int, cap: int) -> list[K]:
    """At most ``cap`` keys, lowest health first, with a rotation that starves no one.

    The ``ceil(cap / 2)`` lowest ``(health, key)`` always go first; the other ``floor(cap / 2)`` slots
    are a window over the remaining keys (sorted by key) starting at ``(height x slots) mod len`` and
    wrapping, so a key that stays a candidate is chosen within ``ceil(len / slots)`` blocks. No hashing,
    no randomness: the same inputs give the same list on every machine.
    """
    ranked = sorted(items, key=lambda hk: (hk[0], hk[1]))
    if len(ranked) <= cap:
        return [k for _, k in ranked]
    slots = cap // 2
    head = ranked[: cap - slots]
    rest = sorted(ranked[cap - slots :], key=lambda hk: hk[1])  # type: ignore[arg-type,return-value]
    start = (height * slots) % len(rest) if slots else 0
    window = [rest[(start + i) % len(rest)] for i in range(slots)]
    return [k for _, k in sorted(head + window, key=lambda hk: (hk[0], hk[1]))]


def select_targets(confirmed: Sequence[Confirmed], height: int, cap: int) -> list[Confirmed]:
    """Order exactly-confirmed targets most underwater first, rotate, and cap."""
    by_target = {c.target: c for c in confirmed}
    if len(confirmed) <= cap and len(by_target) == len(confirmed):
        # rotate_by_health keeps them all, ordered by (health, key): the same order in one sort
        return sorted(confirmed, key=_health_key)
    keyed = [(c.health, (c.target[0], c.target[1] or "")) for c in confirmed]
    chosen = rotate_by_health(keyed, height, cap)
    return [by_target[(aid, mid or None)] for aid, mid in chosen]


def _health_key(c: Confirmed) -> tuple[int, str, str]:
    target = c.target
    return c.equity * WAD // c.maintenance, target[0], target[1] or ""  # c.health


def unsafe_vaults(state: LedgerState, price_of: PriceLookup) -> list[tuple[int, tuple[str, str]]]:
    """Every vault below its liquidation ratio, as ``(health, (account, vault type))``.

    ``health = ink x spot / (art x rate)`` in WAD (rounded down), with the type's rate projected to the
    block time exactly as ``drip`` will compound it. Exact integers over all vaults: vault books are
    small next to perp books. Aave-path types (their own health-factor trigger) are left to keepers.
    """
    out: list[tuple[int, tuple[str, str]]] = []
    for vid in sorted(state.vault_types):
        vt = state.vault_types[vid]
        if isinstance(vt.spec.disposal, AaveLiquidation):
            continue
        try:
            price = price_of(vt.spec.price_key)
        except (MissingPrice, StalePrice):
            continue
        rate = projected_rate(vt.spec.duty, vt.rho, vt.rate, state.time)
        sp = spot(price, vt.spec.mat)
        for aid in sorted(state.accounts):
            vault = state.accounts[aid].vaults.get(vid)
            if vault is None or not vault.art:
                continue
            debt = vault.art * rate
            if vault.ink * sp < debt:
                out.append((vault.ink * sp * WAD // debt, (aid, vid)))
    return out


@dataclass(frozen=True, slots=True)
class Ranked:
    """Candidates with what a float screen proved about them (parallel lists, see :func:`select_ranked`).

    ``certain[i]``: the screen proves the exact check would find ``targets[i]`` below maintenance (the
    bucket exists, has size, and is below maintenance). ``lo[i]`` / ``hi[i]``: bounds on its exact
    health ``Confirmed.health / WAD`` that already include the screen's evaluation error (``-inf`` /
    ``inf`` when unknown).
    """

    targets: list[Target]
    certain: list[bool]
    lo: list[float]
    hi: list[float]


def _confirm_one(
    state: LedgerState, target: Target, price_of: PriceLookup, table: MarginTable
) -> Confirmed | None:
    """:func:`confirm` for one target: its exact summary if it is below maintenance."""
    found = confirm(state, [target], price_of, table)
    return found[0] if found else None


def select_ranked(
    state: LedgerState, ranked: Ranked, price_of: PriceLookup, height: int, cap: int
) -> list[Confirmed]:
    """``select_targets(confirm(state, targets), height, cap)`` with exact summaries only where needed.

    Membership: a ``certain`` candidate is a member without an exact summary; the others are confirmed
    exactly (usually few: those within the screen's error of the boundary). Head: with ``k = ceil(cap/2)``
    and ``H`` the ``k``-th smallest ``hi`` among members, a member with ``lo > H`` has an exact health
    above at least ``k`` others, so only members with ``lo <= H`` need an exact summary to find the
    ``k`` lowest ``(health, key)``. The window is drawn from the other members by key (no health
    needed), and the chosen ones get their exact summaries for the final order. Exact work is
    O(cap + members near the boundary or near the head's cut), not O(candidates); the result is the
    same list (the property tests compare both).
    """
    members: dict[tuple[str, str], tuple[Target, float, float]] = {}
    exact: dict[tuple[str, str], Confirmed] = {}
    table = MarginTable(state, price_of)
    for target, certain, lo, hi in zip(ranked.targets, ranked.certain, ranked.lo, ranked.hi, strict=True):
        key = (target[0], target[1] or "")
        if key in members:
            continue
        if certain:
            members[key] = (target, lo, hi)
            continue
        c = _confirm_one(state, target, price_of, table)
        if c is not None:
            exact[key] = c
            h = c.health / WAD  # one rounding: widen by a few ulps
            members[key] = (target, h - 1e-15 * abs(h) - 1e-300, h + 1e-15 * abs(h) + 1e-300)

    def confirmed(key: tuple[str, str]) -> Confirmed:
        c = exact.get(key)
        if c is None:
            c = _confirm_one(state, members[key][0], price_of, table)
            if c is None:  # pragma: no cover - the screen's proof failed: never guess, redo it exactly
                raise _ScreenDisagrees(key)
            exact[key] = c
        return c

    def order(keys: Collection[tuple[str, str]]) -> list[Confirmed]:
        chosen = [confirmed(k) for k in keys]
        return sorted(chosen, key=lambda c: (c.health, (c.target[0], c.target[1] or "")))

    try:
        return _select(members, confirmed, order, height, cap)
    except _ScreenDisagrees:  # pragma: no cover - see confirmed()
        targets = [m[0] for m in members.values()]
        return select_targets(confirm(state, targets, price_of, table), height, cap)


class _ScreenDisagrees(Exception):
    """A bucket the float screen proved below maintenance is not, exactly (would be a bug)."""


def _select(
    members: dict[tuple[str, str], tuple[Target, float, float]],
    confirmed: Callable[[tuple[str, str]], Confirmed],
    order: Callable[[Collection[tuple[str, str]]], list[Confirmed]],
    height: int,
    cap: int,
) -> list[Confirmed]:
    """The head / window selection of :func:`select_ranked` over its members."""
    if len(members) <= cap:
        return order(members)
    slots = cap // 2
    k = cap - slots
    cut = heapq.nsmallest(k, (hi for _, _, hi in members.values()))[-1]
    pool = [key for key, (_, lo, _) in members.items() if lo <= cut]
    head = [(c.health, key) for key in pool for c in (confirmed(key),)]
    head.sort()
    head_keys = {key for _, key in head[:k]}
    rest = sorted(key for key in members if key not in head_keys)
    start = (height * slots) % len(rest) if slots else 0
    window = [rest[(start + i) % len(rest)] for i in range(slots)]
    return order([*head_keys, *window])
