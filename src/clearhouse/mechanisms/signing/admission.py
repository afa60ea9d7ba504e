"""Signed transactions inside the engine: admission, the auth state in the root, signed reports.

A ledger uses signatures once a bare ``ConfigureAuth`` has run (genesis / bootstrap). From then on
``state.auth`` is a :class:`LedgerAuth`: the chain id, whether bare commands are refused, the replay
rules, and the :class:`~clearhouse.auth.state.AuthState` (nonce windows, ownership registry with
sub-keys, reporter whitelist, admin keys, fill book). Its :meth:`LedgerAuth.root` is appended to the
state root; ledgers without it keep their roots.

Each signed envelope of a block (``Block.signed``, the canonical bytes as received) goes through:

    decode (canonical bytes only) -> chain -> fields -> signature -> expiry -> nonce -> authorization

A refusal is a ``TransactionRejected`` with the error's code (``malformed_envelope``, ``wrong_chain``,
``bad_signature``, ``expired``, ``nonce_reused``, ``nonce_out_of_window``, ``unauthorized``, ...) and
changes nothing, not even the nonce. An admitted envelope emits ``TransactionAdmitted`` (its hash, signer
and nonce) and its nonce stays used whatever the command then does; the command runs atomically like a
bare one (its events, or a ``TransactionRejected`` of the same index). Registry and fill-book changes
are kept only when the command succeeds. ``clearhouse verify`` replays the same path, so it re-checks
every signature, nonce and authorization.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, cast, get_args

import msgspec

from clearhouse.auth.authorization import AccountKeys, AuthRegistry, registry
from clearhouse.auth.envelope import (
    SignedEnvelope,
    VerifyResult,
    decode_signed,
    encode_signed,
    signing_digest,
    verify,
    verify_many,
)
from clearhouse.auth.errors import Unauthorized, WrongChain
from clearhouse.auth.nonces import NonceBook, NonceWindow, ReplayRules, check_expiry, check_nonce
from clearhouse.auth.orders import SignedOrder, order_id, verify_order
from clearhouse.auth.reports import ReportSignature, verify_report
from clearhouse.auth.signing import check_chain_id, check_public_key
from clearhouse.auth.state import AuthState
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.commands import AnyCommand, ConfigureAuth
from clearhouse.ledger.errors import AlreadyExists, ClearhouseError, InvalidParameters, InvalidValue
from clearhouse.ledger.kernel import Handler
from clearhouse.ledger.model import LedgerState
from clearhouse.ledger.unit_of_work import BlockUndo, TxContext
from clearhouse.mechanisms.signing.auth_digest import EMPTY as EMPTY_NONCES
from clearhouse.mechanisms.signing.auth_digest import (
    NonceDigest,
    RegistryDigest,
    nonce_digest,
    registry_digest,
)

LEDGER_AUTH_DOMAIN = b"clearhouse/ledgerauth/v1\x00"


@dataclass(frozen=True, slots=True)
class LedgerAuth:
    """The auth part of a ledger's state: configuration and :class:`AuthState`. Immutable; the engine
    replaces it (once per block that changes it) with :meth:`after`, which keeps the digests of the parts
    that did not change, so the root costs O(what changed) (see :mod:`.auth_digest`)."""

    chain_id: str
    require_signatures: bool
    rules: ReplayRules
    state: AuthState
    #: Digests of ``state``'s parts, kept in step by :meth:`create` / :meth:`after` (not compared).
    nonce_digest: NonceDigest = field(default=EMPTY_NONCES, compare=False, repr=False)
    registry_digest: RegistryDigest | None = field(default=None, compare=False, repr=False)
    fills_root: bytes = field(default=b"", compare=False, repr=False)

    @classmethod
    def create(
        cls, chain_id: str, require_signatures: bool, rules: ReplayRules, state: AuthState
    ) -> LedgerAuth:
        """From scratch (genesis, or a check of the incremental digests)."""
        return cls(
            chain_id,
            require_signatures,
            rules,
            state,
            nonce_digest(state.nonces),
            registry_digest(state.registry),
            state.fills.root(),
        )

    def after(
        self, state: AuthState, changed_windows: dict[str, NonceWindow], changed_accounts: set[str]
    ) -> LedgerAuth:
        """This ledger auth with ``state``, whose nonce book differs from ours only in
        ``changed_windows`` and whose registry only in ``changed_accounts`` (and admins / reporters)."""
        old = self.state
        assert self.registry_digest is not None
        if state.registry is old.registry:
            registry = self.registry_digest
        else:
            registry = self.registry_digest.update(state.registry, sorted(changed_accounts))
        return LedgerAuth(
            self.chain_id,
            self.require_signatures,
            self.rules,
            state,
            self.nonce_digest.update(changed_windows),
            registry,
            self.fills_root if state.fills is old.fills else state.fills.root(),
        )

    def root(self) -> bytes:
        """``sha256(domain || u32(len(head)) || head || nonces_v2 || registry_v2 || fills.root())``, with
        ``head`` the canonical JSON of ``[chain_id, require_signatures, rules]``: 32 bytes appended to the
        ledger's state root input (the digests: :mod:`clearhouse.mechanisms.signing.auth_digest`)."""
        assert self.registry_digest is not None
        head = _encoder.encode([self.chain_id, self.require_signatures, self.rules])
        return hashlib.sha256(
            LEDGER_AUTH_DOMAIN
            + len(head).to_bytes(4, "big")
            + head
            + self.nonce_digest.root
            + self.registry_digest.root
            + self.fills_root
        ).digest()


