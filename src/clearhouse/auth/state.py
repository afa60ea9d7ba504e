"""The authentication state of a ledger and the admission of one signed transaction.

:class:`AuthState` bundles the three values the engine will keep and hash into its state root: the
nonce book, the ownership registry and the fill book. :func:`admit_transaction` is the gate every signed
transaction passes before its command runs:

    chain -> fields -> signature -> expiry -> nonce -> authorization

If any step refuses, it raises the typed error and the state is unchanged (the nonce is *not* used up,
so a client can fix and resend). If all pass, the returned state has the nonce recorded. The engine
keeps that state even when the command itself then fails (``InsufficientMargin`` …): a signed command
that was admitted cannot be replayed later when it would succeed, as in Ethereum, where a reverted
transaction still uses its nonce. Registry changes (``OpenAccount``, sub-keys, reporters) are applied by
the command's handler with :meth:`AuthRegistry.apply` once the command succeeds, so the registry never
gets ahead of the ledger.
"""

from __future__ import annotations

import hashlib

import msgspec

from clearhouse.auth.authorization import AuthRegistry
from clearhouse.auth.clearing import FillBook
from clearhouse.auth.envelope import SignedEnvelope, verify
from clearhouse.auth.nonces import DEFAULT_RULES, NonceBook, ReplayRules, check_expiry

STATE_DOMAIN = b"clearhouse/authstate/v1\x00"


class AuthState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nonces: NonceBook = NonceBook()
    registry: AuthRegistry = AuthRegistry()
    fills: FillBook = FillBook()

    def root(self) -> bytes:
        """``sha256(domain || nonces.root() || registry.root() || fills.root())``."""
        return hashlib.sha256(
            STATE_DOMAIN + self.nonces.root() + self.registry.root() + self.fills.root()
        ).digest()


def admit_transaction(
    state: AuthState,
    signed: SignedEnvelope,
    *,
    chain_id: str,
    height: int,
    now_ms: int,
    rules: ReplayRules = DEFAULT_RULES,
) -> tuple[AuthState, bytes]:
    """The state with the envelope's nonce used, and the transaction hash; or a typed refusal
    (:class:`WrongChain`, :class:`BadSignature`, :class:`Expired`, :class:`NonceReused`,
    :class:`Unauthorized`, ``InvalidValue``) with ``state`` unchanged."""
    digest = verify(signed, chain_id)
    env = signed.envelope
    check_expiry(env.good_til_block, env.good_til_time, height, now_ms, rules)
    window = state.nonces.check(env.signer, env.nonce, now_ms, rules)
    state.registry.authorize(env.signer, env.command)
    nonces = NonceBook({**state.nonces.windows, env.signer: window})
    return AuthState(nonces, state.registry, state.fills), digest


__all__ = ["STATE_DOMAIN", "AuthState", "admit_transaction"]
