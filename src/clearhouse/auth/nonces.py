"""Replay protection as a state value: per-signer nonce windows and expiry rules.

Rules (Hyperliquid's nonce set, dYdX's good-til-block window), judged against the block, never a clock:

* each signer keeps the ``capacity`` (100) highest nonces it has used;
* a new nonce is accepted only if it is not kept already and, once the set is full, above the smallest
  kept one (every nonce ever evicted is below it, so nothing can be used twice);
* and only within ``[now - max_nonce_age_ms, now + max_nonce_lead_ms]`` of the block time in
  milliseconds (a day each way by default): old signed transactions die, and a client clock running
  far ahead cannot burn its own future nonces;
* ``good_til_block`` must lie in ``[height, height + max_good_til_blocks]`` and ``good_til_time`` in
  ``[now, now + max_good_til_ms]``.

Every check computes the new value before anything is stored; :meth:`NonceBook.accept` returns a new book
and leaves the old one as it was, so a refusal changes nothing. :meth:`NonceBook.encode` is the canonical
bytes an engine hashes into its state root.
"""

from __future__ import annotations

import bisect
import hashlib
import struct

import msgspec

from clearhouse.auth.envelope import Envelope, SignedEnvelope, verify
from clearhouse.auth.errors import Expired, NonceOutOfWindow, NonceReused
from clearhouse.auth.signing import check_public_key
from clearhouse.ledger.errors import InvalidValue

DAY_MS = 86_400_000
NONCES_DOMAIN = b"clearhouse/nonces/v1\x00"


class ReplayRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Parameters of replay protection (part of the chain's configuration, not of a transaction)."""

    capacity: int = 100
    max_nonce_age_ms: int = DAY_MS
    max_nonce_lead_ms: int = DAY_MS
    #: dYdX's ShortBlockWindow is 20 blocks (40 in some versions).
    max_good_til_blocks: int = 20
    max_good_til_ms: int = DAY_MS

    def validate(self) -> None:
        if type(self.capacity) is not int or not 1 <= self.capacity <= 2**16:
            raise InvalidValue(f"nonce capacity must be in [1, 65536], got {self.capacity!r}")
        for name in ("max_nonce_age_ms", "max_nonce_lead_ms", "max_good_til_blocks", "max_good_til_ms"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise InvalidValue(f"{name} must be an integer >= 0, got {value!r}")


DEFAULT_RULES = ReplayRules()

#: A signer's kept nonces, ascending, at most ``capacity`` long.
NonceWindow = tuple[int, ...]


def check_nonce(
    window: NonceWindow, nonce: int, now_ms: int, rules: ReplayRules = DEFAULT_RULES
) -> NonceWindow:
    """The window after accepting ``nonce`` at block time ``now_ms``; raises :class:`NonceReused` (or
    its subclass :class:`NonceOutOfWindow`) and returns nothing if it must be refused."""
    if type(nonce) is not int or not 0 <= nonce < 2**64:
        raise InvalidValue(f"nonce must be an integer in [0, 2^64), got {nonce!r}")
    if nonce < now_ms - rules.max_nonce_age_ms:
        raise NonceOutOfWindow(
            f"nonce {nonce} is more than {rules.max_nonce_age_ms} ms before block time {now_ms}"
        )
    if nonce > now_ms + rules.max_nonce_lead_ms:
        raise NonceOutOfWindow(
            f"nonce {nonce} is more than {rules.max_nonce_lead_ms} ms after block time {now_ms}"
        )
    i = bisect.bisect_left(window, nonce)
    if i < len(window) and window[i] == nonce:
        raise NonceReused(f"nonce {nonce} was used already")
    if len(window) >= rules.capacity and nonce <= window[0]:
        raise NonceReused(f"nonce {nonce} is not above the smallest of the {len(window)} kept ({window[0]})")
    new = (*window[:i], nonce, *window[i:])
    return new[len(new) - rules.capacity :] if len(new) > rules.capacity else new


def check_expiry(
    good_til_block: int | None,
    good_til_time: int | None,
    height: int,
    now_ms: int,
    rules: ReplayRules = DEFAULT_RULES,
) -> None:
    """Raise :class:`Expired` unless the block at ``height`` / ``now_ms`` may include the transaction,
    and its validity does not reach beyond the allowed windows."""
    if good_til_block is None and good_til_time is None:
        raise Expired("a transaction must carry good_til_block or good_til_time")
    if good_til_block is not None:
        if good_til_block < height:
            raise Expired(f"good til block {good_til_block}, now at block {height}")
        if good_til_block > height + rules.max_good_til_blocks:
            raise Expired(
                f"good til block {good_til_block} is more than {rules.max_good_til_blocks} blocks "
                f"after {height}"
            )
    if good_til_time is not None:
        if good_til_time < now_ms:
            raise Expired(f"good til {good_til_time} ms, block time is {now_ms} ms")
        if good_til_time > now_ms + rules.max_good_til_ms:
            raise Expired(
                f"good til {good_til_time} ms is more than {rules.max_good_til_ms} ms after {now_ms}"
            )


class NonceBook(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every signer's nonce window. Treat as immutable: :meth:`accept` returns a new book."""

    windows: dict[str, NonceWindow] = {}

    def window(self, signer: str) -> NonceWindow:
        return self.windows.get(signer, ())

    def check(self, signer: str, nonce: int, now_ms: int, rules: ReplayRules = DEFAULT_RULES) -> NonceWindow:
        """The signer's window after ``nonce``; raises if refused. Changes nothing."""
        check_public_key(signer)
        return check_nonce(self.window(signer), nonce, now_ms, rules)

    def accept(self, signer: str, nonce: int, now_ms: int, rules: ReplayRules = DEFAULT_RULES) -> NonceBook:
        """A new book with ``nonce`` recorded for ``signer``; this book is unchanged either way."""
        new = self.check(signer, nonce, now_ms, rules)
        return NonceBook({**self.windows, signer: new})

    def prune(self, now_ms: int, rules: ReplayRules = DEFAULT_RULES) -> NonceBook:
        """Drop nonces older than the age window (they are refused by time anyway) and empty signers.

        Safe: a dropped nonce and every nonce evicted before it are below ``now - max_nonce_age_ms``, and
        block time never goes back, so none of them can pass :func:`check_nonce` again.
        """
        cutoff = now_ms - rules.max_nonce_age_ms
        kept: dict[str, NonceWindow] = {}
        for signer, window in self.windows.items():
            i = bisect.bisect_left(window, cutoff)
            if i < len(window):
                kept[signer] = window[i:]
        return NonceBook(kept)

    def encode(self) -> bytes:
        """Canonical bytes: u32 signer count, then per signer in key order its 32 key bytes, a u32
        nonce count and each nonce as a big-endian u64, ascending."""
        parts = [struct.pack(">I", len(self.windows))]
        for signer in sorted(self.windows):
            window = self.windows[signer]
            parts.append(bytes.fromhex(signer))
            parts.append(struct.pack(f">I{len(window)}Q", len(window), *window))
        return b"".join(parts)

    def root(self) -> bytes:
        """sha256 of the domain and :meth:`encode`."""
        return hashlib.sha256(NONCES_DOMAIN + self.encode()).digest()


def admit_envelope(
    book: NonceBook, envelope: Envelope, *, height: int, now_ms: int, rules: ReplayRules = DEFAULT_RULES
) -> NonceBook:
    """Expiry and nonce of an envelope whose signature was verified already; the new book."""
    check_expiry(envelope.good_til_block, envelope.good_til_time, height, now_ms, rules)
    return book.accept(envelope.signer, envelope.nonce, now_ms, rules)


def admit(
    book: NonceBook,
    signed: SignedEnvelope,
    *,
    chain_id: str,
    height: int,
    now_ms: int,
    rules: ReplayRules = DEFAULT_RULES,
) -> tuple[NonceBook, bytes]:
    """Everything a block checks before running a command: chain, signature, expiry, nonce.

    Returns the new book and the transaction hash; raises the typed refusal otherwise (``book`` is
    unchanged in both cases).
    """
    digest = verify(signed, chain_id)
    return admit_envelope(book, signed.envelope, height=height, now_ms=now_ms, rules=rules), digest


__all__ = [
    "DAY_MS",
    "DEFAULT_RULES",
    "NONCES_DOMAIN",
    "NonceBook",
    "NonceWindow",
    "ReplayRules",
    "admit",
    "admit_envelope",
    "check_expiry",
    "check_nonce",
]