_encoder = msgspec.json.Encoder(order="deterministic")


def ledger_auth(state: LedgerState) -> LedgerAuth | None:
    """The ledger's auth state with its full type (``LedgerState.auth`` is typed by the few fields the
    ledger itself reads, so the ledger need not import this mechanism)."""
    return cast("LedgerAuth | None", state.auth)


# -- genesis ---------------------------------------------------------------------------------------


def configure_auth(ctx: TxContext, c: ConfigureAuth) -> None:
    """``ConfigureAuth``: validate, build the registry (admins, and the owners of accounts that exist),
    and install the auth state. Nothing else may raise after ``state.auth`` is set."""
    state: LedgerState = ctx.state
    if state.auth is not None:
        raise AlreadyExists(f"this ledger already uses signatures (chain {state.auth.chain_id!r})")
    check_chain_id(c.chain_id)
    if type(c.require_signatures) is not bool:
        raise InvalidValue(f"require_signatures must be a bool, got {c.require_signatures!r}")
    rules = ReplayRules(
        c.nonce_capacity, c.max_nonce_age_ms, c.max_nonce_lead_ms, c.max_good_til_blocks, c.max_good_til_ms
    )
    rules.validate()
    if not c.admins:
        raise InvalidParameters("ConfigureAuth needs at least one admin key")
    reg = with_ledger_accounts(registry(c.admins), state)
    auth = LedgerAuth.create(c.chain_id, c.require_signatures, rules, AuthState(registry=reg))
    ctx.emit(ev.AuthConfigured(c.chain_id, reg.admins, c.require_signatures))
    _set_auth(state, ctx.undo, auth)


def with_ledger_accounts(reg: AuthRegistry, state: LedgerState) -> AuthRegistry:
    """The registry with every ledger account it lacks, owned by the account's ``owner`` key (accounts
    opened by bare commands during bootstrap). O(1) when nothing is missing."""
    if len(reg.accounts) >= len(state.accounts):
        return reg
    accounts = state.accounts
    missing = {a: AccountKeys(accounts[a].owner) for a in sorted(accounts) if a not in reg.accounts}
    return AuthRegistry(reg.admins, {**reg.accounts, **missing}, reg.reporters)


def _set_auth(state: LedgerState, undo: BlockUndo, auth: LedgerAuth) -> None:
    if undo.auth is None:
        undo.auth = (state.auth,)
    state.auth = auth


# -- signed reports --------------------------------------------------------------------------------


_BARE_TYPES = frozenset(get_args(AnyCommand))
_raw_tuple = msgspec.json.Decoder(tuple[msgspec.Raw, ...])


