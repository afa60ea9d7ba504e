"""MakerDAO Liquidations 2.0 (dss ``dog.sol``, ``clip.sol``, ``abaci.sol``) as an exact integer state machine.

See docs/liquidation-maker.md for formulas, parameters and what is (not) reproduced.
"""

from __future__ import annotations

from clearhouse.liquidation.maker.abaci import (
    Abacus,
    ExponentialDecrease,
    LinearDecrease,
    StairstepExponentialDecrease,
)
from clearhouse.liquidation.maker.clipper import (
    ADDRESS_ZERO,
    Clipper,
    DogLike,
    Sale,
    SaleStatus,
    TakeCallback,
    TakeResult,
)
from clearhouse.liquidation.maker.dog import Dog, DogIlk
from clearhouse.liquidation.maker.lifecycle import REJECTIONS, TRANSITIONS, SaleAction, SaleState
from clearhouse.liquidation.maker.uint import BLN, RAD, RAY, WAD, feed_price
from clearhouse.liquidation.maker.vat import Urn, VatIlk, VatLite

__all__ = [
    "ADDRESS_ZERO",
    "BLN",
    "RAD",
    "RAY",
    "REJECTIONS",
    "TRANSITIONS",
    "WAD",
    "Abacus",
    "Clipper",
    "Dog",
    "DogIlk",
    "DogLike",
    "ExponentialDecrease",
    "LinearDecrease",
    "Sale",
    "SaleAction",
    "SaleState",
    "SaleStatus",
    "StairstepExponentialDecrease",
    "TakeCallback",
    "TakeResult",
    "Urn",
    "VatIlk",
    "VatLite",
    "feed_price",
]
