"""The price band: a fill must lie within a fraction of the market's index (oracle) price.

A venue that accepts fills at any price lets two colluding accounts print any price they like: the
print can feed the mark and funding, or move value between the two accounts at a price no one else
could trade at. Hyperliquid refuses orders priced too far from its reference (oracle) price and dYdX
v4 bounds liquidation fills by the oracle; here every ``Trade`` must satisfy

    |price - index| x WAD <= price_band x index

with ``price_band`` a WAD fraction on the market (default 5 %). The comparison is exact in integers, so
the band never admits a price further than stated; the printable limits :func:`band_limits` round
inwards (the lower limit up, the upper limit down) and agree with :func:`in_band` exactly.
"""

from __future__ import annotations

from clearhouse.core.errors import ClearhouseError
from clearhouse.core.fixedpoint import WAD, wmul_up

#: Default half-width of the band, a WAD fraction of the index (5 %).
DEFAULT_PRICE_BAND = WAD // 20


class PriceOutOfBand(ClearhouseError):
    """A fill priced outside the market's band around its index price; nothing is changed."""

    code = "price_out_of_band"

    def __init__(self, market: str, price: int, index: int, band: int) -> None:
        lo, hi = band_limits(index, band)
        super().__init__(
            f"{market}: fill price {price} is outside the price band of {band} (WAD fraction) around "
            f"index {index}: allowed [{lo}, {hi}]"
        )
        self.market, self.price, self.index, self.band = market, price, index, band


def in_band(price: int, index: int, band: int) -> bool:
    """True when ``|price - index| <= band x index / WAD`` exactly (no rounding)."""
    return abs(price - index) * WAD <= band * index


def band_limits(index: int, band: int) -> tuple[int, int]:
    """The smallest and largest prices :func:`in_band` admits: ``ceil(index (1 - band))`` and
    ``floor(index (1 + band))``."""
    return wmul_up(index, WAD - band), index * (WAD + band) // WAD


def check_fill_price(market: str, price: int, index: int, band: int) -> None:
    """Raise :class:`PriceOutOfBand` unless ``price`` is inside the band around ``index``."""
    if not in_band(price, index, band):
        raise PriceOutOfBand(market, price, index, band)
