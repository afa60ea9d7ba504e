"""Portfolio margin over a scenario grid: revalue the account in every scenario, take the worst loss.

**Determinism: a table computed off-chain, exact arithmetic on-chain.** Option values under shocked spot
and vol need ``exp``, ``log`` and the normal CDF; a deterministic integer approximation of Black-76 is
possible but slow in Python, hard to make bit-identical to the float screen, and its error would have to
be bounded for every strike and expiry. Instead the value of *one unit* of each listed option in each
scenario is computed off-chain in floats (:mod:`~clearhouse.options.scenario_table`, using
:mod:`~clearhouse.options.pricing`) and carried as WAD integers in a :class:`ScenarioTable` — the
payload a vol-surface transaction would carry, hashed into the state like any other value. Every node
then computes every account's margin from the same integers, exactly (this module): the float step
happens once per surface update, the exact step per account and tick. Linear positions (perps, dated
futures) need no table: their scenario P&L is ``size × price × shock``, exact.

**Grid specs** are plug-ins (tagged msgspec structs, all parameters WAD): :class:`Span16`,
:class:`DeribitStyle`, :class:`DeriveStyle`. Each lists its :class:`Scenario` s (spot shock, vol move,
weight) and its add-ons; how a vol move translates into a new vol for an option of a given expiry is
the table builder's business (it reads the same spec).

**Requirement** (all quote WAD, rounded up):

    loss_s       = max(0, −Σ P&L_s) × weight_s                      per scenario s
    scan         = max_s loss_s
    contingency  = rate_c × spot × Σ_(expiry, strike) max(0, −net option size)      (Deribit-style)
    short_min    = rate_m × spot × Σ |short option size|                         (SPAN's SOMC)
    maintenance  = max(scan + contingency, short_min)
    initial      = k × maintenance                                  (Derive k = 1.25)

P&L is measured against the table's ``mark`` (today's value), so an account's *equity* must count
options at that mark; health = equity / maintenance as for every margin model.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Final

import msgspec

from clearhouse.core.errors import InvalidParameters, InvalidValue, UnknownMarket
from clearhouse.core.fixedpoint import WAD, ceil_div, check_range
from clearhouse.options.instruments import OptionKind

DAY: Final = 86_400


def _div_half_even(a: int, b: int) -> int:
    q, r = divmod(a, b)
    if 2 * r > b or (2 * r == b and q % 2):
        q += 1
    return q


class VolMove(enum.StrEnum):
    UP = "up"
    NONE = "none"
    DOWN = "down"


class Scenario(msgspec.Struct, frozen=True, array_like=True):
    """One grid point: relative spot move (WAD, −0.2e18 = −20 %), vol move, loss weight (WAD)."""

    spot_shock: int
    vol: VolMove
    weight: int = WAD


class GridSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="name"):
    """Base of the grid specs. Vol parameters are relative (0.3e18: σ × (1 ± 0.3 × scale(T)))."""

    #: Relative vol increase / decrease before time scaling (WAD).
    vol_up: int = 3 * WAD // 10
    vol_down: int = 3 * WAD // 10
    #: Scale vol moves by (30 days / T)^p: p for T < 30 days, p_long beyond (WAD); 0 disables.
    vol_power_short: int = 0
    vol_power_long: int = 0
    #: T is floored at this many seconds in the vol scaling (avoids infinite shocks near expiry).
    min_scaling_time: int = DAY
    #: Options are revalued this many seconds later (SPAN's look-ahead; time decay counts).
    look_ahead: int = 0
    #: Per net short option per (expiry, strike), as a fraction of spot (WAD).
    contingency_rate: int = 0
    #: Minimum charge per short option as a fraction of spot (WAD); maintenance is at least this.
    short_option_minimum_rate: int = 0
    #: initial = initial_factor × maintenance (WAD, >= 1).
    initial_factor: int = WAD

    def scenarios(self) -> tuple[Scenario, ...]:
        raise NotImplementedError

    def validate(self) -> None:
        """Refuse parameters that make no sense, naming the field."""
        where = f"grid spec {type(self).__name__}"
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                try:
                    check_range(value, name)
                except InvalidValue as exc:
                    raise InvalidParameters(f"{where}: {exc}") from None
                if value < 0:
                    raise InvalidParameters(f"{where}: {name} must be >= 0, got {value}")
        if self.vol_down >= WAD:
            raise InvalidParameters(f"{where}: vol_down must be < 1 (1e18), got {self.vol_down}")
        if self.initial_factor < WAD:
            raise InvalidParameters(f"{where}: initial_factor must be >= 1 (1e18), got {self.initial_factor}")
        for s in self.scenarios():
            if s.spot_shock <= -WAD or not 0 < s.weight <= WAD:
                raise InvalidParameters(
                    f"{where}: scenario {s} needs spot_shock > -100 % and weight in (0, 1]"
                )


class Span16(GridSpec, frozen=True, tag="span16"):
    """CME SPAN's 16 risk-array scenarios.

    Price moves 0, ±⅓, ±⅔, ±1 × the price scan range, each with vol up and down by the vol scan range
    (14 scenarios), plus ±3 × the price scan range with vol unchanged, counted at 35 % (the extreme
    "cover fraction"); revaluation one day ahead. Vol moves are not time-scaled. A short option minimum
    charge (SOMC) floors the requirement.
    """

    price_scan_range: int = 15 * WAD // 100
    extreme_multiple: int = 3
    extreme_weight: int = 35 * WAD // 100
    vol_up: int = 25 * WAD // 100
    vol_down: int = 25 * WAD // 100
    look_ahead: int = DAY
    short_option_minimum_rate: int = WAD // 100
    initial_factor: int = 11 * WAD // 10

    def scenarios(self) -> tuple[Scenario, ...]:
        out: list[Scenario] = []
        for thirds in (0, 1, -1, 2, -2, 3, -3):
            shock = _div_half_even(self.price_scan_range * thirds, 3)
            out += [Scenario(shock, VolMove.UP), Scenario(shock, VolMove.DOWN)]
        extreme = self.price_scan_range * self.extreme_multiple
        out += [
            Scenario(extreme, VolMove.NONE, self.extreme_weight),
            Scenario(-extreme, VolMove.NONE, self.extreme_weight),
        ]
        return tuple(out)


class DeribitStyle(GridSpec, frozen=True, tag="deribit"):
    """Deribit-style: spot ±``max_move`` in ``buckets`` even steps (9: −16 % … +16 % by 4 %) × vol up,
    same, down, plus an extended table of large moves with vol up only, counted at ``extended_weight``.

    Vol moves scale by (30 days / T)^0.30. A contingency of 1 % of spot per net short option per strike.
    """

    max_move: int = 16 * WAD // 100
    buckets: int = 9
    extended_moves: tuple[int, ...] = tuple(p * WAD // 100 for p in (-66, -33, 50, 100, 200, 300, 400, 500))
    #: Deribit counts "only a fraction" of the extended P&L, with a dampener, without publishing the
    #: numbers we found; 5 % is our illustrative default (35 % as SPAN would charge a naked call
    #: 1.75 × spot for the +500 % move).
    extended_weight: int = 5 * WAD // 100
    vol_up: int = 45 * WAD // 100
    vol_down: int = 30 * WAD // 100
    vol_power_short: int = 30 * WAD // 100
    vol_power_long: int = 30 * WAD // 100
    contingency_rate: int = WAD // 100
    initial_factor: int = 13 * WAD // 10

    def scenarios(self) -> tuple[Scenario, ...]:
        if self.buckets < 2:
            raise InvalidParameters(f"grid spec DeribitStyle: buckets must be >= 2, got {self.buckets}")
        half = self.buckets - 1
        out = [
            Scenario(_div_half_even(self.max_move * (2 * i - half), half), vol)
            for i in range(self.buckets)
            for vol in (VolMove.UP, VolMove.NONE, VolMove.DOWN)
        ]
        out += [Scenario(m, VolMove.UP, self.extended_weight) for m in self.extended_moves]
        return tuple(out)


class DeriveStyle(GridSpec, frozen=True, tag="derive"):
    """Derive-style: 23 spot points from −20 % to +20 % × vol up, none, down; vol moves scaled by
    (30 days / T)^p with p = 0.3 below 30 days and 0.13 beyond; initial = 1.25 × maintenance."""

    max_move: int = 20 * WAD // 100
    points: int = 23
    vol_up: int = 45 * WAD // 100
    vol_down: int = 30 * WAD // 100
    vol_power_short: int = 30 * WAD // 100
    vol_power_long: int = 13 * WAD // 100
    contingency_rate: int = WAD // 100
    initial_factor: int = 125 * WAD // 100

    def scenarios(self) -> tuple[Scenario, ...]:
        if self.points < 2:
            raise InvalidParameters(f"grid spec DeriveStyle: points must be >= 2, got {self.points}")
        half = self.points - 1
        return tuple(
            Scenario(_div_half_even(self.max_move * (2 * i - half), half), vol)
            for i in range(self.points)
            for vol in (VolMove.UP, VolMove.NONE, VolMove.DOWN)
        )


AnyGridSpec = Span16 | DeribitStyle | DeriveStyle


class OptionRow(msgspec.Struct, frozen=True, array_like=True):
    """One listed option in the table: today's per-unit value and its value in each scenario (WAD)."""

    instrument: str
    kind: OptionKind
    strike: int
    expiry: int
    mark: int
    values: tuple[int, ...]


class ScenarioTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Per-unit option values over a spec's scenarios, as a vol-surface transaction would carry them."""

    underlying: str
    #: Spot (WAD) the shocks apply to.
    spot: int
    #: Valuation time (Unix s).
    as_of: int
    scenarios: tuple[Scenario, ...]
    options: tuple[OptionRow, ...]

    def validate(self) -> None:
        where = f"scenario table {self.underlying!r}"
        if self.spot <= 0 or not self.scenarios:
            raise InvalidParameters(f"{where}: needs spot > 0 and at least one scenario")
        ids = [row.instrument for row in self.options]
        if ids != sorted(set(ids)):
            raise InvalidParameters(f"{where}: option rows must have unique ids in sorted order")
        for row in self.options:
            if len(row.values) != len(self.scenarios):
                raise InvalidParameters(
                    f"{where}: {row.instrument} has {len(row.values)} values for "
                    f"{len(self.scenarios)} scenarios"
                )
            if row.mark < 0 or any(v < 0 for v in row.values) or row.strike <= 0:
                raise InvalidParameters(f"{where}: {row.instrument} has a negative value or strike")

    def row(self, instrument: str) -> OptionRow:
        """The row of ``instrument`` (binary search over the sorted ids)."""
        lo, hi = 0, len(self.options)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.options[mid].instrument < instrument:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(self.options) or self.options[lo].instrument != instrument:
            raise UnknownMarket(f"option {instrument!r} is not in the scenario table of {self.underlying!r}")
        return self.options[lo]


