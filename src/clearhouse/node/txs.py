"""The adapter between signed envelopes and blocks: the only place an accepted envelope becomes what a
:class:`~clearhouse.ledger.block.Block` carries, and an engine outcome becomes a transaction status.

The engine admits signed envelopes itself (``Block.signed``, :mod:`clearhouse.mechanisms.signing.admission`:
chain, signature, expiry, nonce window, authorization, all journalled, so ``clearhouse verify`` re-checks
every signature and nonce). The node puts the canonical bytes it received into the block unchanged and
reads each transaction's outcome from the block's events. :func:`precheck` runs the same checks against
the current state at submission, only to answer a doomed transaction at once with its typed error; the
block decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from clearhouse.auth.authorization import AuthRegistry
from clearhouse.auth.envelope import SignedEnvelope
from clearhouse.auth.errors import WrongChain
from clearhouse.auth.nonces import check_expiry, check_nonce
from clearhouse.ledger.block import Block
from clearhouse.ledger.events import Event
from clearhouse.ledger.model import LedgerState
from clearhouse.mechanisms.signing.admission import ledger_auth, tx_outcomes, with_ledger_accounts


@dataclass(frozen=True, slots=True)
class Pending:
    """An envelope accepted into the mempool: its hash, canonical bytes and arrival sequence."""

    tx_hash: str
    signed: SignedEnvelope
    raw: bytes
    seq: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """A transaction's status in the node's words: ``included`` (applied in the block at ``index``),
    ``failed`` (in the block, nonce used, the command refused with ``code``), ``rejected`` or
    ``expired`` (refused by admission: not applied, nonce not used)."""

    tx_hash: str
    status: str
    height: int
    index: int | None = None
    code: str | None = None
    message: str = ""


def registry(state: LedgerState) -> AuthRegistry:
    """The ledger's registry with the owners of accounts it does not list yet (bootstrap accounts)."""
    auth = ledger_auth(state)
    if auth is None:
        raise WrongChain("the ledger has no chain id yet")
    return with_ledger_accounts(auth.state.registry, state)


def precheck(state: LedgerState, signed: SignedEnvelope, height: int, now_ms: int) -> None:
    """Expiry, nonce window and authorization against the current state (the signature was verified
    already); raises the typed refusal the block would record."""
    auth = ledger_auth(state)
    if auth is None:
        raise WrongChain("the ledger has no chain id yet")
    env = signed.envelope
    check_expiry(env.good_til_block, env.good_til_time, height, now_ms, auth.rules)
    check_nonce(auth.state.nonces.window(env.signer), env.nonce, now_ms, auth.rules)
    registry(state).authorize(env.signer, env.command)


def block_signed(pending: Sequence[Pending]) -> tuple[msgspec.Raw, ...]:
    """``Block.signed``: the canonical bytes as received (decode_signed checked them at the edge)."""
    return tuple(msgspec.Raw(p.raw) for p in pending)


def outcomes(block: Block, events: Sequence[Event]) -> list[Outcome]:
    """One :class:`Outcome` per signed transaction of ``block`` (bare genesis commands are skipped)."""
    out = []
    for o in tx_outcomes(block, list(events)):
        if o.tx_hash is None or o.tx_index < len(block.txs):
            continue
        if o.status == "applied":
            status = "included"
        elif o.status == "failed":
            status = "failed"
        else:
            status = "expired" if o.code == "expired" else "rejected"
        out.append(Outcome(o.tx_hash, status, block.height, o.tx_index, o.code, o.message))
    return out
