"""The steward's state in the ledger: its configuration, guardrails, pending proposals and the time of the
last application per (target, parameter).

Every value here is immutable; a handler builds a new :class:`StewardState` and the transaction commits it
whole, so a refusal changes nothing. The canonical encoding (:meth:`StewardState.encode`) lists everything
in sorted order and enters the state root only once the steward is used, so the roots of ledgers that never
configure it are unchanged.
"""

from __future__ import annotations

import msgspec

from clearhouse.steward.errors import InvalidGuardrail
from clearhouse.steward.guardrails import Guardrail

#: Default bound on pending proposals (keeps the state and the root's cost bounded).
MAX_PENDING = 64


def _check_key_hex(key: str, what: str) -> None:
    try:
        raw = bytes.fromhex(key)
    except ValueError:
        raise InvalidGuardrail(f"{what} {key!r} is not hex") from None
    if len(raw) != 32:
        raise InvalidGuardrail(f"{what} must be 32 bytes (ed25519), got {len(raw)}")


class StewardConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who proposes and applies (``controller``), who vetoes (``guardian``), what is never touched."""

    #: Hex ed25519 public keys (32 bytes).
    controller: str
    guardian: str
    #: Parameter names (e.g. ``"maintenance_margin"``, ``"disposal.tail"``) the controller may never touch,
    #: on any target, whatever guardrail is set.
    forbidden: tuple[str, ...] = ()
    max_pending: int = MAX_PENDING

    def validate(self) -> None:
        _check_key_hex(self.controller, "controller key")
        _check_key_hex(self.guardian, "guardian key")
        if self.controller == self.guardian:
            raise InvalidGuardrail("the controller and the guardian must be different keys")
        if list(self.forbidden) != sorted(set(self.forbidden)):
            raise InvalidGuardrail("forbidden parameters must be sorted and unique")
        if type(self.max_pending) is not int or not 1 <= self.max_pending <= 10_000:
            raise InvalidGuardrail(f"max_pending must be in [1, 10000], got {self.max_pending}")


class Proposal(msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """A pending controller proposal. ``previous`` is the live value of its own (target, parameter) when
    proposed; the applied event records the live value again at application."""

    id: int
    scope: str
    target: str
    parameter: str
    value: int
    previous: int
    proposed_at: int
    #: Earliest application time (proposal + timelock) and the time from which it is void.
    earliest: int
    expires_at: int


class StewardState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    config: StewardConfig | None = None
    #: ``scope:target/parameter`` -> guardrail.
    guardrails: dict[str, Guardrail] = {}
    #: ``scope:target/parameter`` -> block time of the last application.
    last_applied: dict[str, int] = {}
    #: Pending proposals by id.
    proposals: dict[int, Proposal] = {}
    next_id: int = 1

    def used(self) -> bool:
        """Anything but the empty state is hashed into the root (so no field can differ unseen)."""
        return self != _EMPTY

    def encode(self) -> list[object]:
        """Canonical value for the state root (sorted keys; proposals in id order)."""
        return [
            self.config,
            [[k, self.guardrails[k]] for k in sorted(self.guardrails)],
            sorted(self.last_applied.items()),
            [self.proposals[i] for i in sorted(self.proposals)],
            self.next_id,
        ]


_EMPTY = StewardState()

__all__ = ["MAX_PENDING", "Proposal", "StewardConfig", "StewardState"]