class OptionPosition(msgspec.Struct, frozen=True, array_like=True):
    instrument: str
    #: Signed size (WAD, short < 0).
    size: int


class LinearPosition(msgspec.Struct, frozen=True, array_like=True):
    """A perp or dated future on the same underlying: P&L = size × price × shock."""

    instrument: str
    size: int
    #: Mark price (WAD) the shock applies to.
    price: int


class Portfolio(msgspec.Struct, frozen=True):
    options: tuple[OptionPosition, ...] = ()
    linear: tuple[LinearPosition, ...] = ()


class MarginResult(msgspec.Struct, frozen=True):
    """Requirements (quote WAD, rounded up) and how they were reached."""

    maintenance: int
    initial: int
    scan: int
    #: Index of the first scenario with the largest weighted loss (-1: no scenario loses).
    worst_scenario: int
    contingency: int
    short_option_minimum: int
    #: Weighted loss per scenario (>= 0), in the table's scenario order.
    losses: tuple[int, ...]


def scenario_pnl_numerators(table: ScenarioTable, portfolio: Portfolio) -> list[int]:
    """Exact portfolio P&L per scenario, scaled by WAD³ (no rounding yet).

    ``Σ size × (value − mark)`` is accumulated in WAD² and multiplied by WAD once per scenario (the
    same integers as multiplying every term, fewer big-integer products).
    """
    opt = [0] * len(table.scenarios)
    for pos in portfolio.options:
        check_range(pos.size, "size")
        row = table.row(pos.instrument)
        size, mark = pos.size, row.mark
        opt = [acc + size * (value - mark) for acc, value in zip(opt, row.values, strict=True)]
    pnl = [acc * WAD for acc in opt]
    for lin in portfolio.linear:
        check_range(lin.size, "size")
        notional = lin.size * lin.price
        pnl = [acc + notional * scen.spot_shock for acc, scen in zip(pnl, table.scenarios, strict=True)]
    return pnl


