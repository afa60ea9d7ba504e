"""The steward seen from the node: ``GET /v1/steward`` and its Prometheus metrics.

The view is read from the ledger (``LedgerState.steward``): configuration, guardrails, pending proposals
(with their earliest application and expiry times) and, per guarded parameter, its live value and the time
of its last application. The metrics are every steerable parameter's live value per market / vault type
(the raw integer: WAD fractions are x 1e18) and steward outcomes counted from the block events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from clearhouse.ledger import events as ev
from clearhouse.ledger.engine import BlockResult
from clearhouse.ledger.errors import ClearhouseError
from clearhouse.ledger.model import LedgerState
from clearhouse.mechanisms.steward import parameters as params
from clearhouse.steward.names import MARKET_FIELDS, VAULT_FIELDS, VOL

#: The commands whose refusal counts as a refused steward transaction.
STEWARD_COMMANDS = frozenset({"ProposeParameter", "ApplyParameter", "VetoProposal"})


def _split_key(k: str) -> tuple[str, str, str]:
    scope, _, rest = k.partition(":")
    target, _, parameter = rest.partition("/")
    return scope, target, parameter


def _live(state: LedgerState, scope: str, target: str, parameter: str) -> int | None:
    try:
        return params.read(state, scope, target, parameter)
    except (ClearhouseError, AttributeError):
        return None


def steward_view(state: LedgerState) -> dict[str, Any]:
    """JSON of the steward now (exact integers)."""
    st = state.steward
    config = None if st.config is None else msgspec.to_builtins(st.config)
    guardrails = []
    for k in sorted(st.guardrails):
        scope, target, parameter = _split_key(k)
        guardrails.append({
            "key": k, "scope": scope, "target": target, "parameter": parameter,
            "value": _live(state, scope, target, parameter), "last_applied_at": st.last_applied.get(k),
            "guardrail": msgspec.to_builtins(st.guardrails[k]),
        })
    pending = [
        {
            "id": p.id, "key": params.key(p.scope, p.target, p.parameter), "scope": p.scope,
            "target": p.target, "parameter": p.parameter, "value": p.value, "previous": p.previous,
            "proposed_at": p.proposed_at, "earliest": p.earliest, "expires_at": p.expires_at,
            "expired": state.time >= p.expires_at,
        }
        for p in (st.proposals[i] for i in sorted(st.proposals))
    ]
    last_applied = {
        k: {"time": t, "value": _live(state, *_split_key(k))} for k, t in sorted(st.last_applied.items())
    }
    return {
        "time": state.time, "configured": st.config is not None, "config": config,
        "guardrails": guardrails, "pending": pending, "last_applied": last_applied, "next_id": st.next_id,
    }


def _int_leaves(struct: object) -> list[str]:
    fields = getattr(struct, "__struct_fields__", ())
    return sorted(f for f in fields if type(getattr(struct, f)) is int)


def steerable_values(state: LedgerState) -> Iterator[tuple[str, str, str, int]]:
    """(scope, target, parameter, live value) of every steerable parameter of every market and vault type."""
    for mid in sorted(state.markets):
        spec = state.markets[mid].spec
        names = [*sorted(MARKET_FIELDS), VOL]
        names += [f"liquidation.{f}" for f in _int_leaves(spec.liquidation)]
        names += [f"margin_model.{f}" for f in _int_leaves(spec.margin_model)]
        for name in names:
            value = _live(state, "market", mid, name)
            if value is not None:
                yield "market", mid, name, value
    for vid in sorted(state.vault_types):
        vspec = state.vault_types[vid].spec
        for name in sorted(VAULT_FIELDS) + [f"disposal.{f}" for f in _int_leaves(vspec.disposal)]:
            value = _live(state, "vault_type", vid, name)
            if value is not None:
                yield "vault_type", vid, name, value


class StewardMetrics:
    """``clearhouse_parameter{scope,target,parameter}`` (live value) and
    ``clearhouse_steward_proposals_total{outcome}`` (proposed, applied, vetoed, expired, reconfigured,
    refused) on the node's registry."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge

        self.value = Gauge("clearhouse_parameter", "Live value of a steerable parameter (raw integer; WAD "
                           "fractions are x 1e18)", ["scope", "target", "parameter"], registry=registry)
        self.outcomes = Counter("clearhouse_steward_proposals", "Steward proposals by outcome", ["outcome"],
                                registry=registry)
        for o in ("proposed", "applied", "vetoed", "expired", "reconfigured", "refused"):
            self.outcomes.labels(o)

    def on_block(self, result: BlockResult, seconds: float) -> None:
        for e in result.events:
            if isinstance(e, ev.ParameterProposed):
                self.outcomes.labels("proposed").inc()
            elif isinstance(e, ev.ParameterApplied):
                self.outcomes.labels("applied").inc()
            elif isinstance(e, ev.ProposalVetoed):
                self.outcomes.labels("vetoed").inc()
            elif isinstance(e, ev.ProposalDropped):
                self.outcomes.labels(e.reason).inc()
            elif isinstance(e, ev.TransactionRejected) and e.command in STEWARD_COMMANDS:
                self.outcomes.labels("refused").inc()

    def render(self, state: LedgerState) -> None:
        for scope, target, parameter, value in steerable_values(state):
            self.value.labels(scope, target, parameter).set(value)


__all__ = ["StewardMetrics", "steerable_values", "steward_view"]
