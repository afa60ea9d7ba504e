"""Stress lab: scenarios, populations, agents, price and network models, and the runner that drive the
engine from outside.

Everything here lives outside the engine: floats and numpy are allowed, randomness is seeded with
``numpy.random.Generator(PCG64(seed))``, and prices become WAD integers once, at the boundary
(:func:`clearhouse.lab.prices.to_wad`). See ``docs/price-models.md``.
"""

from __future__ import annotations

from clearhouse.lab.errors import LabConfigError, LabDataError
from clearhouse.lab.network import (
    CsvGasConfig,
    GasInterval,
    GasWindow,
    InclusionTier,
    NetworkConfig,
    NetworkModel,
    ParametricGasConfig,
)
from clearhouse.lab.prices import (
    PRICE_MODELS,
    GarchConfig,
    GarchModel,
    GbmConfig,
    GbmModel,
    MertonConfig,
    MertonModel,
    PriceModel,
    ReplayConfig,
    ReplayModel,
    ReplaySeries,
    Waypoint,
    WaypointConfig,
    WaypointModel,
    build_price_model,
    price_model_from_table,
    to_wad,
)

__all__ = [
    "PRICE_MODELS",
    "CsvGasConfig",
    "GarchConfig",
    "GarchModel",
    "GasInterval",
    "GasWindow",
    "GbmConfig",
    "GbmModel",
    "InclusionTier",
    "LabConfigError",
    "LabDataError",
    "MertonConfig",
    "MertonModel",
    "NetworkConfig",
    "NetworkModel",
    "ParametricGasConfig",
    "PriceModel",
    "ReplayConfig",
    "ReplayModel",
    "ReplaySeries",
    "Waypoint",
    "WaypointConfig",
    "WaypointModel",
    "build_price_model",
    "price_model_from_table",
    "to_wad",
]