def short_exposure(table: ScenarioTable, portfolio: Portfolio) -> tuple[int, int]:
    """``(net_short, short_total)`` in units: shorts net of longs at the same (expiry, strike) (the
    contingency base), and every short option summed (the short-option minimum's base)."""
    net: dict[tuple[int, int], int] = {}
    short_total = 0
    for pos in portfolio.options:
        row = table.row(pos.instrument)
        key = (row.expiry, row.strike)
        net[key] = net.get(key, 0) + pos.size
        short_total += max(-pos.size, 0)
    return sum(max(-n, 0) for n in net.values()), short_total


def portfolio_margin(spec: GridSpec, table: ScenarioTable, portfolio: Portfolio) -> MarginResult:
    """The account's portfolio-margin requirement over ``table`` (built for ``spec``), exactly.

    Every scenario's weighted loss rounds up once from the exact WAD³ P&L; add-ons round up once.
    """
    if tuple(table.scenarios) != spec.scenarios():
        raise InvalidParameters(
            f"scenario table {table.underlying!r} was not built for {type(spec).__name__}"
        )
    scale = WAD**3  # WAD³ P&L (= quote WAD × WAD²) × WAD weight → quote WAD
    losses = tuple(
        ceil_div(max(-num, 0) * scen.weight, scale)
        for num, scen in zip(scenario_pnl_numerators(table, portfolio), table.scenarios, strict=True)
    )
    scan = max(losses, default=0)
    worst = losses.index(scan) if scan > 0 else -1

    net_short, short_total = short_exposure(table, portfolio)
    contingency = ceil_div(net_short * table.spot * spec.contingency_rate, WAD * WAD)
    short_min = ceil_div(short_total * table.spot * spec.short_option_minimum_rate, WAD * WAD)
    maintenance = max(scan + contingency, short_min)
    initial = ceil_div(maintenance * spec.initial_factor, WAD)
    return MarginResult(maintenance, initial, scan, worst, contingency, short_min, losses)


class FixedFractions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Per-instrument margin without offsets, for comparison (defaults: Derive's standard-margin
    perp fractions for BTC/ETH and Deribit's standard short-option rates).

    Linear: ``|size| × price × fraction``. Short option: ``|size| × spot × rate`` (maintenance
    0.075; initial ``max(0.15 − OTM/spot, 0.10)``), on top of the option's mark, which equity already
    deducts. Long options: none (the premium was paid).
    """

    linear_maintenance: int = 5 * WAD // 100
    linear_initial: int = 66 * WAD // 1000
    short_option_maintenance: int = 75 * WAD // 1000
    short_option_initial: int = 15 * WAD // 100
    short_option_initial_floor: int = 10 * WAD // 100


def fixed_fraction_margin(
    fractions: FixedFractions, table: ScenarioTable, portfolio: Portfolio
) -> tuple[int, int]:
    """(maintenance, initial) as the sum of per-instrument requirements, rounded up once each."""
    mm = im = 0
    for lin in portfolio.linear:
        notional = abs(lin.size) * lin.price
        mm += notional * fractions.linear_maintenance
        im += notional * fractions.linear_initial
    spot = table.spot
    for pos in portfolio.options:
        if pos.size >= 0:
            continue
        row = table.row(pos.instrument)
        otm = max(row.strike - spot, 0) if row.kind is OptionKind.CALL else max(spot - row.strike, 0)
        # initial rate = max(0.15 − otm/spot, 0.10), kept exact by scaling with spot
        im_rate_x_spot = max(
            fractions.short_option_initial * spot - otm * WAD, fractions.short_option_initial_floor * spot
        )
        mm += -pos.size * spot * fractions.short_option_maintenance
        im += -pos.size * im_rate_x_spot
    return ceil_div(mm, WAD * WAD), max(ceil_div(im, WAD * WAD), ceil_div(mm, WAD * WAD))


def riskiest_legs(table: ScenarioTable, portfolio: Portfolio, scenario: int) -> Sequence[tuple[str, int]]:
    """Each leg's exact P&L in ``scenario`` (WAD³), most negative first, ties by instrument id.

    The order a liquidation of an options account would close legs in (largest contribution to the
    worst scenario first).
    """
    legs: list[tuple[int, str]] = []
    for pos in portfolio.options:
        row = table.row(pos.instrument)
        legs.append((pos.size * (row.values[scenario] - row.mark) * WAD, pos.instrument))
    for lin in portfolio.linear:
        legs.append((lin.size * lin.price * table.scenarios[scenario].spot_shock, lin.instrument))
    return [(name, pnl) for pnl, name in sorted(legs)]
