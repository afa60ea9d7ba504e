"""Network model of the stress lab: blocks, gas-price percentiles per interval, inclusion delay.

Blocks are numbered from 0 at ``genesis_time`` and come every ``block_time`` seconds. Gas-price
percentiles (p30, p60, p90, max, in wei) per interval come from a parametric schedule (base gas ×
multipliers in windows, e.g. ×20 during a crash) or a CSV such as
``eth_gasprice_percentiles_10m_2020-03-12.csv``.

**Inclusion rule** (configurable via ``tiers``): a transaction sent at time ``t`` offering gas price
``g`` is judged against the percentiles of the interval containing ``t``. The default tiers are
``g ≥ p90 → 1`` block, ``g ≥ p60 → 2`` blocks, ``g ≥ p30 → 5`` blocks: it lands in block
``next_block(t) + d − 1`` where ``next_block(t)`` is the first block strictly after ``t``. Below the
lowest tier it is not included in that interval; it waits and is judged again at the start of each
later interval (from the first block at or after that start) until a tier applies, or the data end
(then it never lands: ``None``). Oracle pokes are transactions like any other
(:meth:`NetworkModel.oracle_poke_block`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal, Protocol

import msgspec
import numpy as np

from clearhouse.core.errors import InvalidValue
from clearhouse.core.fixedpoint import to_fixed
from clearhouse.lab.csvdata import parse_start, read_columns
from clearhouse.lab.errors import LabConfigError, LabDataError
from clearhouse.oracle.sources import TimeUnit

Percentile = Literal["p30", "p60", "p90", "max"]
_RANK: Final[dict[str, int]] = {"p30": 0, "p60": 1, "p90": 2, "max": 3}
GWEI: Final = 10**9


class GasInterval(msgspec.Struct, frozen=True):
    """Gas-price percentiles (wei) valid on ``[start, end)``; ``None`` bounds are open."""

    start: int | None
    end: int | None
    p30: int
    p60: int
    p90: int
    max: int

    def level(self, name: Percentile) -> int:
        value: int = getattr(self, name)
        return value


class InclusionTier(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Offering at least the ``at_or_above`` percentile lands within ``blocks`` blocks (≥ 1)."""

    at_or_above: Percentile
    blocks: int


DEFAULT_TIERS: Final = (InclusionTier("p90", 1), InclusionTier("p60", 2), InclusionTier("p30", 5))


