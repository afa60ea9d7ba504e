"""Typed refusals of the steward. Each changes nothing: the transaction is rejected whole."""

from __future__ import annotations

from clearhouse.core.errors import ClearhouseError, InvalidParameters, Unauthorized


class StewardNotConfigured(ClearhouseError):
    """A controller or guardian command before the admin configured the steward."""

    code = "steward_not_configured"


class NotController(Unauthorized):
    """A proposal or application from a key that is not the configured controller key."""

    code = "not_controller"


class NotGuardian(Unauthorized):
    """A veto from a key that is not the configured guardian key."""

    code = "not_guardian"


class ParameterForbidden(ClearhouseError):
    """The parameter is on the steward's never-touch list, or is not steerable at all."""

    code = "parameter_forbidden"


class NoGuardrail(ClearhouseError):
    """No guardrail is set for this (target, parameter): the controller may not move it."""

    code = "no_guardrail"


class InvalidGuardrail(InvalidParameters):
    code = "invalid_guardrail"


class OutOfBounds(ClearhouseError):
    """The proposed value lies outside the guardrail's ``[lower, upper]``."""

    code = "out_of_bounds"


class StepTooLarge(ClearhouseError):
    """The move from the current value exceeds the guardrail's step in that direction."""

    code = "step_too_large"


class ParameterUnchanged(ClearhouseError):
    """The proposed value equals the current one."""

    code = "parameter_unchanged"


class IntervalNotElapsed(ClearhouseError):
    """Less than ``min_interval`` seconds since the last application to this (target, parameter)."""

    code = "interval_not_elapsed"


class TimelockActive(ClearhouseError):
    """The proposal's timelock has not run out yet."""

    code = "timelock_active"


class ProposalExpired(ClearhouseError):
    """The proposal is older than its expiry: it is void and can never apply."""

    code = "proposal_expired"


class UnknownProposal(ClearhouseError):
    """No pending proposal has this id (never made, already applied, vetoed or dropped)."""

    code = "unknown_proposal"


class TooManyProposals(ClearhouseError):
    """The steward's bound on pending proposals is reached."""

    code = "too_many_proposals"


__all__ = [
    "IntervalNotElapsed",
    "InvalidGuardrail",
    "NoGuardrail",
    "NotController",
    "NotGuardian",
    "OutOfBounds",
    "ParameterForbidden",
    "ParameterUnchanged",
    "ProposalExpired",
    "StepTooLarge",
    "StewardNotConfigured",
    "TimelockActive",
    "TooManyProposals",
    "UnknownProposal",
]