def check_block(state: LedgerState, block: Block) -> None:
    """Refuse a block (``InvalidValue``) whose content would not replay as it was applied: a signed or
    book entry that is not a ``msgspec.Raw`` (bytes would be journalled as base64) or not one JSON value
    byte for byte, or a bare transaction that is not a ledger command (auth commands travel only inside
    envelopes); then :func:`check_reports`."""
    _check_raw_entries(block, "signed", block.signed)
    # The book's inputs are hashed, not executed: the engine only checks that they journal byte for byte;
    # their content is checked by replaying them through the book (node restart, replicas,
    # ``clearhouse verify --book``; docs/book.md).
    _check_raw_entries(block, "book", block.book)
    for i, command in enumerate(block.txs):
        if type(command) not in _BARE_TYPES:
            raise InvalidValue(
                f"block {block.height}: txs[{i}] is a {type(command).__name__}, which only a signed envelope "
                "may carry"
            )
    check_reports(state, block)


def _check_raw_entries(block: Block, name: str, entries: tuple[msgspec.Raw, ...]) -> None:
    for i, raw in enumerate(entries):
        if type(raw) is not msgspec.Raw:
            raise InvalidValue(
                f"block {block.height}: {name}[{i}] is a {type(raw).__name__}, not a msgspec.Raw "
                "(build it with signed_tx)"
            )
    if entries:
        # What the journal will hold must decode to the very bytes applied now (garbage or surrounding
        # whitespace would otherwise make the live block and its replay disagree).
        try:
            back = _raw_tuple.decode(_encoder.encode(entries))
        except msgspec.DecodeError:
            raise InvalidValue(f"block {block.height}: a {name} entry is not a JSON value") from None
        if len(back) != len(entries):
            raise InvalidValue(f"block {block.height}: {name} entries run into each other")
        for i, (raw, again) in enumerate(zip(entries, back, strict=True)):
            if bytes(raw) != bytes(again):
                raise InvalidValue(f"block {block.height}: {name}[{i}] would not journal byte for byte")


def check_reports(state: LedgerState, block: Block) -> None:
    """Every signature in ``block.report_signatures`` verifies and comes from the key whitelisted for its
    report's source and feed; on a ledger that requires signatures every report must be signed. Raises
    (``BadSignature``, ``Unauthorized``, ``WrongChain``, ``InvalidValue``): the block is refused, as for
    any bad report."""
    auth = ledger_auth(state)
    sigs = block.report_signatures
    if auth is None:
        if sigs:
            raise WrongChain(f"block {block.height}: signed reports, but the ledger has no chain id")
        return
    if sigs and len(sigs) != len(block.reports):
        raise InvalidValue(
            f"block {block.height}: {len(sigs)} report signatures for {len(block.reports)} reports"
        )
    if not sigs:
        if auth.require_signatures and block.reports:
            r = block.reports[0]
            raise Unauthorized(f"block {block.height}: report of {r.asset}/{r.source} is not signed")
        return
    reg = auth.state.registry
    for report, sig in zip(block.reports, sigs, strict=True):
        verify_report(report, ReportSignature(sig.signer, sig.signature), auth.chain_id, reg)


# -- signed transactions ---------------------------------------------------------------------------


def admit(
    signed: SignedEnvelope,
    window: NonceWindow,
    reg: AuthRegistry,
    auth: LedgerAuth,
    *,
    height: int,
    now_ms: int,
    cache: VerifiedSignatures | None = None,
) -> tuple[bytes, NonceWindow]:
    """The transaction hash and the signer's nonce window after it, or the typed refusal (nothing
    changed). The same checks, in the same order, as :func:`clearhouse.auth.state.admit_transaction`;
    ``cache`` only saves re-running ed25519 on signatures verified before (same result)."""
    digest = verify(signed, auth.chain_id) if cache is None else cache.check(signed, auth.chain_id)
    env = signed.envelope
    check_expiry(env.good_til_block, env.good_til_time, height, now_ms, auth.rules)
    new_window = check_nonce(window, env.nonce, now_ms, auth.rules)
    reg.authorize(env.signer, env.command)
    return digest, new_window


