"""The steward's transaction handlers: a controller proposes, the steward disposes.

Handlers take ``(ctx, command)`` like every mechanism's handler (``HANDLERS`` in this package). Each
builds a new immutable :class:`~clearhouse.steward.state.StewardState` and sets it on the transaction
context only after every check passed; a refusal raises a typed error and the transaction changes
nothing.

Who may send what is checked twice: the authorization layer (``auth.authorization.RULES``) requires the
signer of the envelope to be the key the command names (``controller`` / ``guardian``); these handlers
require that key to be the one in the steward's configuration. Unsigned simulation blocks only pass the
second check, which is why the command carries the key.

An application goes through the very handler an admin ``UpdateMarket`` / ``SetVolatility`` /
``UpdateVaultType`` would (the perps and vaults mechanisms' handlers), so margin, funding and liquidation
really use the new value and the ordinary ``MarketUpdated`` / ``VolatilitySet`` / ``VaultTypeUpdated``
events are emitted alongside ``ParameterApplied``.
"""

from __future__ import annotations

import msgspec

from clearhouse.ledger import commands as cmd
from clearhouse.ledger import events as ev
from clearhouse.ledger.kernel import Handler
from clearhouse.ledger.unit_of_work import TxContext
from clearhouse.mechanisms import perps
from clearhouse.mechanisms.steward import parameters as params
from clearhouse.mechanisms.vaults.positions import update_vault_type
from clearhouse.steward.errors import (
    NoGuardrail,
    NotController,
    NotGuardian,
    ParameterForbidden,
    ProposalExpired,
    StewardNotConfigured,
    TooManyProposals,
    UnknownProposal,
)
from clearhouse.steward.guardrails import Guardrail, check_timing, check_value
from clearhouse.steward.state import Proposal, StewardConfig, StewardState

#: The admin's code path for each parameter change the steward may apply.
_ADMIN_HANDLERS: dict[type[cmd.Command], Handler] = {
    cmd.UpdateMarket: perps.update_market,
    cmd.SetVolatility: perps.set_volatility,
    cmd.UpdateVaultType: update_vault_type,
}


def _dispatch(ctx: TxContext, command: cmd.Command) -> None:
    """Run ``command`` through the admin's own handler for its type."""
    command.check()
    _ADMIN_HANDLERS[type(command)](ctx, command)


def _config(steward: StewardState) -> StewardConfig:
    if steward.config is None:
        raise StewardNotConfigured("the steward is not configured (ConfigureSteward)")
    return steward.config


def _require_controller(steward: StewardState, key: str) -> StewardConfig:
    config = _config(steward)
    if key != config.controller:
        raise NotController(f"key {key[:16]}… is not the steward's controller key")
    return config


def _guardrail(
    steward: StewardState, config: StewardConfig, scope: str, target: str, parameter: str
) -> Guardrail:
    if parameter in config.forbidden:
        raise ParameterForbidden(f"{parameter} is on the steward's never-touch list")
    guard = steward.guardrails.get(params.key(scope, target, parameter))
    if guard is None:
        raise NoGuardrail(f"no guardrail for {params.key(scope, target, parameter)}")
    return guard


def _drop_expired(steward: StewardState, now: int, ctx: TxContext) -> dict[int, Proposal]:
    kept: dict[int, Proposal] = {}
    for pid in sorted(steward.proposals):
        proposal = steward.proposals[pid]
        if now >= proposal.expires_at:
            ctx.emit(ev.ProposalDropped(pid, "expired"))
        else:
            kept[pid] = proposal
    return kept


def configure_steward(ctx: TxContext, c: cmd.ConfigureSteward) -> None:
    steward = ctx.steward()
    for pid in sorted(steward.proposals):
        ctx.emit(ev.ProposalDropped(pid, "reconfigured"))
    ctx.set_steward(msgspec.structs.replace(steward, config=c.config, proposals={}))
    ctx.emit(ev.StewardConfigured(c.config.controller, c.config.guardian, c.config.forbidden))


