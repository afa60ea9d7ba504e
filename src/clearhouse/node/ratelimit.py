"""Token buckets per client IP and per signer key (refusals answer 429 with ``Retry-After``)."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """``rate`` tokens per second, bursts up to ``2 x rate``; at most ``max_keys`` buckets are kept
    (the least recently refilled are dropped first, which only ever forgives a client)."""

    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.rate = rate
        self.burst = max(1.0, 2 * rate)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, cost: float = 1.0) -> bool:
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        ok = tokens >= cost
        if ok:
            tokens -= cost
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        return ok
