"""Source reports: one price observation from one source for one asset.

A :class:`SourceReport` holds integers only (price and confidence in WAD, time in whole seconds) and
validates itself on construction and on decoding. Human numbers (CSV strings, floats from a price
model) enter through :func:`make_report`, which converts once with
:func:`clearhouse.core.fixedpoint.to_fixed` (round half-even) and so rejects NaN and infinities.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from clearhouse.core.errors import InvalidValue
from clearhouse.core.fixedpoint import WAD, check_non_negative, check_positive, to_fixed


class SourceReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``source`` observed ``price`` (WAD, > 0) for ``asset`` at ``observed_at`` (seconds).

    ``confidence`` is an optional half-width of a confidence interval in WAD (>= 0), as Pyth
    publishers send it; ``None`` means the source gives none (aggregators treat it as 0).
    """

    source: str
    asset: str
    price: int
    observed_at: int
    confidence: int | None = None

    def __post_init__(self) -> None:
        if not self.source:
            raise InvalidValue("report source must be a non-empty string")
        if not self.asset:
            raise InvalidValue(f"report from {self.source}: asset must be a non-empty string")
        check_positive(self.price, f"price of {self.asset} from {self.source}")
        check_non_negative(self.observed_at, f"observed_at of {self.asset} from {self.source}")
        if self.confidence is not None:
            check_non_negative(self.confidence, f"confidence of {self.asset} from {self.source}")


def make_report(
    source: str,
    asset: str,
    price: str | int | float | Decimal,
    observed_at: int,
    confidence: str | int | float | Decimal | None = None,
) -> SourceReport:
    """Build a report from human numbers (``"1834.52"``, ``1834.52``): the boundary conversion.

    Prices and confidences are converted to WAD with half-even rounding; NaN, infinities, zero and
    negative prices raise :class:`~clearhouse.core.errors.InvalidValue` naming the source.
    """
    wad_price = to_fixed(price, WAD, f"price of {asset} from {source}")
    wad_conf = (
        None if confidence is None else to_fixed(confidence, WAD, f"confidence of {asset} from {source}")
    )
    return SourceReport(source, asset, wad_price, observed_at, wad_conf)
