"""Typed oracle states, the reading a feed returns, and the state-change event.

A feed never hands out a bare number: every :class:`OracleReading` carries an
:class:`OracleState`, and what ``price`` means depends on it:

========== ============================================== ===============================================
state      meaning                                        ``price`` in the reading
========== ============================================== ===============================================
FRESH      enough fresh sources, every policy passed      the price to act on
STALE      no fresh quorum, warm-up, or too old           last price published FRESH (or ``None``), old
CLAMPED    the candidate crossed a configured min/max     the bound (the market is beyond it)
GUARDED    the candidate is outside the anchor band       last accepted price; the candidate is ``raw``
UNCERTAIN  the confidence interval is too wide            the candidate itself
HALTED     circuit breaker tripped, waiting to confirm    last accepted price before the move
========== ============================================== ===============================================

Which engine actions each state allows is data, in :mod:`clearhouse.oracle.rules`.
"""

from __future__ import annotations

import enum

import msgspec


class OracleState(enum.StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    CLAMPED = "clamped"
    GUARDED = "guarded"
    UNCERTAIN = "uncertain"
    HALTED = "halted"


class OracleStateChanged(msgspec.Struct, frozen=True):
    """Event: the feed for ``asset`` moved from ``old`` to ``new`` at ``time`` because of ``reason``."""

    asset: str
    old: OracleState
    new: OracleState
    time: int
    reason: str


class OracleReading(msgspec.Struct, frozen=True):
    """What :meth:`OracleFeed.update` returns.

    ``time`` is the update time; ``price_time`` is when ``price`` was observed (for a delayed feed,
    ``delay`` seconds or more before ``time``). ``raw`` is the aggregator's output before the
    policies (``None`` when it refused), ``sources`` the number of fresh sources it used.
    ``events`` holds the :class:`OracleStateChanged` produced by this update (zero or one).
    """

    asset: str
    time: int
    state: OracleState
    price: int | None
    price_time: int | None
    reason: str
    raw: int | None = None
    confidence: int | None = None
    sources: int = 0
    events: tuple[OracleStateChanged, ...] = ()

    @property
    def usable(self) -> bool:
        """True when the state is FRESH and a price is present."""
        return self.state is OracleState.FRESH and self.price is not None
