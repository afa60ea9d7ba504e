"""The validated :class:`Scenario`, its :class:`AmmPool` entries, :class:`ScenarioError` and the
account-id constants the lab's agents share."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from clearhouse.core.errors import ClearhouseError, InvalidParameters
from clearhouse.lab.network import NetworkModel
from clearhouse.lab.prices import PriceModel
from clearhouse.lab.scenario.schema import AssetTable, DistSpec, FeedTable, ScenarioSpec
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec, VaultTypeSpec
from clearhouse.oracle.config import FeedConfig

#: Account id of the market maker every opening trade is matched against.
MARKET_MAKER = "mm"
#: Account id of the backstop liquidator (``ledger.enforcement = "backstop"``).
BACKSTOP = "backstop"
#: Prefix of an oracle source that reports a market's AMM pool price (``amm:ETH-PERP``).
AMM_SOURCE = "amm:"


class ScenarioError(InvalidParameters):
    """A scenario that cannot run; the message names the file and the field path."""

    code = "scenario"

    def __init__(self, file: str, field: str, message: str) -> None:
        text = f"{file}: {message}" if not field else f"{file}: {field} {message}"
        super().__init__(text)
        self.file = file
        self.field = field


@dataclass(frozen=True)
class Scenario:
    """A validated scenario and everything built from it."""

    spec: ScenarioSpec
    file: str
    base_dir: Path | None
    price_model: PriceModel
    network: NetworkModel
    assets: tuple[AssetSpec, ...]
    markets: tuple[MarketSpec, ...]
    feeds: dict[str, FeedConfig]
    params: LedgerParams
    horizon: int
    #: Raw table the scenario was validated from (for overrides and the summary).
    raw: dict[str, Any]
    #: Vault types built from [vaults.types] (empty without vaults).
    vault_types: tuple[VaultTypeSpec, ...] = ()
    #: AMM pools built from [markets.X.amm] (reserves still in human units; see :class:`AmmPool`).
    amms: tuple[AmmPool, ...] = ()
    #: Extra price keys ([feeds.K]) -> the asset whose path they follow.
    derived: Mapping[str, str] = field(default_factory=dict)
    #: Feed key -> markets whose pool price one of its sources reports (``amm:<market>``).
    amm_links: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Where the price path and the gas come from, one line each (a data file or a fallback).
    data_sources: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def block_time(self) -> int:
        return self.spec.block_time

    @property
    def n_blocks(self) -> int:
        """Blocks of the stress path (the warm-up and set-up blocks come before it)."""
        return self.horizon // self.spec.block_time + 1

    @property
    def priced_assets(self) -> tuple[str, ...]:
        """Price keys the path drives: the price model's columns, then the extra [feeds] keys
        (sorted), each a copy of its asset's column (the runner appends them)."""
        return (*self.price_model.assets, *sorted(self.derived))

    def feed_table(self, key: str) -> AssetTable | FeedTable:
        """The table holding ``key``'s feed options (noise, manipulations, outages)."""
        return self.spec.feeds[key] if key in self.spec.feeds else self.spec.assets[key]


@dataclass(frozen=True)
class AmmPool:
    """A market's pool as the scenario declares it; the population turns it into ``ConfigureAmm``
    (the missing reserve from the opening price)."""

    market: str
    account: str
    #: Base reserve (base units) / quote reserve (settlement units); at least one is set.
    base: float | None
    quote: float | None
    #: Settlement collateral of the pool account.
    capital: float | None


def msgspec_path(exc: msgspec.ValidationError) -> tuple[str, str]:
    text = str(exc)
    m = re.search(r" - at `\$\.?(.*)`$", text)
    if m is None:
        return "", text
    path = m.group(1)
    path = re.sub(r"\['([^']*)'\]", r".\1", path).lstrip(".")
    return path, text[: m.start()]


T = TypeVar("T")


def guard(file: str, field: str, build: Callable[[], T]) -> T:
    """Run ``build`` and turn any ledger/lab/oracle error into a :class:`ScenarioError` at ``field``."""
    try:
        return build()
    except ScenarioError:
        raise
    except ClearhouseError as exc:
        raise ScenarioError(file, f"{field}:", str(exc)) from None
    except msgspec.ValidationError as exc:
        sub, msg = msgspec_path(exc)
        raise ScenarioError(file, f"{field}.{sub}:" if sub else f"{field}:", msg) from None


def dist_max(d: DistSpec) -> float:
    return d.value if d.dist == "fixed" and d.value is not None else d.max


def per_keeper(value: Any, i: int) -> Any:
    """Keeper ``i``'s value of a scalar-or-list keeper field."""
    return value[i % len(value)] if isinstance(value, list) else value
