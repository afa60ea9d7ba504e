"""TOML scenario files: a market, a population, a stress and the agents, validated before any run.

A scenario is parsed with :mod:`tomllib`, converted into frozen :mod:`msgspec` structs (human
numbers: ``0.1``, ``"0.005"``, ``2_000``) and then checked as a whole: every plug-in name is known,
every parameter is consistent, every CSV a model reads exists and has its columns. Every problem
raises :class:`ScenarioError` whose message names the file and the field path, e.g.
``scenario.toml: population.leverage.max must be > min (10.0), got 5.0``. Nothing runs until a
scenario validates; the validated :class:`Scenario` holds the engine objects built from it (asset and
market specs, oracle feed configs, ledger parameters), the price model and the network model.

The full annotated format is in ``docs/scenarios.md``. Built-in scenarios live in
``clearhouse/lab/builtin/*.toml`` and are read with :mod:`importlib.resources`.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from clearhouse.lab.network import NetworkConfig, NetworkModel
from clearhouse.lab.prices import PriceModel, price_model_from_table
from clearhouse.ledger.errors import ClearhouseError, InvalidParameters
from clearhouse.ledger.fixedpoint import RAY, WAD, to_fixed
from clearhouse.ledger.margin_models import AnyMarginModel
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec, VaultTypeSpec
from clearhouse.liquidation.perp import LiquidationConfig
from clearhouse.liquidation.vault import AnyDisposal, DutchAuction, EnglishAuction, FixedDiscount
from clearhouse.oracle.config import FeedConfig, feed_config_from_dict

#: Account id of the market maker every opening trade is matched against.
MARKET_MAKER = "mm"
#: Account id of the backstop liquidator (``ledger.enforcement = "backstop"``).
BACKSTOP = "backstop"
#: Percentile names of the network's gas model.
GasLevel = Literal["p30", "p60", "p90", "max"]


class ScenarioError(InvalidParameters):
    """A scenario that cannot run; the message names the file and the field path."""

    code = "scenario"

    def __init__(self, file: str, field: str, message: str) -> None:
        text = f"{file}: {message}" if not field else f"{file}: {field} {message}"
        super().__init__(text)
        self.file = file
        self.field = field


# ----------------------------------------------------------------------------- raw structs


class _S(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the scenario structs."""


class DistSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A distribution of a positive quantity, clipped to ``[min, max]``.

    ``fixed`` (``value``), ``uniform`` / ``loguniform`` on ``[min, max]``, or ``lognormal`` with
    ``median`` (default: the geometric mean of the bounds) and log-volatility ``sigma``.
    """

    dist: Literal["fixed", "uniform", "loguniform", "lognormal"] = "lognormal"
    min: float = 0.0
    max: float = 0.0
    value: float | None = None
    median: float | None = None
    sigma: float = 0.5


class AddMarginSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Traders who top up their collateral when warned (health below ``threshold``)."""

    #: Share of the accounts that respond at all (0 = nobody adds margin).
    share: float = 0.0
    #: Health (equity / maintenance) below which a responsive trader deposits.
    threshold: float = 1.3
    #: Health the deposit aims to restore.
    target: float = 2.0
    #: Total a trader can add over the run, as a multiple of its initial collateral.
    capital: float = 1.0
    #: Blocks between seeing the warning and sending the deposit.
    latency_blocks: int = 5
    #: Highest gas price (gwei) a trader pays; ``None`` = the deposit always lands after the latency.
    gas_cap_gwei: float | None = None


class PopulationSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    accounts: int
    #: Collateral value per account in settlement units (e.g. USD).
    collateral: DistSpec
    #: Leverage = position notional / collateral value at the opening price.
    leverage: DistSpec
    long_share: float = 0.5
    isolated_share: float = 0.0
    #: Market -> weight (default: equal over all markets).
    markets: dict[str, float] = {}
    #: Asset -> share of the collateral value deposited in it (default: all settlement asset).
    collateral_mix: dict[str, float] = {}
    add_margin: AddMarginSpec = AddMarginSpec()
    #: Settlement capital of the market maker (default: the population's total notional).
    market_maker_capital: float | None = None


class KeeperSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Keepers; a list gives per-keeper values (keeper ``i`` takes item ``i mod len``)."""

    count: int = 3
    latency_blocks: int | list[int] = 1
    gas_cap_gwei: float | list[float] = 1000.0
    #: Settlement collateral each keeper holds to take positions over.
    capital: float | list[float] = 1_000_000.0
    #: Minimum expected profit after gas (settlement units) to send a close-out; a negative value is
    #: a protocol keeper willing to pay that much gas per close-out to clear insolvent accounts.
    profit_threshold: float | list[float] = 0.0
    #: Gas percentile a keeper bids (capped at its gas cap).
    gas_bid: GasLevel = "p90"
    #: Gas a close-out uses when it succeeds / when it reverts.
    gas_limit: int = 500_000
    failed_gas_limit: int = 100_000
    #: Asset whose price converts gas (wei) into settlement units; ``gas_token_price`` if unpriced.
    gas_token: str = "ETH"
    gas_token_price: float | None = None
    #: Sell positions taken over back to the market maker at the oracle price in the next block.
    unwind: bool = True
    #: Close-outs one keeper sends per block at most.
    max_per_block: int = 20


class LedgerSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    settlement_asset: str = "USDC"
    max_price_age: int = 3600
    #: "keepers": the engine only reports accounts below maintenance, keepers must act;
    #: "backstop": the engine also closes them out against a backstop account.
    enforcement: Literal["keepers", "backstop"] = "keepers"
    max_liquidations_per_block: int = 50
    #: Initial insurance fund (settlement units).
    insurance_fund: float = 0.0
    #: Settlement capital of the backstop liquidator (``enforcement = "backstop"``).
    backstop_capital: float = 0.0


class ManipulationSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One oracle source reports ``factor`` × the true price on ``[start, start + duration)``; with
    ``ramp`` > 0 the factor grows geometrically from 1 to ``factor`` over the first ``ramp`` seconds."""

    source: str
    factor: float
    start: int
    duration: int
    ramp: int = 0


class OutageSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """No reports from ``sources`` (default: all) on ``[start, end)`` (``end`` omitted: forever)."""

    start: int
    end: int | None = None
    sources: list[str] | None = None


