"""Stateful time averages over a piecewise-constant signal, in integers.

Both accumulators use the *zero-order hold* convention of Uniswap's oracle: a value recorded at
time ``t`` holds from ``t`` until the next record, so a value enters the average only as time passes
while it is held. A price that appears for a single instant (a flash-loan spike inside one block)
has zero weight when it is recorded and weight ``dt / window`` once the next block arrives.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from typing import Any

from clearhouse.core.errors import InvalidValue
from clearhouse.oracle.intmath import ONE, decay_one


class TimeWeightedAverage:
    """Time-weighted arithmetic mean of the recorded values over the last ``window`` seconds.

    Stored as Uniswap-style cumulative sums: each observation keeps ``(time, value, cumulative)``
    where ``cumulative`` is the integral of the signal up to ``time``. Observations that can no
    longer affect a window ending at the latest record are pruned. If the history is shorter than
    the window, the mean is over the history (from the first record).
    """

    __slots__ = ("_obs", "window")

    def __init__(self, window: int) -> None:
        if type(window) is not int or window <= 0:
            raise InvalidValue(f"window must be an integer > 0, got {window!r}")
        self.window = window
        self._obs: deque[tuple[int, int, int]] = deque()

    def __len__(self) -> int:
        return len(self._obs)

    def record(self, time: int, value: int) -> None:
        """Record that the signal is ``value`` from ``time`` on (same time: the new value replaces)."""
        obs = self._obs
        if obs:
            t, v, cum = obs[-1]
            if time < t:
                raise InvalidValue(f"record at {time} before the last record at {t}")
            if time == t:
                obs[-1] = (t, value, cum)
            else:
                obs.append((time, value, cum + v * (time - t)))
            start = time - self.window
            while len(obs) >= 2 and obs[1][0] <= start:
                obs.popleft()
        else:
            obs.append((time, value, 0))

    def average(self, now: int) -> int | None:
        """Mean over ``[max(now - window, first record), now]``, rounded down; ``None`` if empty."""
        obs = self._obs
        if not obs:
            return None
        t_last, v_last, cum_last = obs[-1]
        if now < t_last:
            raise InvalidValue(f"average at {now} before the last record at {t_last}")
        start = max(now - self.window, obs[0][0])
        if now == start:
            return v_last
        i = bisect_right(obs, start, key=lambda o: o[0]) - 1
        t_i, v_i, cum_i = obs[i]
        cum_start = cum_i + v_i * (start - t_i)
        cum_now = cum_last + v_last * (now - t_last)
        return (cum_now - cum_start) // (now - start)

    def latest(self) -> int | None:
        return self._obs[-1][1] if self._obs else None

    def state(self) -> list[Any]:
        return [self.window, [list(o) for o in self._obs]]

    def copy(self) -> TimeWeightedAverage:
        new = TimeWeightedAverage.__new__(TimeWeightedAverage)
        new.window = self.window
        new._obs = self._obs.copy()
        return new


class ExponentialAverage:
    """Continuous-time exponential moving average with a half-life in seconds.

    Between two records ``dt`` apart the held value ``v`` pulls the average by
    ``ema += (v - ema) * (1 - 2^(-dt / half_life))``. The average is kept at scale ``ONE`` (1e36)
    relative to the values so repeated rounding does not drift; :meth:`value` rounds down.
    """

    __slots__ = ("_ema", "_held", "_time", "half_life")

    _SCALE = ONE // 10**18

    def __init__(self, half_life: int) -> None:
        if type(half_life) is not int or half_life <= 0:
            raise InvalidValue(f"half_life must be an integer > 0, got {half_life!r}")
        self.half_life = half_life
        self._ema: int | None = None
        self._held = 0
        self._time = 0

    def record(self, time: int, value: int) -> None:
        ema = self._ema
        if ema is None:
            self._ema = value * self._SCALE
        else:
            dt = time - self._time
            if dt < 0:
                raise InvalidValue(f"record at {time} before the last record at {self._time}")
            gap = self._held * self._SCALE - ema
            if dt and gap:  # an average already at the held value stays there: no decay to compute
                pull = ONE - decay_one(dt, self.half_life)
                self._ema = ema + gap * pull // ONE
        self._held = value
        self._time = time

    def value(self, now: int | None = None) -> int | None:
        """The average at the last record, or projected to ``now`` (the held value keeps pulling)."""
        if self._ema is None:
            return None
        ema = self._ema
        if now is not None and now > self._time:
            gap = self._held * self._SCALE - ema
            if gap:  # an average at the held value stays there
                ema += gap * (ONE - decay_one(now - self._time, self.half_life)) // ONE
        return ema // self._SCALE

    def state(self) -> list[Any]:
        return [self.half_life, self._ema, self._held, self._time]

    def copy(self) -> ExponentialAverage:
        new = ExponentialAverage.__new__(ExponentialAverage)
        new.half_life = self.half_life
        new._ema, new._held, new._time = self._ema, self._held, self._time
        return new