class GasWindow(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Multiply every percentile by ``multiplier`` on ``[start, end)`` (simulation seconds)."""

    start: int
    end: int
    multiplier: float


class ParametricGasConfig(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag="parametric",
    tag_field="source",
):
    """Percentile ``p = base_gwei × ratio_p × Π multipliers of the windows containing t``."""

    base_gwei: float
    p30: float = 0.8
    p60: float = 1.0
    p90: float = 1.5
    max: float = 5.0
    windows: tuple[GasWindow, ...] = ()

    def __post_init__(self) -> None:
        if not self.base_gwei > 0 or self.base_gwei == float("inf"):
            raise LabConfigError("gas.base_gwei", f"must be finite and > 0, got {self.base_gwei}")
        ratios = [self.p30, self.p60, self.p90, self.max]
        for name, r in zip(_RANK, ratios, strict=True):
            if not 0 < r < float("inf"):
                raise LabConfigError(f"gas.{name}", f"must be finite and > 0, got {r}")
        if ratios != sorted(ratios):
            raise LabConfigError("gas.p30", f"ratios must satisfy p30 <= p60 <= p90 <= max, got {ratios}")
        for i, w in enumerate(self.windows):
            if w.end <= w.start:
                raise LabConfigError(f"gas.windows[{i}].end", f"must be > start={w.start}, got {w.end}")
            if not 0 < w.multiplier < float("inf"):
                raise LabConfigError(
                    f"gas.windows[{i}].multiplier", f"must be finite and > 0, got {w.multiplier}"
                )


class CsvGasConfig(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="csv", tag_field="source"
):
    """Gas percentiles from a CSV, one row per interval (defaults: the SSIMS Black Thursday file).

    Each row covers ``[its time, next row's time)``, the last one ``interval_seconds``; rows further
    apart than ``interval_seconds`` are refused. With ``start``, simulation time ``t`` reads the data
    at ``start + t``; otherwise simulation times are epoch seconds.
    """

    file: str
    time: str | int = "timestamp_utc"
    time_unit: TimeUnit = "iso"
    p30: str = "p30_gas_price_wei"
    p60: str = "p60_gas_price_wei"
    p90: str = "p90_gas_price_wei"
    max: str = "max_gas_price_wei"
    interval_seconds: int = 600
    skip_blank: bool = False
    start: str | int | None = None
    #: Past the last row, keep its percentiles (the file is shorter than the run; an approximation the
    #: scenario documents) instead of refusing the time.
    hold_last: bool = False

    def __post_init__(self) -> None:
        if self.interval_seconds <= 0:
            raise LabConfigError("gas.interval_seconds", f"must be > 0, got {self.interval_seconds}")


class NetworkConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    gas: ParametricGasConfig | CsvGasConfig
    block_time: int = 12
    genesis_time: int = 0
    tiers: tuple[InclusionTier, ...] = DEFAULT_TIERS

    def __post_init__(self) -> None:
        if self.block_time <= 0:
            raise LabConfigError("network.block_time", f"must be > 0, got {self.block_time}")
        if not self.tiers:
            raise LabConfigError("network.tiers", "needs at least one tier")
        seen: set[str] = set()
        for i, tier in enumerate(self.tiers):
            if tier.blocks < 1:
                raise LabConfigError(f"network.tiers[{i}].blocks", f"must be >= 1, got {tier.blocks}")
            if tier.at_or_above in seen:
                raise LabConfigError(f"network.tiers[{i}].at_or_above", f"duplicate tier {tier.at_or_above}")
            seen.add(tier.at_or_above)
        by_rank = sorted(self.tiers, key=lambda x: -_RANK[x.at_or_above])
        if [x.blocks for x in by_rank] != sorted(x.blocks for x in by_rank):
            raise LabConfigError(
                "network.tiers", "a higher percentile must not wait more blocks than a lower one"
            )


class GasSchedule(Protocol):
    def at(self, t: int) -> GasInterval: ...

    def next_change(self, t: int) -> int | None: ...


class ParametricGas:
    def __init__(self, config: ParametricGasConfig) -> None:
        self.config = config
        self._bounds = sorted({b for w in config.windows for b in (w.start, w.end)})

    def at(self, t: int) -> GasInterval:
        c = self.config
        mult = 1.0
        for w in c.windows:
            if w.start <= t < w.end:
                mult *= w.multiplier
        start = max((b for b in self._bounds if b <= t), default=None)
        end = self.next_change(t)
        wei = [
            to_fixed(c.base_gwei * r * mult, GWEI, f"gas.{n}")
            for n, r in zip(_RANK, self._ratios(), strict=True)
        ]
        return GasInterval(start, end, *wei)

    def _ratios(self) -> tuple[float, float, float, float]:
        c = self.config
        return c.p30, c.p60, c.p90, c.max

    def next_change(self, t: int) -> int | None:
        return min((b for b in self._bounds if b > t), default=None)


class CsvGas:
    def __init__(self, config: CsvGasConfig, base_dir: Path | None = None) -> None:
        self.config = config
        path = Path(config.file)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        names = [config.p30, config.p60, config.p90, config.max]
        cols = read_columns(
            path,
            config.time,
            config.time_unit,
            names,
            skip_blank=config.skip_blank,
            max_gap_seconds=config.interval_seconds,
        )
        self.file = cols.file
        self.starts = cols.times - parse_start(config.start, "gas.start")
        self.rows: list[tuple[int, int, int, int]] = []
        for r, line in enumerate(cols.lines):
            try:
                vals = [to_fixed(cols.values[c][r], 1, names[c]) for c in range(4)]
            except InvalidValue as exc:
                raise LabDataError(cols.file, line, str(exc)) from None
            if vals != sorted(vals) or vals[0] < 0:
                raise LabDataError(
                    cols.file, line, f"percentiles must satisfy 0 <= p30 <= p60 <= p90 <= max: {vals}"
                )
            self.rows.append((vals[0], vals[1], vals[2], vals[3]))

    def _index(self, t: int) -> int:
        i = int(np.searchsorted(self.starts, t, side="right")) - 1
        if i < 0:
            raise LabDataError(
                self.file, None, f"time {t} is before the first gas interval ({int(self.starts[0])})"
            )
        last = i == len(self.rows) - 1
        if last and not self.config.hold_last and t >= int(self.starts[-1]) + self.config.interval_seconds:
            raise LabDataError(
                self.file, None, f"time {t} is after the last gas interval ({int(self.starts[-1])})"
            )
        return i

    def at(self, t: int) -> GasInterval:
        i = self._index(t)
        if i + 1 < len(self.rows):
            end: int | None = int(self.starts[i + 1])
        else:
            end = None if self.config.hold_last else int(self.starts[i]) + self.config.interval_seconds
        return GasInterval(int(self.starts[i]), end, *self.rows[i])

    def next_change(self, t: int) -> int | None:
        i = self._index(t)
        return int(self.starts[i + 1]) if i + 1 < len(self.rows) else None


class NetworkModel:
    """Blocks, gas percentiles and the inclusion rule (see the module docstring)."""

    def __init__(self, config: NetworkConfig, base_dir: Path | None = None) -> None:
        self.config = config
        self.gas: GasSchedule = (
            ParametricGas(config.gas)
            if isinstance(config.gas, ParametricGasConfig)
            else CsvGas(config.gas, base_dir)
        )
        self._tiers = sorted(config.tiers, key=lambda x: -_RANK[x.at_or_above])

    @classmethod
    def from_table(cls, table: dict[str, object], *, base_dir: Path | None = None) -> NetworkModel:
        """Build from a parsed TOML table (``gas.source = "parametric" | "csv"``)."""
        try:
            config = msgspec.convert(table, NetworkConfig)
        except msgspec.ValidationError as exc:
            raise LabConfigError("network", str(exc)) from None
        return cls(config, base_dir)

    def block_time_of(self, block: int) -> int:
        """Timestamp of block ``block``."""
        return self.config.genesis_time + block * self.config.block_time

    def next_block(self, t: int) -> int:
        """The first block strictly after time ``t`` (a transaction sent at ``t`` can be in it)."""
        if t < self.config.genesis_time:
            return 0
        return (t - self.config.genesis_time) // self.config.block_time + 1

    def first_block_at_or_after(self, t: int) -> int:
        if t <= self.config.genesis_time:
            return 0
        return -((self.config.genesis_time - t) // self.config.block_time)

    def gas_at(self, t: int) -> GasInterval:
        """Percentiles of the interval containing ``t``."""
        return self.gas.at(t)

    def inclusion_delay(self, offered_gas_price: int, time: int) -> int | None:
        """Blocks until inclusion (1 = the next block) for a transaction sent at ``time`` offering
        ``offered_gas_price`` wei, or ``None`` if it is below every tier in that interval."""
        if (
            isinstance(offered_gas_price, bool)
            or not isinstance(offered_gas_price, int)
            or offered_gas_price < 0
        ):
            raise LabConfigError(
                "offered_gas_price", f"must be an integer wei amount >= 0, got {offered_gas_price!r}"
            )
        gas = self.gas.at(time)
        for tier in self._tiers:
            if offered_gas_price >= gas.level(tier.at_or_above):
                return tier.blocks
        return None

    def landing_block(self, offered_gas_price: int, sent_time: int) -> int | None:
        """Block in which the transaction lands, waiting through intervals where it is priced out;
        ``None`` if it never qualifies before the gas data end (or the parametric schedule settles)."""
        delay = self.inclusion_delay(offered_gas_price, sent_time)
        if delay is not None:
            return self.next_block(sent_time) + delay - 1
        t: int | None = sent_time
        while t is not None:
            t = self.gas.next_change(t)
            if t is None:
                return None
            delay = self.inclusion_delay(offered_gas_price, t)
            if delay is not None:
                return self.first_block_at_or_after(t) + delay - 1
        return None

    def landing_time(self, offered_gas_price: int, sent_time: int) -> int | None:
        block = self.landing_block(offered_gas_price, sent_time)
        return None if block is None else self.block_time_of(block)

    def oracle_poke_block(self, sent_time: int, gas_price: int) -> int | None:
        """Block at which an oracle poke sent at ``sent_time`` paying ``gas_price`` wei lands: pokes are
        ordinary transactions and follow :meth:`landing_block`."""
        return self.landing_block(gas_price, sent_time)
