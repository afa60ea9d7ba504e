"""Typed errors raised by the oracle library.

Each subclasses an error of :mod:`clearhouse.core.errors` so the engine can catch the broad kind
(``InvalidValue``, ``UnknownAsset``, ``InvalidParameters``) or the oracle-specific one, and each
carries a stable ``code`` for ``TransactionRejected``-style events.
"""

from __future__ import annotations

from clearhouse.core.errors import (
    BlockOutOfOrder,
    ClearhouseError,
    InvalidParameters,
    InvalidValue,
    UnknownAsset,
)


class UnknownSource(ClearhouseError):
    """A report from a source that the feed's configuration does not list."""

    code = "unknown_source"


class ReportAssetMismatch(UnknownAsset):
    """A report for another asset was passed to a feed."""

    code = "report_asset_mismatch"


class DuplicateReport(InvalidValue):
    """The same source reported twice in one update."""

    code = "duplicate_report"


class FutureReport(InvalidValue):
    """A report observed after the update time (``observed_at > now``)."""

    code = "future_report"


class OutOfOrderReport(InvalidValue):
    """A report not newer than the last accepted report of the same source."""

    code = "out_of_order_report"


class UpdateOutOfOrder(BlockOutOfOrder):
    """A feed update whose time is earlier than the feed's last update."""

    code = "oracle_update_out_of_order"


class InvalidOracleConfig(InvalidParameters, ValueError):
    """An oracle configuration value that makes no sense; the message names the field.

    It is also a ``ValueError`` so that ``msgspec.convert`` reports the path of the bad field.
    """

    code = "invalid_oracle_config"


class UnknownPlugin(InvalidOracleConfig):
    """A configuration names an aggregator or policy that the registry does not know."""

    code = "unknown_plugin"


class NotHalted(ClearhouseError):
    """``confirm`` was called on a feed whose circuit breaker has not tripped."""

    code = "oracle_not_halted"


class OracleActionRefused(ClearhouseError):
    """The oracle state (or a guard such as TWAP divergence or a sequencer grace period) forbids it."""

    code = "oracle_action_refused"