def apply_signed(
    state: LedgerState,
    handlers: Mapping[type[Any], Handler],
    cache: VerifiedSignatures | None,
    block: Block,
    undo: BlockUndo,
    events: list[ev.Event],
    touched: set[str],
) -> None:
    """Step 3b of a block: the signed envelopes, in order, after the bare transactions."""
    from clearhouse.mechanisms.signing.auth_handlers import BlockFills, execute

    auth = ledger_auth(state)
    base = len(block.txs)
    if auth is None:
        why = "the ledger has no chain id (no ConfigureAuth)"
        for i in range(len(block.signed)):
            events.append(ev.TransactionRejected(base + i, "SignedEnvelope", WrongChain.code, why))
        return
    height, now_ms = block.height, block.time * 1000
    reg = with_ledger_accounts(auth.state.registry, state)
    changed_accounts: set[str] = set()
    if reg is not auth.state.registry:
        changed_accounts.update(a for a in reg.accounts if a not in auth.state.registry.accounts)
    private = False  # whether reg.accounts is this block's own copy (then opened accounts go in place)
    fills = BlockFills(auth.state.fills)
    windows: dict[str, NonceWindow] | None = None  # copied once, at the block's first admitted nonce
    changed: dict[str, NonceWindow] = {}
    for i, raw in enumerate(block.signed):
        index = base + i
        name = "SignedEnvelope"
        try:
            signed = decode_signed(bytes(raw))
            name = type(signed.envelope.command).__name__
            env = signed.envelope
            window = (windows if windows is not None else auth.state.nonces.windows).get(env.signer, ())
            digest, window = admit(signed, window, reg, auth, height=height, now_ms=now_ms, cache=cache)
        except ClearhouseError as err:
            events.append(ev.TransactionRejected(index, name, err.code, str(err)))
            continue
        if windows is None:
            windows = dict(auth.state.nonces.windows)
        windows[env.signer] = changed[env.signer] = window
        events.append(ev.TransactionAdmitted(index, digest.hex(), env.signer, env.nonce))
        ctx = TxContext(state, undo)
        try:
            effects = execute(ctx, handlers, cache, env.signer, env.command, reg, fills, auth.chain_id)
        except ClearhouseError as err:
            events.append(ev.TransactionRejected(index, name, err.code, str(err)))
            continue
        touched.update(ctx.commit())
        events.extend(ctx.events)
        fills.changes.update(effects.fills)
        if effects.registry is not reg:
            reg, private = effects.registry, False
        if effects.opened is not None:
            if not private:
                reg, private = AuthRegistry(reg.admins, dict(reg.accounts), reg.reporters), True
            reg.accounts[effects.opened[0]] = effects.opened[1]
            changed_accounts.add(effects.opened[0])
        changed_accounts.update(effects.accounts)
    book = fills.book()
    if book.orders:
        live = book.prune(height, now_ms)
        if len(live.orders) != len(book.orders):
            book = live
    old = auth.state
    nonces = old.nonces if windows is None else NonceBook(windows)
    if nonces is not old.nonces or reg is not old.registry or book is not old.fills:
        _set_auth(state, undo, auth.after(AuthState(nonces, reg, book), changed, changed_accounts))


# -- helpers for drivers ---------------------------------------------------------------------------