class AssetTable(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    decimals: int = 18
    haircut: float = 1.0
    #: Oracle feed config (``clearhouse.oracle.config.feed_config_from_dict``); omitted: the block
    #: sets the price directly from the path.
    oracle: dict[str, Any] | None = None
    #: Relative standard deviation of each source's report around the path price.
    source_noise: float = 0.0
    manipulations: list[ManipulationSpec] = []
    outages: list[OutageSpec] = []


class AmmTable(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A market's constant-product pool (``ConfigureAmm``): price = quote / base.

    Give the depth as ``base_reserve`` (base units) and/or ``quote_reserve`` (settlement units); the
    missing one is set from the opening path price so the pool opens at the market price."""

    #: Account holding the pool's inventory (default ``amm-<market>``).
    account: str = ""
    base_reserve: float | None = None
    quote_reserve: float | None = None
    #: Settlement collateral deposited into the pool account (default: the quote reserve).
    capital: float | None = None


class MarketTable(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    oracle: str
    initial_margin: float
    maintenance_margin: float
    taker_fee: float = 0.0
    maker_fee: float = 0.0
    liquidation_fee: float = 0.0
    liquidator_share: float = 0.5
    step_size: float = 0.001
    funding_interest: float = 0.0
    funding_clamp_factor: float = 6.0
    #: Fills more than this fraction from the index are refused (ledger.price_band).
    price_band: float = 0.05
    #: Traded notional per funding interval below which fills do not enter the mark.
    mark_min_notional: float = 10_000.0
    margin_model: dict[str, Any] = {}
    #: Liquidation mechanism (``clearhouse.liquidation.perp.LiquidationConfig``, human numbers);
    #: omitted: keepers use the simple ``CloseOut``. ``disposal = "amm"`` sells into ``[amm]``.
    liquidation: dict[str, Any] | None = None
    #: Constant-product pool of the market (``ConfigureAmm``).
    amm: AmmTable | None = None


class FeedTable(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An extra price key with its own oracle feed, priced around ``asset``'s path (e.g. a lending
    venue's oracle). A source named ``amm:<market>`` reports that market's pool price, read by the
    runner from the engine state each block (contagion, ``docs/scenarios.md``)."""

    #: Listed non-settlement asset whose external (path) price the sources report around.
    asset: str
    oracle: dict[str, Any]
    source_noise: float = 0.0
    manipulations: list[ManipulationSpec] = []
    outages: list[OutageSpec] = []


class ArbitrageurSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Arbitrageurs trading AMM pools back toward the external price with ``SwapAmm`` (a list gives
    per-arbitrageur values: arbitrageur ``i`` takes item ``i mod len``)."""

    count: int = 0
    #: Settlement collateral each holds (margins its pool positions).
    capital: float | list[float] = 100_000.0
    #: Smallest relative gap ``|pool / external − 1|`` beyond the fee it trades on.
    threshold: float | list[float] = 0.01
    latency_blocks: int | list[int] = 1
    gas_cap_gwei: float | list[float] = 1000.0
    gas_bid: GasLevel = "p90"
    gas_limit: int = 200_000
    failed_gas_limit: int = 50_000
    #: Cost of the hedge on the external market, × notional (the pool itself charges no fee).
    fee: float = 0.0
    #: Minimum expected profit after gas and fee (settlement units).
    min_profit: float = 0.0
    #: Largest notional of one swap (settlement units; default: only the capital limits it).
    max_trade: float | None = None
    #: Close the pool position against the market maker at the oracle price in the next block
    #: (the hedge on the external market), freeing the margin.
    unwind: bool = True
    #: Pools (markets) they watch (default: every market with an [amm]).
    markets: list[str] = []


class ContagionSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """With feeds reading a pool: also run the path with those sources reporting the external price
    and report the amplification (summary ``contagion``)."""

    baseline: bool = True


class DisposalTable(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a vault type's collateral is sold (``docs/liquidation.md``, "Debt positions").

    ``english_auction`` (flip.sol, 2020): ``beg``, ``ttl``, ``tau``. ``dutch_auction`` (clip.sol,
    Liquidations 2.0): ``buf``, ``tail``, ``cusp``, ``chip``, ``tip``, ``hole``, ``curve`` with ``tau``
    (linear), ``step`` + ``cut`` (stairstep) or ``cut`` (exponential, per second). ``fixed_discount``
    (Aave-style takeover): ``bonus``, ``close_factor``, ``full_below_health``. Human numbers; durations
    in seconds or "6h"."""

    kind: Literal["english_auction", "dutch_auction", "fixed_discount"]
    beg: float | None = None
    ttl: int | str | None = None
    tau: int | str | None = None
    buf: float | None = None
    tail: int | str | None = None
    cusp: float | None = None
    chip: float | None = None
    tip: float | None = None
    hole: float | None = None
    curve: Literal["linear", "stairstep", "exponential"] | None = None
    step: int | str | None = None
    cut: float | None = None
    bonus: float | None = None
    close_factor: float | None = None
    full_below_health: float | None = None


class VaultTypeTable(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A vault type (Maker ``ilk``)."""

    collateral: str
    #: Price key ("" = the collateral asset).
    oracle: str = ""
    #: Liquidation ratio (>= 1): safe while collateral value / mat >= debt.
    mat: float
    #: Liquidation penalty (>= 1): auctions raise debt × chop.
    chop: float = 1.0
    #: Smallest non-zero debt of a vault (settlement units).
    dust: float = 0.0
    #: Debt ceiling of the type (settlement units).
    line: float
    #: Annual stability fee (0.02 = 2 % a year), compounded per second.
    stability_fee: float = 0.0
    disposal: DisposalTable


class VaultPopulationSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Vault owners: each locks collateral worth ``ratio × debt`` at the opening price and draws ``debt``."""

    count: int
    #: Vault type -> weight (default: equal).
    types: dict[str, float] = {}
    #: Collateralisation ratio (collateral value / debt) at the opening oracle price; > mat.
    ratio: DistSpec
    #: Debt drawn per vault (settlement units); >= the type's dust.
    debt: DistSpec


class ZeroBidderSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The March 2020 bot: bids 0 on every English auction, with a high gas cap."""

    gas_cap_gwei: float = 5000.0
    latency_blocks: int = 1
    #: Settlement capital (Dutch takes only: an English zero bid needs none).
    capital: float = 0.0
    #: Discount to the external price it requires to take in a Dutch auction.
    discount: float = 0.3
    #: Also bark unsafe vaults (paying gas to start the auctions it bids 0 on).
    bark: bool = True


class VaultKeeperSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Vault keepers; a list gives per-keeper values (keeper ``i`` takes item ``i mod len``)."""

    count: int = 3
    latency_blocks: int | list[int] = 1
    gas_cap_gwei: float | list[float] = 1000.0
    #: Settlement capital each keeper holds to bid with.
    capital: float | list[float] = 1_000_000.0
    #: Discount to the external price a keeper requires: it values collateral at external × (1 − d).
    discount: float | list[float] = 0.05
    #: Minimum expected profit after gas (settlement units) to send a transaction.
    profit_threshold: float | list[float] = 0.0
    gas_bid: GasLevel = "p90"
    #: Gas of an accepted / a reverted auction transaction (bark, take, tend, deal, ...).
    gas_limit: int = 300_000
    failed_gas_limit: int = 50_000
    #: Sell collateral won at the external price (withdraw + deposit) to recycle the capital.
    sell_collateral: bool = True
    #: Transactions one keeper sends per block at most.
    max_per_block: int = 20
    zero_bidder: ZeroBidderSpec | None = None


class VaultsSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Debt positions (Maker vaults), their owners and their keepers."""

    #: The Dog's ``Hole``: most debt + penalty under Dutch auction at once (settlement; 0 = no limit).
    debt_limit: float = 0.0
    types: dict[str, VaultTypeTable]
    population: VaultPopulationSpec
    keepers: VaultKeeperSpec = VaultKeeperSpec()


#: The population of a vault-only scenario (no perp traders).
EMPTY_POPULATION = PopulationSpec(
    accounts=0, collateral=DistSpec(dist="fixed", value=1.0), leverage=DistSpec(dist="fixed", value=1.0)
)


class ScenarioSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    description: str = ""
    seed: int = 0
    #: Seconds, or a string such as "48h", "90m", "6d".
    horizon: int | str
    block_time: int = 60
    #: Engine time (epoch seconds) of the first block of the stress path.
    start_time: int = 1_700_000_000
    ledger: LedgerSpec = LedgerSpec()
    assets: dict[str, AssetTable]
    #: Perp markets; may be empty when the scenario has [vaults].
    markets: dict[str, MarketTable] = {}
    prices: dict[str, Any]
    #: Perp traders; may be omitted when the scenario has [vaults].
    population: PopulationSpec = EMPTY_POPULATION
    keepers: KeeperSpec = KeeperSpec()
    network: dict[str, Any] = {}
    vaults: VaultsSpec | None = None
    #: Extra price keys with their own feeds (e.g. read from an AMM pool).
    feeds: dict[str, FeedTable] = {}
    arbitrageurs: ArbitrageurSpec = ArbitrageurSpec()
    contagion: ContagionSpec = ContagionSpec()


# ----------------------------------------------------------------------------- validated scenario


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


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: int | str, file: str, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(value))
        if m is None:
            raise ScenarioError(file, field, f"must be seconds or a duration like '48h', got {value!r}")
        seconds = round(float(m.group(1)) * _UNITS[m.group(2)])
    if seconds <= 0:
        raise ScenarioError(file, field, f"must be > 0, got {value!r}")
    return seconds


def _wad(value: float | str, file: str, field: str) -> int:
    try:
        return to_fixed(value, WAD, field)
    except ClearhouseError as exc:
        raise ScenarioError(file, field, f"is not a usable number: {exc}") from None


def _msgspec_path(exc: msgspec.ValidationError) -> tuple[str, str]:
    text = str(exc)
    m = re.search(r" - at `\$\.?(.*)`$", text)
    if m is None:
        return "", text
    path = m.group(1)
    path = re.sub(r"\['([^']*)'\]", r".\1", path).lstrip(".")
    return path, text[: m.start()]


T = TypeVar("T")


def _guard(file: str, field: str, build: Callable[[], T]) -> T:
    """Run ``build`` and turn any ledger/lab/oracle error into a :class:`ScenarioError` at ``field``."""
    try:
        return build()
    except ScenarioError:
        raise
    except ClearhouseError as exc:
        raise ScenarioError(file, f"{field}:", str(exc)) from None
    except msgspec.ValidationError as exc:
        sub, msg = _msgspec_path(exc)
        raise ScenarioError(file, f"{field}.{sub}:" if sub else f"{field}:", msg) from None


def _check_dist(d: DistSpec, file: str, field: str, *, lo: float = 0.0) -> None:
    def finite(v: float, name: str) -> None:
        if not math.isfinite(v):
            raise ScenarioError(file, f"{field}.{name}", f"must be finite, got {v}")

    if d.dist == "fixed":
        if d.value is None:
            raise ScenarioError(file, f"{field}.value", "is required for dist = 'fixed'")
        finite(d.value, "value")
        if d.value <= lo:
            raise ScenarioError(file, f"{field}.value", f"must be > {lo}, got {d.value}")
        return
    finite(d.min, "min")
    finite(d.max, "max")
    if d.min <= lo:
        raise ScenarioError(file, f"{field}.min", f"must be > {lo}, got {d.min}")
    if d.max <= d.min:
        raise ScenarioError(file, f"{field}.max", f"must be > min ({d.min}), got {d.max}")
    if d.dist == "lognormal":
        finite(d.sigma, "sigma")
        if d.sigma < 0:
            raise ScenarioError(file, f"{field}.sigma", f"must be >= 0, got {d.sigma}")
        if d.median is not None and not d.min <= d.median <= d.max:
            raise ScenarioError(file, f"{field}.median", f"must be within [min, max], got {d.median}")


def _check_feed_events(file: str, f: str, a: AssetTable | FeedTable, feed: FeedConfig) -> None:
    """Manipulations and outages of a feed name its sources and are well-formed."""
    for i, m in enumerate(a.manipulations):
        g = f"{f}.manipulations[{i}]"
        if m.source not in feed.sources:
            raise ScenarioError(file, f"{g}.source", f"{m.source!r} is not one of {list(feed.sources)}")
        if not (m.factor > 0 and math.isfinite(m.factor)):
            raise ScenarioError(file, f"{g}.factor", f"must be finite and > 0, got {m.factor}")
        if m.ramp < 0 or m.ramp > m.duration:
            raise ScenarioError(file, f"{g}.ramp", f"must be in [0, duration], got {m.ramp}")
        if m.duration <= 0:
            raise ScenarioError(file, f"{g}.duration", f"must be > 0, got {m.duration}")
    for i, o in enumerate(a.outages):
        g = f"{f}.outages[{i}]"
        if o.end is not None and o.end <= o.start:
            raise ScenarioError(file, f"{g}.end", f"must be > start ({o.start}), got {o.end}")
        for src in o.sources or ():
            if src not in feed.sources:
                raise ScenarioError(file, f"{g}.sources", f"{src!r} is not one of {list(feed.sources)}")


#: Prefix of an oracle source that reports a market's AMM pool price (``amm:ETH-PERP``).
AMM_SOURCE = "amm:"
#: LiquidationConfig fields given as human numbers (converted to WAD).
_LIQUIDATION_WAD_FIELDS = (
    "bankruptcy_adjustment",
    "spread_to_mmr",
    "max_fee",
    "buffer",
    "dust_notional",
    "full_below_health",
    "step_notional",
    "step_fraction",
    "vault_health",
    "insurance_cap_per_block",
    "insurance_cap_per_account",
)
#: Account ids the lab uses for its own agents; a pool account may not take one.
_RESERVED_PREFIXES = ("acct-", "keeper-", "vault-", "vkeeper-", "arb-")


def _liquidation(table: Mapping[str, Any], file: str, field: str, market: str) -> LiquidationConfig:
    data = dict(table)
    for key in _LIQUIDATION_WAD_FIELDS:
        if key in data:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, int | float | str):
                raise ScenarioError(file, f"{field}.{key}", f"must be a number, got {v!r}")
            data[key] = _wad(v, file, f"{field}.{key}")
    try:
        cfg = msgspec.convert(data, LiquidationConfig)
    except msgspec.ValidationError as exc:
        sub, msg = _msgspec_path(exc)
        raise ScenarioError(file, f"{field}.{sub}:" if sub else f"{field}:", msg) from None
    _guard(file, field, lambda: cfg.validate(market))
    return cfg


def _amm_pool(mid: str, t: AmmTable, file: str, field: str) -> AmmPool:
    account = t.account or f"amm-{mid}"
    if account in (MARKET_MAKER, BACKSTOP, "zero-bidder") or account.startswith(_RESERVED_PREFIXES):
        raise ScenarioError(file, f"{field}.account", f"{account!r} is reserved for the lab's own accounts")
    if t.base_reserve is None and t.quote_reserve is None:
        raise ScenarioError(file, f"{field}.base_reserve", "or quote_reserve is required (the pool's depth)")
    for name in ("base_reserve", "quote_reserve", "capital"):
        v = getattr(t, name)
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ScenarioError(file, f"{field}.{name}", f"must be finite and > 0, got {v}")
    return AmmPool(mid, account, t.base_reserve, t.quote_reserve, t.capital)


def _prevalidate_markets(table: Mapping[str, Any], file: str) -> None:
    """Convert each ``[markets.X]`` on its own so a type error names ``X``."""
    markets = table.get("markets")
    if not isinstance(markets, Mapping):
        return
    for mid, t in markets.items():
        try:
            msgspec.convert(t, MarketTable)
        except msgspec.ValidationError as exc:
            sub, msg = _msgspec_path(exc)
            field = f"markets.{mid}.{sub}:" if sub else f"markets.{mid}:"
            raise ScenarioError(file, field, msg) from None


def dist_max(d: DistSpec) -> float:
    return d.value if d.dist == "fixed" and d.value is not None else d.max


def _margin_model(table: Mapping[str, Any], file: str, field: str) -> AnyMarginModel:
    data: dict[str, Any] = dict(table) if table else {"name": "fixed"}
    name = data.get("name", "fixed")
    data["name"] = name
    if name == "tiered":
        tiers = data.get("tiers")
        if not isinstance(tiers, list):
            raise ScenarioError(file, f"{field}.tiers", "must be a list of [notional, initial, maintenance]")
        conv = []
        for i, tier in enumerate(tiers):
            if not isinstance(tier, list) or len(tier) != 3:
                raise ScenarioError(file, f"{field}.tiers[{i}]", "must be [notional, initial, maintenance]")
            conv.append([_wad(v, file, f"{field}.tiers[{i}]") for v in tier])
        data["tiers"] = conv
    for key in ("lower_cap", "upper_cap", "max_initial"):
        if key in data:
            data[key] = _wad(data[key], file, f"{field}.{key}")
    model: AnyMarginModel = _guard(
        file,
        field,
        lambda: msgspec.convert(data, AnyMarginModel),
    )
    return model


# ----------------------------------------------------------------------------- loading


def builtin_names() -> list[str]:
    """Names of the built-in scenarios (``clearhouse/lab/builtin/*.toml``)."""
    root = resources.files("clearhouse.lab") / "builtin"
    return sorted(p.name.removesuffix(".toml") for p in root.iterdir() if p.name.endswith(".toml"))


def read_table(name_or_path: str) -> tuple[dict[str, Any], str, Path | None]:
    """The raw TOML table of a built-in name or a file path, its display name and base directory."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ScenarioError(str(path), "", "no such scenario file")
        try:
            with open(path, "rb") as fh:
                return tomllib.load(fh), path.name, path.resolve().parent
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(path.name, "", f"is not valid TOML: {exc}") from None
    names = builtin_names()
    if name_or_path not in names:
        raise ScenarioError(
            name_or_path, "", f"is neither a scenario file nor a built-in scenario; built-ins: {names}"
        )
    text = (resources.files("clearhouse.lab") / "builtin" / f"{name_or_path}.toml").read_text()
    return tomllib.loads(text), f"{name_or_path}.toml", None


def load_scenario(name_or_path: str, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Load and validate a built-in scenario by name or a TOML file by path.

    ``overrides`` maps dotted field paths to values applied to the raw table before validation, e.g.
    ``{"population.accounts": 200, "horizon": "6h"}``.
    """
    table, file, base_dir = read_table(name_or_path)
    for dotted, value in (overrides or {}).items():
        set_path(table, dotted, value)
    return validate(table, file, base_dir)


def set_path(table: dict[str, Any], dotted: str, value: Any) -> None:
    node = table
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def validate(table: Mapping[str, Any], file: str = "scenario.toml", base_dir: Path | None = None) -> Scenario:
    """Validate a raw scenario table; build the engine objects, the price and the network models."""
    _prevalidate_vault_types(table, file)
    _prevalidate_markets(table, file)
    try:
        spec = msgspec.convert(dict(table), ScenarioSpec)
    except msgspec.ValidationError as exc:
        path, msg = _msgspec_path(exc)
        raise ScenarioError(file, f"{path}:" if path else "", msg) from None
    horizon = parse_duration(spec.horizon, file, "horizon")
    if spec.block_time <= 0:
        raise ScenarioError(file, "block_time", f"must be > 0, got {spec.block_time}")
    if horizon < spec.block_time:
        raise ScenarioError(file, "horizon", f"must be at least one block_time ({spec.block_time} s)")
    if spec.seed < 0:
        raise ScenarioError(file, "seed", f"must be >= 0, got {spec.seed}")
    if spec.start_time < 0:
        raise ScenarioError(file, "start_time", f"must be >= 0, got {spec.start_time}")

    led = spec.ledger
    settle = led.settlement_asset
    if settle not in spec.assets:
        raise ScenarioError(file, "ledger.settlement_asset", f"{settle!r} is not in [assets]")
    if spec.assets[settle].oracle is not None:
        raise ScenarioError(file, f"assets.{settle}.oracle", "the settlement asset is valued at 1; no oracle")
    if led.max_price_age <= 0:
        raise ScenarioError(file, "ledger.max_price_age", f"must be > 0, got {led.max_price_age}")
    if led.max_liquidations_per_block <= 0:
        raise ScenarioError(file, "ledger.max_liquidations_per_block", "must be > 0")
    if led.insurance_fund < 0:
        raise ScenarioError(file, "ledger.insurance_fund", f"must be >= 0, got {led.insurance_fund}")
    if led.enforcement == "backstop" and led.backstop_capital <= 0:
        raise ScenarioError(file, "ledger.backstop_capital", "must be > 0 with enforcement = 'backstop'")
    params = LedgerParams(
        settlement_asset=settle,
        max_price_age=led.max_price_age,
        enforcement="report" if led.enforcement == "keepers" else "backstop",
        backstop_liquidator=BACKSTOP if led.enforcement == "backstop" else "",
        max_liquidations_per_block=led.max_liquidations_per_block,
    )
    _guard(file, "ledger", params.validate)

    # assets and oracle feeds
    assets: list[AssetSpec] = []
    feeds: dict[str, FeedConfig] = {}
    for aid in sorted(spec.assets):
        a = spec.assets[aid]
        f = f"assets.{aid}"
        if not 0 <= a.haircut <= 1:
            raise ScenarioError(file, f"{f}.haircut", f"must be in [0, 1], got {a.haircut}")
        asset = AssetSpec(aid, a.decimals, _wad(a.haircut, file, f"{f}.haircut"))
        _guard(file, f, asset.validate)
        assets.append(asset)
        if a.source_noise < 0 or not math.isfinite(a.source_noise):
            raise ScenarioError(file, f"{f}.source_noise", f"must be finite and >= 0, got {a.source_noise}")
        if a.oracle is None:
            if a.manipulations or a.outages:
                raise ScenarioError(file, f"{f}.manipulations", "needs an [assets.X.oracle] feed")
            continue
        oracle: dict[str, Any] = a.oracle

        def build_feed(oracle: dict[str, Any] = oracle, aid: str = aid) -> FeedConfig:
            return feed_config_from_dict(oracle, aid)

        feed = _guard(file, f"{f}.oracle", build_feed)
        feeds[aid] = feed
        _check_feed_events(file, f, a, feed)

    # extra price keys ([feeds.K]): their own feeds around an asset's path
    derived: dict[str, str] = {}
    for key in sorted(spec.feeds):
        ft = spec.feeds[key]
        f = f"feeds.{key}"
        if key in spec.assets:
            raise ScenarioError(file, f, "is an asset; give its feed under [assets.X.oracle]")
        if ft.asset == settle or ft.asset not in spec.assets:
            raise ScenarioError(file, f"{f}.asset", f"{ft.asset!r} must be a listed non-settlement asset")
        if ft.source_noise < 0 or not math.isfinite(ft.source_noise):
            raise ScenarioError(file, f"{f}.source_noise", f"must be finite and >= 0, got {ft.source_noise}")
        table_k: dict[str, Any] = ft.oracle

        def build_derived(oracle: dict[str, Any] = table_k, key: str = key) -> FeedConfig:
            return feed_config_from_dict(oracle, key)

        feeds[key] = _guard(file, f"{f}.oracle", build_derived)
        _check_feed_events(file, f, ft, feeds[key])
        derived[key] = ft.asset

    # markets
    if spec.vaults is None:
        for required in ("markets", "population"):
            if required not in table:
                raise ScenarioError(file, "", f"Object missing required field `{required}`")
    if not spec.markets and spec.vaults is None:
        raise ScenarioError(file, "markets", "needs at least one market")
    markets: list[MarketSpec] = []
    amms: list[AmmPool] = []
    for mid in sorted(spec.markets):
        mt = spec.markets[mid]
        f = f"markets.{mid}"
        if mt.oracle == settle or (mt.oracle not in spec.assets and mt.oracle not in derived):
            raise ScenarioError(
                file, f"{f}.oracle", f"{mt.oracle!r} must be a listed non-settlement asset or a [feeds] key"
            )
        if mt.maintenance_margin >= mt.initial_margin:
            raise ScenarioError(
                file,
                f"{f}.maintenance_margin",
                f"must be < initial_margin ({mt.initial_margin}), got {mt.maintenance_margin}",
            )
        model = _margin_model(mt.margin_model, file, f"{f}.margin_model")
        market = MarketSpec(
            id=mid,
            oracle=mt.oracle,
            initial_margin=_wad(mt.initial_margin, file, f"{f}.initial_margin"),
            maintenance_margin=_wad(mt.maintenance_margin, file, f"{f}.maintenance_margin"),
            taker_fee=_wad(mt.taker_fee, file, f"{f}.taker_fee"),
            maker_fee=_wad(mt.maker_fee, file, f"{f}.maker_fee"),
            liquidation_fee=_wad(mt.liquidation_fee, file, f"{f}.liquidation_fee"),
            liquidator_share=_wad(mt.liquidator_share, file, f"{f}.liquidator_share"),
            step_size=_wad(mt.step_size, file, f"{f}.step_size"),
            funding_interest=_wad(mt.funding_interest, file, f"{f}.funding_interest"),
            funding_clamp_factor=_wad(mt.funding_clamp_factor, file, f"{f}.funding_clamp_factor"),
            margin_model=model,
            price_band=_wad(mt.price_band, file, f"{f}.price_band"),
            mark_min_notional=_wad(mt.mark_min_notional, file, f"{f}.mark_min_notional"),
        )
        if mt.liquidation is not None:
            liq = _liquidation(mt.liquidation, file, f"{f}.liquidation", mid)
            market = msgspec.structs.replace(market, liquidation=liq)
            if liq.disposal == "amm" and mt.amm is None:
                raise ScenarioError(
                    file, f"{f}.amm", "is required: liquidation.disposal = 'amm' sells into the market's pool"
                )
        if mt.amm is not None:
            amms.append(_amm_pool(mid, mt.amm, file, f"{f}.amm"))
        _guard(file, f, market.validate)
        markets.append(market)
    pool_accounts = [p.account for p in amms]
    for p in amms:
        if pool_accounts.count(p.account) > 1:
            raise ScenarioError(
                file, f"markets.{p.market}.amm.account", f"{p.account!r} is used by two pools"
            )
    # sources reading a pool: amm:<market> with an [amm]
    amm_links: dict[str, tuple[str, ...]] = {}
    pooled = {p.market for p in amms}
    for key in sorted(feeds):
        linked = []
        for src in feeds[key].sources:
            if not src.startswith(AMM_SOURCE):
                continue
            mid = src.removeprefix(AMM_SOURCE)
            if mid not in pooled:
                where = f"feeds.{key}" if key in derived else f"assets.{key}"
                raise ScenarioError(
                    file,
                    f"{where}.oracle.sources",
                    f"{src!r} reads the pool of {mid!r}, which is not a market with an [amm] table",
                )
            linked.append(mid)
        if linked:
            amm_links[key] = tuple(linked)

    # price model
    prices_table = dict(spec.prices)
    if "model" not in prices_table:
        raise ScenarioError(file, "prices.model", "is required (gbm, merton, garch, waypoints, replay)")
    price_model = _guard(file, "prices", lambda: price_model_from_table(prices_table, base_dir=base_dir))
    priced = set(price_model.assets) | set(derived)
    for aid in sorted(spec.assets):
        if aid != settle and aid not in priced:
            raise ScenarioError(
                file, "prices.assets", f"has no path for asset {aid!r} (model assets: {sorted(priced)})"
            )

    # network
    net_table = dict(spec.network)
    if "block_time" in net_table and net_table["block_time"] != spec.block_time:
        raise ScenarioError(
            file, "network.block_time", f"must equal block_time ({spec.block_time}) or be omitted"
        )
    net_table["block_time"] = spec.block_time
    net_table.setdefault("genesis_time", 0)
    net_table.setdefault("gas", {"source": "parametric", "base_gwei": 20.0})

    def _network() -> NetworkModel:
        return NetworkModel(msgspec.convert(net_table, NetworkConfig), base_dir)

    network = _guard(file, "network", _network)

    # population
    pop = spec.population
    if pop.accounts < 0 or (pop.accounts == 0 and (spec.vaults is None or spec.markets)):
        raise ScenarioError(file, "population.accounts", f"must be > 0, got {pop.accounts}")
    _check_dist(pop.collateral, file, "population.collateral")
    _check_dist(pop.leverage, file, "population.leverage")
    for name in ("long_share", "isolated_share"):
        v = getattr(pop, name)
        if not 0 <= v <= 1:
            raise ScenarioError(file, f"population.{name}", f"must be in [0, 1], got {v}")
    for mid, w in pop.markets.items():
        if mid not in spec.markets:
            raise ScenarioError(file, f"population.markets.{mid}", "is not a market of the scenario")
        if w < 0:
            raise ScenarioError(file, f"population.markets.{mid}", f"weight must be >= 0, got {w}")
    if pop.markets and sum(pop.markets.values()) <= 0:
        raise ScenarioError(file, "population.markets", "weights must not all be 0")
    for aid, w in pop.collateral_mix.items():
        if aid not in spec.assets:
            raise ScenarioError(file, f"population.collateral_mix.{aid}", "is not a listed asset")
        if w < 0:
            raise ScenarioError(file, f"population.collateral_mix.{aid}", f"must be >= 0, got {w}")
        if w > 0 and spec.assets[aid].haircut == 0:
            raise ScenarioError(file, f"population.collateral_mix.{aid}", "asset has haircut 0")
    if pop.collateral_mix and sum(pop.collateral_mix.values()) <= 0:
        raise ScenarioError(file, "population.collateral_mix", "weights must not all be 0")
    used = [mk for mk in markets if not pop.markets or pop.markets.get(mk.id, 0) > 0]
    lev_max = dist_max(pop.leverage)
    for mk in used:
        allowed = WAD / mk.initial_margin
        if lev_max > allowed:
            raise ScenarioError(
                file,
                "population.leverage.max",
                f"({lev_max}) exceeds 1 / initial_margin of {mk.id} ({allowed:g}x)",
            )
    am = pop.add_margin
    if not 0 <= am.share <= 1:
        raise ScenarioError(file, "population.add_margin.share", f"must be in [0, 1], got {am.share}")
    if am.target <= am.threshold:
        raise ScenarioError(
            file, "population.add_margin.target", f"must be > threshold ({am.threshold}), got {am.target}"
        )
    if am.threshold <= 1:
        raise ScenarioError(file, "population.add_margin.threshold", f"must be > 1, got {am.threshold}")
    if am.capital < 0 or am.latency_blocks < 0:
        raise ScenarioError(file, "population.add_margin", "capital and latency_blocks must be >= 0")
    if pop.market_maker_capital is not None and pop.market_maker_capital <= 0:
        raise ScenarioError(file, "population.market_maker_capital", "must be > 0")

    # keepers
    k = spec.keepers
    if k.count < 0:
        raise ScenarioError(file, "keepers.count", f"must be >= 0, got {k.count}")
    for name in ("latency_blocks", "gas_cap_gwei", "capital"):
        value = getattr(k, name)
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ScenarioError(file, f"keepers.{name}", "must not be an empty list")
        for v in values:
            if v < 0 or (name != "latency_blocks" and not math.isfinite(v)):
                raise ScenarioError(file, f"keepers.{name}", f"must be finite and >= 0, got {v}")
    thresholds = k.profit_threshold if isinstance(k.profit_threshold, list) else [k.profit_threshold]
    if not thresholds or not all(math.isfinite(v) for v in thresholds):
        raise ScenarioError(file, "keepers.profit_threshold", "must be finite number(s)")
    if k.gas_limit <= 0 or k.failed_gas_limit < 0:
        raise ScenarioError(file, "keepers.gas_limit", "must be > 0 (failed_gas_limit >= 0)")
    if k.max_per_block <= 0:
        raise ScenarioError(file, "keepers.max_per_block", f"must be > 0, got {k.max_per_block}")
    if k.count and k.gas_token not in priced and k.gas_token_price is None:
        raise ScenarioError(
            file, "keepers.gas_token_price", f"is required: gas token {k.gas_token!r} has no price path"
        )
    if k.count == 0 and led.enforcement == "keepers":
        pass  # allowed: nobody enforces, which is itself a scenario (everything goes bad debt)
    vault_types = _validate_vaults(spec, file, priced) if spec.vaults is not None else ()
    _validate_arbitrageurs(spec, file, pooled, priced)

    return Scenario(
        spec=spec,
        file=file,
        base_dir=base_dir,
        price_model=price_model,
        network=network,
        assets=tuple(assets),
        markets=tuple(markets),
        feeds=feeds,
        params=params,
        horizon=horizon,
        raw=dict(table),
        vault_types=vault_types,
        amms=tuple(amms),
        derived=derived,
        amm_links=amm_links,
    )


def _validate_arbitrageurs(spec: ScenarioSpec, file: str, pooled: set[str], priced: set[str]) -> None:
    ar = spec.arbitrageurs
    if ar.count < 0:
        raise ScenarioError(file, "arbitrageurs.count", f"must be >= 0, got {ar.count}")
    if ar.count == 0:
        return
    if not pooled:
        raise ScenarioError(file, "arbitrageurs.count", "needs a market with an [markets.X.amm] pool")
    for mid in ar.markets:
        if mid not in pooled:
            raise ScenarioError(file, "arbitrageurs.markets", f"{mid!r} is not a market with an [amm] pool")
    for name in ("capital", "threshold", "latency_blocks", "gas_cap_gwei"):
        value = getattr(ar, name)
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ScenarioError(file, f"arbitrageurs.{name}", "must not be an empty list")
        for v in values:
            if not (math.isfinite(v) and v >= 0):
                raise ScenarioError(file, f"arbitrageurs.{name}", f"must be finite and >= 0, got {v}")
    if ar.gas_limit <= 0 or ar.failed_gas_limit < 0:
        raise ScenarioError(file, "arbitrageurs.gas_limit", "must be > 0 (failed_gas_limit >= 0)")
    if not (math.isfinite(ar.fee) and 0 <= ar.fee < 1):
        raise ScenarioError(file, "arbitrageurs.fee", f"must be in [0, 1), got {ar.fee}")
    if not math.isfinite(ar.min_profit):
        raise ScenarioError(file, "arbitrageurs.min_profit", f"must be finite, got {ar.min_profit}")
    if ar.max_trade is not None and not (math.isfinite(ar.max_trade) and ar.max_trade > 0):
        raise ScenarioError(file, "arbitrageurs.max_trade", f"must be finite and > 0, got {ar.max_trade}")
    k = spec.keepers
    if k.gas_token not in priced and k.gas_token_price is None:
        raise ScenarioError(
            file, "keepers.gas_token_price", f"is required: gas token {k.gas_token!r} has no price path"
        )


def per_keeper(value: Any, i: int) -> Any:
    """Keeper ``i``'s value of a scalar-or-list keeper field."""
    return value[i % len(value)] if isinstance(value, list) else value


# ----------------------------------------------------------------------------- vaults

SECONDS_PER_YEAR = 365 * 86400

_DISPOSAL_FIELDS: dict[str, tuple[str, ...]] = {
    "english_auction": ("beg", "ttl", "tau"),
    "dutch_auction": ("buf", "tail", "cusp", "chip", "tip", "hole", "curve", "tau", "step", "cut"),
    "fixed_discount": ("bonus", "close_factor", "full_below_health"),
}
_ALL_DISPOSAL_FIELDS = sorted({f for fs in _DISPOSAL_FIELDS.values() for f in fs})


def _fixed(value: float, scale: int, file: str, field: str, *, lo: float | None = 0.0) -> int:
    if not math.isfinite(value):
        raise ScenarioError(file, field, f"must be finite, got {value}")
    if lo is not None and value < lo:
        raise ScenarioError(file, field, f"must be >= {lo}, got {value}")
    try:
        return to_fixed(value, scale, field)
    except ClearhouseError as exc:
        raise ScenarioError(file, field, f"is not a usable number: {exc}") from None


def annual_to_duty(fee: float) -> int:
    """Per-second RAY factor ``(1 + fee) ** (1 / year)`` (jug ``duty``), rounded half-even."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 60
        per_second = (Decimal(repr(1.0 + fee)).ln() / SECONDS_PER_YEAR).exp()
        return int((per_second * RAY).to_integral_value())


def _disposal(d: DisposalTable, file: str, field: str) -> AnyDisposal:
    for name in _ALL_DISPOSAL_FIELDS:
        if getattr(d, name) is not None and name not in _DISPOSAL_FIELDS[d.kind]:
            raise ScenarioError(
                file, f"{field}.{name}", f"is not a parameter of {d.kind} ({list(_DISPOSAL_FIELDS[d.kind])})"
            )

    def dur(name: str) -> int | None:
        v = getattr(d, name)
        return None if v is None else parse_duration(v, file, f"{field}.{name}")

    out: AnyDisposal
    if d.kind == "english_auction":
        kw: dict[str, Any] = {}
        if d.beg is not None:
            kw["beg"] = _fixed(d.beg, WAD, file, f"{field}.beg", lo=1.0)
        for name in ("ttl", "tau"):
            v = dur(name)
            if v is not None:
                kw[name] = v
        out = EnglishAuction(**kw)
    elif d.kind == "dutch_auction":
        tail = dur("tail")
        if tail is None:
            raise ScenarioError(file, f"{field}.tail", "is required for dutch_auction")
        curve = d.curve or "linear"
        kw = {"tail": tail, "curve": curve}
        if d.buf is not None:
            kw["buf"] = _fixed(d.buf, RAY, file, f"{field}.buf", lo=1.0)
        if d.cusp is not None:
            if not 0 <= d.cusp < 1:
                raise ScenarioError(file, f"{field}.cusp", f"must be in [0, 1), got {d.cusp}")
            kw["cusp"] = _fixed(d.cusp, RAY, file, f"{field}.cusp")
        for name, scale in (("chip", WAD), ("tip", WAD), ("hole", WAD)):
            v = getattr(d, name)
            if v is not None:
                kw[name] = _fixed(v, scale, file, f"{field}.{name}")
        if curve == "linear":
            tau = dur("tau")
            if tau is None:
                raise ScenarioError(file, f"{field}.tau", "is required for curve = 'linear'")
            kw["tau"] = tau
        else:
            if d.tau is not None:
                raise ScenarioError(file, f"{field}.tau", f"is only used by curve = 'linear', not {curve!r}")
            if d.cut is None:
                raise ScenarioError(file, f"{field}.cut", f"is required for curve = {curve!r}")
            if not 0 < d.cut <= 1:
                raise ScenarioError(file, f"{field}.cut", f"must be in (0, 1], got {d.cut}")
            kw["cut"] = _fixed(d.cut, RAY, file, f"{field}.cut")
            if curve == "stairstep":
                step = dur("step")
                if step is None:
                    raise ScenarioError(file, f"{field}.step", "is required for curve = 'stairstep'")
                kw["step"] = step
            elif d.step is not None:
                raise ScenarioError(file, f"{field}.step", "is only used by curve = 'stairstep'")
        out = DutchAuction(**kw)
    else:
        kw = {}
        for name in ("bonus", "close_factor", "full_below_health"):
            v = getattr(d, name)
            if v is not None:
                kw[name] = _fixed(v, WAD, file, f"{field}.{name}")
        if d.bonus is not None and not d.bonus < 1:
            raise ScenarioError(file, f"{field}.bonus", f"must be < 1, got {d.bonus}")
        if d.close_factor is not None and not 0 < d.close_factor <= 1:
            raise ScenarioError(file, f"{field}.close_factor", f"must be in (0, 1], got {d.close_factor}")
        out = FixedDiscount(**kw)
    _guard(file, field, lambda: out.validate(field))
    return out


def _prevalidate_vault_types(table: Mapping[str, Any], file: str) -> None:
    """Convert each ``[vaults.types.X]`` on its own so a type error names ``X`` (msgspec reports
    dictionary keys as ``[...]``)."""
    vaults = table.get("vaults")
    types = vaults.get("types") if isinstance(vaults, Mapping) else None
    if not isinstance(types, Mapping):
        return
    for tid, t in types.items():
        try:
            msgspec.convert(t, VaultTypeTable)
        except msgspec.ValidationError as exc:
            sub, msg = _msgspec_path(exc)
            field = f"vaults.types.{tid}.{sub}:" if sub else f"vaults.types.{tid}:"
            raise ScenarioError(file, field, msg) from None


def _validate_vaults(spec: ScenarioSpec, file: str, priced: set[str]) -> tuple[VaultTypeSpec, ...]:
    vs = spec.vaults
    assert vs is not None
    settle = spec.ledger.settlement_asset
    if vs.debt_limit < 0 or not math.isfinite(vs.debt_limit):
        raise ScenarioError(file, "vaults.debt_limit", f"must be finite and >= 0, got {vs.debt_limit}")
    if not vs.types:
        raise ScenarioError(file, "vaults.types", "needs at least one vault type")
    types: list[VaultTypeSpec] = []
    for tid in sorted(vs.types):
        t = vs.types[tid]
        f = f"vaults.types.{tid}"
        if t.collateral == settle or t.collateral not in spec.assets:
            raise ScenarioError(
                file, f"{f}.collateral", f"{t.collateral!r} must be a listed non-settlement asset"
            )
        key = t.oracle or t.collateral
        if key not in priced:
            raise ScenarioError(file, f"{f}.oracle", f"{key!r} has no price path")
        if not t.mat >= 1:
            raise ScenarioError(file, f"{f}.mat", f"must be >= 1, got {t.mat}")
        if not t.chop >= 1:
            raise ScenarioError(file, f"{f}.chop", f"must be >= 1, got {t.chop}")
        if not 0 <= t.stability_fee < 10:
            raise ScenarioError(file, f"{f}.stability_fee", f"must be in [0, 10), got {t.stability_fee}")
        if not t.line > 0:
            raise ScenarioError(file, f"{f}.line", f"must be > 0, got {t.line}")
        vt = VaultTypeSpec(
            id=tid,
            collateral=t.collateral,
            oracle=t.oracle,
            mat=_fixed(t.mat, RAY, file, f"{f}.mat"),
            line=_fixed(t.line, WAD, file, f"{f}.line"),
            chop=_fixed(t.chop, WAD, file, f"{f}.chop"),
            dust=_fixed(t.dust, WAD, file, f"{f}.dust"),
            duty=annual_to_duty(t.stability_fee),
            disposal=_disposal(t.disposal, file, f"{f}.disposal"),
        )
        _guard(file, f, vt.validate)
        types.append(vt)
    by_id = {v.id: v for v in types}

    vp = vs.population
    if vp.count <= 0:
        raise ScenarioError(file, "vaults.population.count", f"must be > 0, got {vp.count}")
    for tid, w in vp.types.items():
        if tid not in by_id:
            raise ScenarioError(file, f"vaults.population.types.{tid}", "is not a vault type of the scenario")
        if not (w >= 0 and math.isfinite(w)):
            raise ScenarioError(file, f"vaults.population.types.{tid}", f"weight must be >= 0, got {w}")
    if vp.types and sum(vp.types.values()) <= 0:
        raise ScenarioError(file, "vaults.population.types", "weights must not all be 0")
    _check_dist(vp.ratio, file, "vaults.population.ratio", lo=1.0)
    _check_dist(vp.debt, file, "vaults.population.debt")
    used = [v for v in types if not vp.types or vp.types.get(v.id, 0) > 0]
    ratio_min = vp.ratio.value if vp.ratio.dist == "fixed" and vp.ratio.value is not None else vp.ratio.min
    debt_min = vp.debt.value if vp.debt.dist == "fixed" and vp.debt.value is not None else vp.debt.min
    for v in used:
        mat = v.mat / RAY
        if ratio_min < mat * 1.01:
            raise ScenarioError(
                file,
                "vaults.population.ratio.min"
                if vp.ratio.dist != "fixed"
                else "vaults.population.ratio.value",
                f"({ratio_min}) must be at least 1.01 × mat of {v.id} ({mat * 1.01:g}) so vaults open safe",
            )
        if debt_min * WAD < v.dust:
            raise ScenarioError(
                file,
                "vaults.population.debt.min" if vp.debt.dist != "fixed" else "vaults.population.debt.value",
                f"({debt_min}) is below the dust of {v.id} ({v.dust / WAD:g})",
            )

    vk = vs.keepers
    if vk.count < 0:
        raise ScenarioError(file, "vaults.keepers.count", f"must be >= 0, got {vk.count}")
    for name in ("latency_blocks", "gas_cap_gwei", "capital", "discount", "profit_threshold"):
        value = getattr(vk, name)
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ScenarioError(file, f"vaults.keepers.{name}", "must not be an empty list")
        for v in values:
            if not math.isfinite(v):
                raise ScenarioError(file, f"vaults.keepers.{name}", f"must be finite, got {v}")
            if name != "profit_threshold" and v < 0:
                raise ScenarioError(file, f"vaults.keepers.{name}", f"must be >= 0, got {v}")
            if name == "discount" and not v < 1:
                raise ScenarioError(file, "vaults.keepers.discount", f"must be < 1, got {v}")
    if vk.gas_limit <= 0 or vk.failed_gas_limit < 0:
        raise ScenarioError(file, "vaults.keepers.gas_limit", "must be > 0 (failed_gas_limit >= 0)")
    if vk.max_per_block <= 0:
        raise ScenarioError(file, "vaults.keepers.max_per_block", f"must be > 0, got {vk.max_per_block}")
    zb = vk.zero_bidder
    if zb is not None:
        if not (zb.gas_cap_gwei >= 0 and math.isfinite(zb.gas_cap_gwei)):
            raise ScenarioError(file, "vaults.keepers.zero_bidder.gas_cap_gwei", "must be finite and >= 0")
        if zb.latency_blocks < 0:
            raise ScenarioError(file, "vaults.keepers.zero_bidder.latency_blocks", "must be >= 0")
        if not (zb.capital >= 0 and math.isfinite(zb.capital)):
            raise ScenarioError(file, "vaults.keepers.zero_bidder.capital", "must be finite and >= 0")
        if not 0 <= zb.discount < 1:
            raise ScenarioError(
                file, "vaults.keepers.zero_bidder.discount", f"must be in [0, 1), got {zb.discount}"
            )
    k = spec.keepers
    if (vk.count or zb is not None) and k.gas_token not in priced and k.gas_token_price is None:
        raise ScenarioError(
            file, "keepers.gas_token_price", f"is required: gas token {k.gas_token!r} has no price path"
        )
    return tuple(types)