def set_guardrail(ctx: TxContext, c: cmd.SetGuardrail) -> None:
    steward = ctx.steward()
    if steward.config is not None and c.parameter in steward.config.forbidden:
        raise ParameterForbidden(f"{c.parameter} is on the steward's never-touch list")
    params.read(ctx.state, c.scope, c.target, c.parameter)  # the target and the field must exist
    k = params.key(c.scope, c.target, c.parameter)
    guardrails = dict(steward.guardrails)
    g = c.guardrail
    if g is None:
        if k not in guardrails:
            raise NoGuardrail(f"no guardrail for {k} to remove")
        ctx.emit(_guardrail_event(c, guardrails.pop(k), removed=True))
    else:
        guardrails[k] = g
        ctx.emit(_guardrail_event(c, g, removed=False))
    ctx.set_steward(msgspec.structs.replace(steward, guardrails=guardrails))


def _guardrail_event(c: cmd.SetGuardrail, g: Guardrail, removed: bool) -> ev.GuardrailSet:
    return ev.GuardrailSet(
        c.scope, c.target, c.parameter, g.lower, g.upper, g.max_up, g.max_down, g.relative,
        g.min_interval, g.timelock, g.expiry, g.fast_direction, removed,
    )


def propose_parameter(ctx: TxContext, c: cmd.ProposeParameter) -> None:
    steward = ctx.steward()
    config = _require_controller(steward, c.controller)
    guard = _guardrail(steward, config, c.scope, c.target, c.parameter)
    what = params.key(c.scope, c.target, c.parameter)
    current = params.read(ctx.state, c.scope, c.target, c.parameter)
    check_value(guard, current, c.value, what)
    now = ctx.state.time
    proposals = _drop_expired(steward, now, ctx)
    if len(proposals) >= config.max_pending:
        raise TooManyProposals(f"{len(proposals)} proposals pending (max {config.max_pending})")
    pid = steward.next_id
    earliest = now if guard.is_fast(current, c.value) else now + guard.timelock
    expires_at = now + guard.expiry
    proposal = Proposal(pid, c.scope, c.target, c.parameter, c.value, current, now, earliest, expires_at)
    proposals[pid] = proposal
    ctx.set_steward(msgspec.structs.replace(steward, proposals=proposals, next_id=pid + 1))
    ctx.emit(
        ev.ParameterProposed(pid, c.scope, c.target, c.parameter, current, c.value, earliest, expires_at)
    )


def apply_parameter(ctx: TxContext, c: cmd.ApplyParameter) -> None:
    steward = ctx.steward()
    config = _require_controller(steward, c.controller)
    proposal = steward.proposals.get(c.proposal)
    if proposal is None:
        raise UnknownProposal(f"no pending proposal {c.proposal}")
    now = ctx.state.time
    if now >= proposal.expires_at:
        raise ProposalExpired(f"proposal {proposal.id} expired at {proposal.expires_at}, now {now}")
    scope, target, parameter = proposal.scope, proposal.target, proposal.parameter
    guard = _guardrail(steward, config, scope, target, parameter)
    k = params.key(scope, target, parameter)
    # The live value of this very (target, parameter), re-read now: never another market's last update.
    current = params.read(ctx.state, scope, target, parameter)
    check_value(guard, current, proposal.value, k)
    check_timing(guard, current, proposal.value, now, proposal.proposed_at, steward.last_applied.get(k), k)
    _dispatch(ctx, params.change_command(ctx.state, scope, target, parameter, proposal.value))
    proposals = {pid: p for pid, p in steward.proposals.items() if pid != proposal.id}
    last_applied = {**steward.last_applied, k: now}
    ctx.set_steward(msgspec.structs.replace(steward, proposals=proposals, last_applied=last_applied))
    ctx.emit(ev.ParameterApplied(proposal.id, scope, target, parameter, current, proposal.value))


def veto_proposal(ctx: TxContext, c: cmd.VetoProposal) -> None:
    steward = ctx.steward()
    config = _config(steward)
    if c.guardian != config.guardian:
        raise NotGuardian(f"key {c.guardian[:16]}… is not the steward's guardian key")
    if c.proposal not in steward.proposals:
        raise UnknownProposal(f"no pending proposal {c.proposal}")
    proposals = {pid: p for pid, p in steward.proposals.items() if pid != c.proposal}
    ctx.set_steward(msgspec.structs.replace(steward, proposals=proposals))
    ctx.emit(ev.ProposalVetoed(c.proposal, c.guardian, c.reason))


__all__ = ["apply_parameter", "configure_steward", "propose_parameter", "set_guardrail", "veto_proposal"]
