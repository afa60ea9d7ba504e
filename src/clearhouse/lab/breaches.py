"""Breach and insolvency bookkeeping of a path: every breach has an outcome, every close-out a class.

A *bucket* is an account's cross margin ``(account, None)`` or one isolated position
``(account, market)``. The runner reports, per block ``k``:

1. :meth:`BreachTracker.liquidated` for every close-out / liquidation event of a population bucket in
   block ``k`` (in event order);
2. :meth:`BreachTracker.observe` with the buckets below maintenance and the buckets under water
   (equity < 0) seen by the screening after block ``k``.

A **breach** is a run of observations below maintenance. It ends *enforced* (a close-out or
liquidation hit it; the delay is the blocks from the first observation below maintenance to the first
enforcement), *recovered* (back above maintenance with no enforcement: price or a top-up), or is still
*open at the horizon* (its age is a right-censored delay). A close-out with no breach observed before
it (the bucket fell below maintenance and was enforced within one block) opens and enforces a breach at
once: a delay of 0 blocks (< 1 block). Every close-out is exactly one of ``first_in_breach``,
``within_block`` or ``further_in_breach`` (the other positions of the same cross close-out, or the later
steps of a partial liquidation of a breach already enforced); they add up to the close-outs.

An **insolvency episode** is a run of observations with equity < 0 (the same screening); its length is
what an account spent under water.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from clearhouse.lab.survival import SurvivalTable
from clearhouse.ledger.enforcement import Target

CLOSEOUT_CLASSES = ("first_in_breach", "within_block", "further_in_breach")
OUTCOMES = ("enforced", "recovered", "open_at_horizon")


@dataclass
class _Breach:
    start: int
    enforced: int | None = None


@dataclass
class BreachTracker:
    """Breach episodes (for the censoring-aware delay) and insolvency episodes of one path."""

    open: dict[Target, _Breach] = field(default_factory=dict)
    #: Per breach that ended or was censored: (blocks, True if enforced).
    samples: list[tuple[int, bool]] = field(default_factory=list)
    #: Delay (blocks) of every enforced breach.
    enforced_delays: list[int] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    closeouts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLOSEOUT_CLASSES, 0))
    #: Ages (blocks) at the horizon of breaches never enforced.
    open_ages: list[int] = field(default_factory=list)
    under_water: dict[Target, int] = field(default_factory=dict)
    #: Lengths (blocks observed under water) of insolvency episodes that ended, and of those still
    #: open at the horizon.
    insolvency_ended: list[int] = field(default_factory=list)
    insolvency_open: list[int] = field(default_factory=list)
    ever_under_water: set[Target] = field(default_factory=set)
    _hit: set[Target] = field(default_factory=set)
    _finished: bool = False

    def liquidated(self, block: int, bucket: Target) -> str:
        """Record one close-out / liquidation event of ``bucket`` in ``block``; returns its class."""
        self._hit.add(bucket)
        breach = self.open.get(bucket)
        if breach is None:
            self.open[bucket] = _Breach(block, block)
            self.enforced_delays.append(0)
            kind = "within_block"
        elif breach.enforced is None:
            breach.enforced = block
            self.enforced_delays.append(block - breach.start)
            kind = "first_in_breach"
        else:
            kind = "further_in_breach"
        self.closeouts[kind] += 1
        return kind

    def observe(self, block: int, below: Collection[Target], under_water: Collection[Target]) -> None:
        """The screening after ``block``: buckets below maintenance and buckets with equity < 0.

        A bucket enforced in this block keeps its breach open until the next observation (with a
        backstop the screening is taken before the block's own enforcement)."""
        hit, self._hit = self._hit, set()
        for bucket in [b for b in self.open if b not in below and b not in hit]:
            breach = self.open.pop(bucket)
            if breach.enforced is not None:
                self.outcomes["enforced"] += 1
                self.samples.append((breach.enforced - breach.start, True))
            else:
                self.outcomes["recovered"] += 1
                self.samples.append((block - breach.start, False))
        for bucket in below:
            if bucket not in self.open and bucket not in hit:
                self.open[bucket] = _Breach(block)
        for bucket in [b for b in self.under_water if b not in under_water]:
            self.insolvency_ended.append(block - self.under_water.pop(bucket))
        for bucket in under_water:
            if bucket not in self.under_water:
                self.under_water[bucket] = block
                self.ever_under_water.add(bucket)

    def finish(self, last_block: int) -> None:
        """Close the books at the horizon (after the last observation, ``last_block``)."""
        if self._finished:
            return
        self._finished = True
        for breach in self.open.values():
            if breach.enforced is not None:
                self.outcomes["enforced"] += 1
                self.samples.append((breach.enforced - breach.start, True))
            else:
                self.outcomes["open_at_horizon"] += 1
                self.open_ages.append(last_block - breach.start)
                self.samples.append((last_block - breach.start, False))
        self.open.clear()
        # observed under water from ``start`` through ``last_block``: that many blocks
        self.insolvency_open = [last_block - start + 1 for start in self.under_water.values()]

    def table(self, block_time: int) -> SurvivalTable:
        """The delay samples in seconds (blocks × ``block_time``)."""
        return SurvivalTable.from_samples(
            [d * block_time for d, _ in self.samples], [o for _, o in self.samples]
        )
