"""Raw scenario structs: the TOML tables as frozen :mod:`msgspec` structs, in human numbers.

Nothing here checks consistency between tables; :mod:`.validate` does that and :mod:`.build` turns
the checked values into engine objects.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

#: Percentile names of the network's gas model.
GasLevel = Literal["p30", "p60", "p90", "max"]


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
    #: Leverage = position notional / collateral value at the opening price (what a trader wants;
    #: independent of the margin rules: one above 1 / initial margin opens at the most allowed).
    leverage: DistSpec
    #: Market -> its own leverage distribution (default: ``leverage`` for every market).
    leverage_by_market: dict[str, DistSpec] = {}
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


class OptionSeriesTable(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One expiry of ``[options]``: a put, a call and a dated future on the underlying, all expiring
    ``expiry`` after the path's start; strikes as fractions of the opening index."""

    expiry: int | str
    put: float = 0.9
    call: float = 1.1
    #: Share of the option books written on this series.
    weight: float = 1.0


class VolWaypoint(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The implied-vol multiplier is ``level`` at ``at`` (seconds or "6h" after the path's start)."""

    at: int | str
    level: float


#: Book kinds of ``[options.population] books``.
OPTION_BOOK_KINDS = ("short_put", "short_strangle", "covered_call", "delta_hedged", "future_long")


class OptionPopulationSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Option and futures books; each deposits its initial requirement under the grid × (1 + buffer)."""

    accounts: int
    #: Book kind -> weight: ``short_put``, ``short_strangle``, ``covered_call`` (long future + short
    #: call), ``delta_hedged`` (short put + short ``hedge_ratio`` × size of the future), ``future_long``.
    books: dict[str, float] = {}
    #: Contracts (base units) per book.
    size: DistSpec
    #: Collateral above the book's initial requirement, as a fraction of it.
    buffer: DistSpec
    hedge_ratio: float = 0.3


class OptionKeeperSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Keepers sending ``LiquidateContracts`` for option accounts the engine reports below maintenance
    (keeper ``i`` takes item ``i mod len`` of a list); they keep the legs they take over."""

    count: int = 2
    latency_blocks: int | list[int] = 1
    #: Settlement collateral each keeper holds (it must meet initial margin after a takeover).
    capital: float = 1_000_000_000.0


class OptionsSpec(_S, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Dated futures and European options on one underlying, margined by a portfolio-margin grid whose
    scenario table the lab publishes (``SetScenarioTable``) as the index and the vol path move."""

    underlying: str
    #: Grid spec of the portfolio margin: ``span16``, ``deribit`` or ``derive`` (a sweep varies it).
    grid: Literal["span16", "deribit", "derive"] = "derive"
    series: list[OptionSeriesTable]
    #: Implied vol (annualised fraction) of every option at the opening index, before the path.
    vol: float = 0.6
    #: Vol rises as the index falls: vol × (opening index / index) ^ vol_beta.
    vol_beta: float = 1.0
    #: Vol multiplier over time (linear between points, held after the last); default flat 1.
    vol_points: list[VolWaypoint] = []
    #: Seconds between scenario-table refreshes (the publisher's cadence) ...
    table_every: int | str = 3600
    #: ... and an early refresh when the index moved more than this fraction since the last table.
    table_move: float = 0.05
    #: Penalty of a liquidated leg and the futures' fixed fractions (``ListingTerms``).
    liquidation_fee: float = 0.01
    future_initial_margin: float = 0.10
    future_maintenance_margin: float = 0.05
    tick_size: float = 0.1
    step_size: float = 0.01
    population: OptionPopulationSpec
    keepers: OptionKeeperSpec = OptionKeeperSpec()
    #: Settlement capital of the options market maker (the counterparty of every opening trade).
    market_maker_capital: float = 1_000_000_000.0


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
    #: Directory of the data files a ``[prices]`` table with a ``fallback`` (or a ``[network]`` with
    #: ``gas_fallback``) reads; relative to the scenario file. Default ``$CLEARHOUSE_DATA_DIR``, else
    #: ``../shared/data`` beside the repository (``scenario.datafiles``).
    data_dir: str | None = None
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
    #: Dated futures and options on one underlying (``docs/scenarios.md``, "Options").
    options: OptionsSpec | None = None
