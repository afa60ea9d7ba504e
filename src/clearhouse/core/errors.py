"""Typed errors raised by the ledger and the engine.

Each error names what was wrong (account, asset, market, amounts). A transaction that raises one of
these changes nothing; a block that raises one is not applied and not journalled.
"""

from __future__ import annotations


class ClearhouseError(Exception):
    """Base class of every error the engine raises on purpose."""

    #: Stable machine-readable code written into ``TransactionRejected`` events.
    code = "error"


class InvalidValue(ClearhouseError):
    """A number that is not allowed here: NaN, infinite, negative or zero where forbidden, not an int."""

    code = "invalid_value"


class ValueOutOfRange(InvalidValue):
    """A number whose magnitude reaches 2^255 (or overflows an on-chain word where we mirror one)."""

    code = "value_out_of_range"


class UnknownAccount(ClearhouseError):
    code = "unknown_account"


class UnknownAsset(ClearhouseError):
    code = "unknown_asset"


class UnknownMarket(ClearhouseError):
    code = "unknown_market"


class UnknownVaultType(ClearhouseError):
    code = "unknown_vault_type"


class VaultUnsafe(ClearhouseError):
    """A Draw or Free that would leave a vault below its liquidation ratio (``Vat/not-safe``)."""

    code = "vault_unsafe"


class VaultDusty(ClearhouseError):
    """A vault debt left between 0 and ``dust`` (``Vat/dust``)."""

    code = "vault_dusty"


class DebtCeilingExceeded(ClearhouseError):
    """A Draw beyond the vault type's debt ceiling (``Vat/ceiling-exceeded``)."""

    code = "debt_ceiling_exceeded"


class AlreadyExists(ClearhouseError):
    """An account, asset or market id that is already taken."""

    code = "already_exists"


class InvalidParameters(ClearhouseError):
    """Market or asset parameters that make no sense (e.g. maintenance >= initial)."""

    code = "invalid_parameters"


class InsufficientBalance(ClearhouseError):
    """Not enough of an asset in an account or pool for the requested movement."""

    code = "insufficient_balance"


class InsufficientMargin(ClearhouseError):
    """The transaction would leave an account below its initial margin requirement."""

    code = "insufficient_margin"


class MarginModeConflict(ClearhouseError):
    """A cross-margin operation on an isolated position or the reverse."""

    code = "margin_mode_conflict"


class MissingPrice(ClearhouseError):
    """No oracle price is known for an asset the transaction needs."""

    code = "missing_price"


class StalePrice(ClearhouseError):
    """The price the transaction needs is too old to act on."""

    code = "stale_price"


class BlockOutOfOrder(ClearhouseError):
    """A block whose height or time does not follow the last applied block."""

    code = "block_out_of_order"


class NotLiquidatable(ClearhouseError):
    """An enforcement command against an account that is not below maintenance, or that holds no
    position to enforce."""

    code = "not_liquidatable"


class UnknownPool(ClearhouseError):
    """A market without an AMM pool where one is needed (``ConfigureAmm`` first)."""

    code = "unknown_pool"


class LiquidationCapReached(ClearhouseError):
    """The block already enforced ``max_liquidations_per_block`` close-outs."""

    code = "liquidation_cap_reached"


class LiquidationCooldown(ClearhouseError):
    """A large position was partly liquidated too recently (stepwise closing)."""

    code = "liquidation_cooldown"


class AdlUnavailable(ClearhouseError):
    """Auto-deleveraging found no profitable opposite position to close against."""

    code = "adl_unavailable"


class WithdrawalsGated(ClearhouseError):
    """Withdrawals are paused for a number of blocks after a socialised loss."""

    code = "withdrawals_gated"


class SlippageExceeded(ClearhouseError):
    """A pool trade whose average price is beyond the caller's limit."""

    code = "slippage_exceeded"


class SelfTrade(ClearhouseError):
    code = "self_trade"


class Unauthorized(ClearhouseError):
    """The signer may not do this: not the account's owner or one of its keys, not an admin key for an
    admin command, not a feed's whitelisted reporter, an unsigned command where signatures are required,
    or (the steward's subclasses) not its controller or guardian."""

    code = "unauthorized"


class JournalError(ClearhouseError):
    """The journal is corrupt, out of sequence, or does not match the replay."""

    code = "journal_error"


class InstrumentExpired(ClearhouseError):
    """A dated future or option at or past its expiry: it no longer trades, it settles."""

    code = "instrument_expired"
