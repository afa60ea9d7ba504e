"""Censoring-aware delay distributions: the Kaplan–Meier estimate over a compact count table.

A liquidation delay is only *observed* for breaches that were enforced. A breach still open at the
horizon, or one that healed before anyone enforced it, tells us only that the delay was longer than its
age: dropping those (as a plain percentile of the enforced delays does) biases the distribution low, most
of all when keepers are priced out. Kaplan–Meier keeps them as right-censored observations.

The estimate comes from :func:`scipy.stats.ecdf` on :class:`scipy.stats.CensoredData` (scipy is a core
dependency; lifelines would add pandas and autograd for the same estimator). Durations are stored as a
:class:`SurvivalTable` of counts per distinct duration, so paths can be pooled by adding their tables
and ``summary.json`` stays small. ``docs/metrics.md`` ("Liquidation delay") states the conventions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class SurvivalTable:
    """Per distinct duration (ascending): how many observations ended in the event, how many censored."""

    times: tuple[float, ...]
    events: tuple[int, ...]
    censored: tuple[int, ...]

    @staticmethod
    def from_samples(durations: Iterable[float], observed: Iterable[bool]) -> SurvivalTable:
        counts: dict[float, list[int]] = {}
        for d, o in zip(durations, observed, strict=True):
            if d < 0:
                raise ValueError(f"duration {d} < 0")
            counts.setdefault(float(d), [0, 0])[0 if o else 1] += 1
        keys = sorted(counts)
        return SurvivalTable(
            tuple(keys), tuple(counts[k][0] for k in keys), tuple(counts[k][1] for k in keys)
        )

    @staticmethod
    def pooled(tables: Iterable[SurvivalTable]) -> SurvivalTable:
        """The table of all observations of ``tables`` together (paths pooled)."""
        counts: dict[float, list[int]] = {}
        for t in tables:
            for time, e, c in zip(t.times, t.events, t.censored, strict=True):
                cell = counts.setdefault(time, [0, 0])
                cell[0] += e
                cell[1] += c
        keys = sorted(counts)
        return SurvivalTable(
            tuple(keys), tuple(counts[k][0] for k in keys), tuple(counts[k][1] for k in keys)
        )

    @property
    def n_events(self) -> int:
        return sum(self.events)

    @property
    def n_censored(self) -> int:
        return sum(self.censored)

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        return {"time_s": list(self.times), "enforced": list(self.events), "censored": list(self.censored)}

    @staticmethod
    def from_dict(d: Mapping[str, Sequence[Any]]) -> SurvivalTable:
        return SurvivalTable(
            tuple(float(x) for x in d["time_s"]),
            tuple(int(x) for x in d["enforced"]),
            tuple(int(x) for x in d["censored"]),
        )


@dataclass(frozen=True)
class KaplanMeier:
    """The survival function S(t) = P(delay > t) as a right-continuous step function."""

    #: Distinct event times and S just after each of them.
    times: tuple[float, ...]
    survival: tuple[float, ...]
    #: Largest duration observed (event or censored): S is not known beyond it.
    max_time: float

    def at(self, t: float) -> float:
        """S(t): the share of breaches still waiting for enforcement after ``t``."""
        s = 1.0
        for time, value in zip(self.times, self.survival, strict=True):
            if time > t:
                break
            s = value
        return s

    def quantile(self, p: float) -> float | None:
        """The ``p`` quantile of the delay: the first time S falls to ``1 − p`` or below; ``None`` when
        it never does within the data (too many breaches censored: the delay is longer than observed)."""
        if not 0.0 < p < 1.0:
            raise ValueError(f"p must be in (0, 1), got {p}")
        for time, value in zip(self.times, self.survival, strict=True):
            if value <= 1.0 - p + 1e-12:
                return time
        return None

    def restricted_mean(self) -> float:
        """∫₀^max_time S(t) dt: the mean delay capped at the longest observation (RMST)."""
        area, last_t, last_s = 0.0, 0.0, 1.0
        for time, value in zip(self.times, self.survival, strict=True):
            area += last_s * (time - last_t)
            last_t, last_s = time, value
        return area + last_s * (self.max_time - last_t)


def kaplan_meier(table: SurvivalTable) -> KaplanMeier | None:
    """The Kaplan–Meier estimate of ``table`` (``None`` without observations). Ties: at a time with
    both, events are counted before censorings (the usual convention; scipy follows it)."""
    if not table.times:
        return None
    times = np.asarray(table.times, dtype=np.float64)
    uncensored = np.repeat(times, np.asarray(table.events, dtype=np.int64))
    right = np.repeat(times, np.asarray(table.censored, dtype=np.int64))
    max_time = float(times.max())
    if uncensored.size == 0:
        return KaplanMeier((), (), max_time)
    res = stats.ecdf(stats.CensoredData(uncensored=uncensored, right=right))
    q = np.asarray(res.sf.quantiles, dtype=np.float64)
    s = np.asarray(res.sf.probabilities, dtype=np.float64)
    return KaplanMeier(tuple(float(x) for x in q), tuple(float(x) for x in s), max_time)


def delay_summary(
    table: SurvivalTable, quantiles: Sequence[float] = (0.5, 0.9, 0.95, 0.99)
) -> dict[str, Any]:
    """The ``kaplan_meier`` block of ``summary.json``: quantiles (``None`` = not reached), the
    restricted mean, S at a few ages, and the counts it rests on."""
    km = kaplan_meier(table)
    out: dict[str, Any] = {
        "enforced": table.n_events,
        "censored": table.n_censored,
        "max_observed_s": max(table.times) if table.times else 0.0,
    }
    for p in quantiles:
        out[f"p{round(p * 100):d}"] = None if km is None else km.quantile(p)
    out["restricted_mean_s"] = 0.0 if km is None else round(km.restricted_mean(), 6)
    out["still_waiting_after"] = {
        label: None if km is None or km.max_time < t else round(km.at(t), 6)
        for label, t in (("1h", 3600.0), ("6h", 21600.0), ("24h", 86400.0))
    }
    return out