class VerifiedSignatures:
    """Signatures a driver already verified (e.g. a node at submission, in a thread pool), so that the
    block does not run ed25519 a second time for them.

    Attach with ``engine.signature_cache = VerifiedSignatures()``. It holds only triples that passed
    :func:`clearhouse.auth.envelope.verify` itself (nothing can be inserted unverified), and a lookup
    happens after the chain and field checks and over the freshly computed digest, so the engine's result
    is the same with or without it: replay (``verify``, which attaches none) re-checks everything. Bounded:
    the oldest entries are dropped beyond ``capacity``, which only costs a re-verification.
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self._seen: dict[tuple[bytes, str, str], None] = {}
        self._lock = threading.Lock()  # submissions may come from several threads
        self.hits = 0

    def __len__(self) -> int:
        return len(self._seen)

    def verify(self, signed: SignedEnvelope, chain_id: str) -> bytes:
        """:func:`~clearhouse.auth.envelope.verify`, remembering a success; returns the hash."""
        digest = verify(signed, chain_id)
        self._remember((digest, signed.envelope.signer, signed.signature))
        return digest

    def verify_many(
        self, signed: list[SignedEnvelope], chain_id: str, executor: Executor | None = None
    ) -> list[VerifyResult]:
        """:func:`~clearhouse.auth.envelope.verify_many` (thread pool optional), remembering successes."""
        results = verify_many(signed, chain_id, executor=executor)
        for env, result in zip(signed, results, strict=True):
            if isinstance(result, bytes):
                self._remember((result, env.envelope.signer, env.signature))
        return results

    def check(self, signed: SignedEnvelope, chain_id: str) -> bytes:
        """What :func:`verify` returns or raises, skipping ed25519 for a remembered signature."""
        env = signed.envelope
        if env.chain_id != chain_id:
            return verify(signed, chain_id)  # raises WrongChain
        env.check()
        digest = signing_digest(env)
        if (digest, env.signer, signed.signature) in self._seen:
            self.hits += 1
            return digest
        return verify(signed, chain_id)

    def verify_order(self, signed: SignedOrder, chain_id: str) -> bytes:
        """:func:`~clearhouse.auth.orders.verify_order`, remembering a success; returns the order id."""
        oid = verify_order(signed, chain_id)
        self._remember((oid, signed.signer, signed.signature))
        return oid

    def check_order(self, signed: SignedOrder, chain_id: str) -> bytes:
        """What :func:`~clearhouse.auth.orders.verify_order` returns or raises, skipping ed25519 for a
        remembered signature (orders are signed under their own domain, so ids never collide with
        transaction hashes)."""
        order = signed.order
        if order.chain_id != chain_id:
            return verify_order(signed, chain_id)  # raises WrongChain
        order.check()
        check_public_key(signed.signer)
        oid = order_id(order)
        if (oid, signed.signer, signed.signature) in self._seen:
            self.hits += 1
            return oid
        return verify_order(signed, chain_id)

    def _remember(self, key: tuple[bytes, str, str]) -> None:
        with self._lock:
            self._seen[key] = None
            while len(self._seen) > self.capacity:
                del self._seen[next(iter(self._seen))]


def signed_tx(signed: SignedEnvelope | bytes) -> msgspec.Raw:
    """What goes into ``Block.signed``: the canonical bytes of a signed envelope (bytes received from a
    client are checked to be canonical first, so what is journalled is exactly what was signed)."""
    data = encode_signed(signed) if isinstance(signed, SignedEnvelope) else decode_and_keep(signed)
    return msgspec.Raw(data)


def decode_and_keep(data: bytes) -> bytes:
    decode_signed(data)
    return bytes(data)


def tx_hash(signed: SignedEnvelope | bytes | msgspec.Raw) -> str:
    """The transaction hash (hex) a node acknowledges: the digest the signer signed."""
    if not isinstance(signed, SignedEnvelope):
        signed = decode_signed(bytes(signed))
    return signing_digest(signed.envelope).hex()


@dataclass(frozen=True, slots=True)
class TxOutcome:
    """What happened to transaction ``tx_index`` of a block.

    ``status``: ``"applied"`` (admitted and executed), ``"failed"`` (admitted, nonce used, the command
    refused with ``code``), ``"refused"`` (not admitted, nothing changed, nonce not used) or, for bare
    commands, ``"applied"`` / ``"refused"``."""

    tx_index: int
    status: str
    tx_hash: str | None = None
    code: str | None = None
    message: str = ""


def tx_outcomes(block: Block, events: tuple[ev.Event, ...] | list[ev.Event]) -> list[TxOutcome]:
    """One :class:`TxOutcome` per transaction of ``block`` (bare ones first, then signed), from the
    events of its ``BlockResult``."""
    admitted: dict[int, str] = {}
    rejected: dict[int, ev.TransactionRejected] = {}
    for e in events:
        if isinstance(e, ev.TransactionAdmitted):
            admitted[e.tx_index] = e.tx_hash
        elif isinstance(e, ev.TransactionRejected):
            rejected[e.tx_index] = e
    out = []
    for i in range(len(block.txs) + len(block.signed)):
        h = admitted.get(i)
        if h is None and i >= len(block.txs):
            try:
                h = tx_hash(block.signed[i - len(block.txs)])
            except ClearhouseError:
                h = None
        r = rejected.get(i)
        if r is None:
            out.append(TxOutcome(i, "applied", h))
        else:
            status = "failed" if i in admitted else "refused"
            out.append(TxOutcome(i, status, h, r.code, r.message))
    return out


__all__ = [
    "LEDGER_AUTH_DOMAIN",
    "LedgerAuth",
    "TxOutcome",
    "VerifiedSignatures",
    "admit",
    "apply_signed",
    "check_block",
    "check_reports",
    "configure_auth",
    "signed_tx",
    "tx_hash",
    "tx_outcomes",
]
