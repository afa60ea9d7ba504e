"""Typed refusals of the authentication layer: signatures, chains, expiry, nonces, keys and orders.

Every class is a :class:`~clearhouse.ledger.errors.ClearhouseError` with a stable ``code``, so an engine
can turn a refusal into a ``TransactionRejected`` event exactly like a ledger error. A check that raises
one of these has changed nothing. :class:`Unauthorized` is the ledger's own class, re-exported here so
callers import every refusal from one place.
"""

from __future__ import annotations

from clearhouse.ledger.errors import ClearhouseError, InvalidValue, SelfTrade, Unauthorized


class BadSignature(ClearhouseError):
    """The signature does not verify for the envelope's signer over its domain-separated hash, or the
    signer key / signature is malformed."""

    code = "bad_signature"


class WrongChain(ClearhouseError):
    """The envelope was signed for another chain id than the one verifying it."""

    code = "wrong_chain"


class Expired(ClearhouseError):
    """Past its good-til-block height or good-til time, or its validity reaches beyond the allowed
    window (a transaction that would stay replayable for too long)."""

    code = "expired"


class NonceReused(ClearhouseError):
    """The nonce was used already, is not above the smallest of the kept nonces, or is too far from
    block time (clock skew beyond the window)."""

    code = "nonce_reused"


class NonceOutOfWindow(NonceReused):
    """A nonce farther from block time than the window allows (stale, or clock skew ahead)."""

    code = "nonce_out_of_window"


class MalformedEnvelope(InvalidValue):
    """Bytes that are not the canonical encoding of a signed envelope or order."""

    code = "malformed_envelope"


class KeyFileError(ClearhouseError):
    """A key file that cannot be written (exists already) or read (missing, unreadable, too open,
    wrong passphrase, corrupt)."""

    code = "key_file_error"


class InvalidOrder(ClearhouseError):
    """Base class of every refusal of an order or of a fill against its orders."""

    code = "invalid_order"


class OrderMismatch(InvalidOrder):
    """The orders do not belong to this fill: wrong side, wrong market, or the same order twice."""

    code = "order_mismatch"


class OffGrid(InvalidOrder):
    """A price that is not a multiple of the tick size or a size that is not a multiple of the step."""

    code = "off_grid"


class PriceLimitExceeded(InvalidOrder):
    """A fill price above the buyer's limit or below the seller's."""

    code = "price_limit_exceeded"


class Overfill(InvalidOrder):
    """A fill larger than what remains of an order."""

    code = "overfill"


class PriceOutsideBand(InvalidOrder):
    """A fill price farther from the index price than the band allows."""

    code = "price_outside_band"


class TimeInForceViolation(InvalidOrder):
    """A post-only order that would take, or an immediate-or-cancel order that would rest (make)."""

    code = "time_in_force_violation"


class ReduceOnlyViolation(InvalidOrder):
    """A reduce-only order whose fill would open or grow a position (or whose position is unknown)."""

    code = "reduce_only_violation"


__all__ = [
    "BadSignature",
    "ClearhouseError",
    "Expired",
    "InvalidOrder",
    "KeyFileError",
    "MalformedEnvelope",
    "NonceOutOfWindow",
    "NonceReused",
    "OffGrid",
    "OrderMismatch",
    "Overfill",
    "PriceLimitExceeded",
    "PriceOutsideBand",
    "ReduceOnlyViolation",
    "SelfTrade",
    "TimeInForceViolation",
    "Unauthorized",
    "WrongChain",
]
