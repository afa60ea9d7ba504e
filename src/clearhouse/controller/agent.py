"""The controller's agent: turns wanted values into guarded ``ProposeParameter`` / ``ApplyParameter`` txs.

It reads the guardrails and pending proposals from the ledger, proposes only the largest step the
guardrail allows towards the wanted value (so refusals are rare, never needed), at most one pending
proposal per (target, parameter), and applies a proposal as soon as its timelock and the parameter's
interval allow. When a guardrail has no timelock and the interval has run out it proposes and applies in
the same block (the proposal id is predicted from the steward's ``next_id``; if another steward transaction
comes first, the apply is refused and retried the next time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clearhouse.controller.base import Change, Controller, Observation
from clearhouse.core.errors import ClearhouseError
from clearhouse.ledger import commands as cmd
from clearhouse.ledger.model import LedgerState
from clearhouse.mechanisms.steward import parameters as params
from clearhouse.steward.guardrails import Guardrail


@dataclass
class AgentStats:
    proposed: int = 0
    applies_sent: int = 0
    #: Wanted values the guardrails clipped (a smaller step than wanted was proposed, or none).
    clipped: int = 0
    #: Wanted changes for which no guardrail exists (the controller may not touch them).
    unguarded: int = 0


def _ordered(changes: Sequence[Change], state: LedgerState) -> list[Change]:
    """Raise ``initial_margin`` before ``maintenance_margin`` (and lower it after), so each single change
    keeps ``maintenance < initial`` whenever the final pair does."""

    def rank(ch: Change) -> tuple[str, int]:
        if ch.scope != "market" or ch.parameter not in ("initial_margin", "maintenance_margin"):
            return (ch.target, 2)
        market = state.markets.get(ch.target)
        current = market.spec.maintenance_margin if market is not None else 0
        rising = any(
            c.target == ch.target and c.parameter == "maintenance_margin" and c.value > current
            for c in changes
        )
        first = "initial_margin" if rising else "maintenance_margin"
        return (ch.target, 0 if ch.parameter == first else 1)

    return sorted(changes, key=rank)


class StewardAgent:
    """Runs one controller against the ledger with the controller key ``key`` (hex)."""

    def __init__(self, controller: Controller, key: str) -> None:
        self.controller = controller
        self.key = key
        self.stats = AgentStats()

    def _due(self, guard: Guardrail, state: LedgerState, k: str, current: int, value: int, at: int) -> bool:
        if guard.is_fast(current, value):
            return True
        last = state.steward.last_applied.get(k)
        return last is None or at - last >= guard.min_interval

    def transactions(self, state: LedgerState, obs: Observation) -> list[cmd.AnyCommand]:
        """Observe, decide and return the transactions to send now (for a block at ``obs.time``)."""
        wanted = self.controller.update(obs)
        steward = state.steward
        now = obs.time
        pending = {
            params.key(p.scope, p.target, p.parameter): p
            for p in sorted(steward.proposals.values(), key=lambda p: p.id)
            if now < p.expires_at
        }
        next_id = steward.next_id
        out: list[cmd.AnyCommand] = []
        for ch in _ordered(wanted, state):
            k = params.key(ch.scope, ch.target, ch.parameter)
            guard = steward.guardrails.get(k)
            if guard is None or (steward.config is not None and ch.parameter in steward.config.forbidden):
                self.stats.unguarded += 1
                continue
            try:
                current = params.read(state, ch.scope, ch.target, ch.parameter)
            except ClearhouseError:
                continue
            p = pending.get(k)
            if p is not None:
                towards = (p.value - current) * (ch.value - current) > 0
                if towards and now >= p.earliest and self._due(guard, state, k, current, p.value, now):
                    out.append(cmd.ApplyParameter(self.key, p.id))
                    self.stats.applies_sent += 1
                continue  # one pending proposal per parameter; a stale one is left to expire
            value = guard.nearest(current, ch.value)
            if value != ch.value:
                self.stats.clipped += 1
            if value == current:
                continue
            earliest = now if guard.is_fast(current, value) else now + guard.timelock
            if not self._due(guard, state, k, current, value, now + guard.expiry - 1):
                continue  # could never apply before it expires
            out.append(cmd.ProposeParameter(self.key, ch.scope, ch.target, ch.parameter, value))  # type: ignore[arg-type]
            self.stats.proposed += 1
            if earliest == now and self._due(guard, state, k, current, value, now):
                out.append(cmd.ApplyParameter(self.key, next_id))
                self.stats.applies_sent += 1
            next_id += 1
        return out


__all__ = ["AgentStats", "StewardAgent"]
