"""Scenario validation: one function per TOML section, called in a fixed order.

The order matters: the first problem found is the one reported, and tests pin it. Each section
raises :class:`ScenarioError` naming the file and the field path; nothing runs until all pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from clearhouse.core.fixedpoint import RAY, WAD
from clearhouse.lab.network import NetworkConfig, NetworkModel
from clearhouse.lab.prices import PriceModel, price_model_from_table, replays_of
from clearhouse.lab.scenario.build import amm_pool, disposal, liquidation_config, margin_model
from clearhouse.lab.scenario.datafiles import DataDir, choose, data_dir, replay_files
from clearhouse.lab.scenario.model import (
    AMM_SOURCE,
    BACKSTOP,
    AmmPool,
    Scenario,
    ScenarioError,
    guard,
    msgspec_path,
)
from clearhouse.lab.scenario.schema import (
    OPTION_BOOK_KINDS,
    AssetTable,
    DistSpec,
    FeedTable,
    MarketTable,
    ScenarioSpec,
    VaultTypeTable,
)
from clearhouse.lab.scenario.size import check_size, precheck_raw
from clearhouse.lab.scenario.units import annual_to_duty, fixed, parse_duration, wad
from clearhouse.ledger.contracts import ListingTerms
from clearhouse.ledger.model import AssetSpec, LedgerParams, MarketSpec, VaultTypeSpec
from clearhouse.oracle.config import FeedConfig, feed_config_from_dict


def _check_finite(value: Any, file: str, path: str = "") -> None:
    """Refuse nan and inf anywhere in the file (TOML allows them), naming the table and field."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError(file, path, f"must be finite, got {value}")
    if isinstance(value, Mapping):
        for key in sorted(value, key=str):
            _check_finite(value[key], file, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_finite(item, file, f"{path}[{i}]")


def validate(
    table: Mapping[str, Any], file: str = "scenario.toml", base_dir: Path | None = None, *, paths: int = 1
) -> Scenario:
    """Validate a raw scenario table; build the engine objects, the price and the network models.

    ``paths``: how many paths will run, for the memory estimate (:mod:`.size`) made before anything
    else is built."""
    _check_finite(table, file)
    precheck_raw(table, file, paths)
    spec = _parse(table, file)
    horizon = _check_timing(spec, file)
    check_size(spec, horizon, file, paths)
    params = _check_ledger(spec, file)
    assets, feeds = _check_assets(spec, file)
    derived = _check_feeds(spec, file, feeds)
    mk = _check_markets(table, spec, file, feeds, derived)
    data = data_dir(spec.data_dir, base_dir)
    price_model, priced, price_source = _check_prices(spec, file, base_dir, derived, horizon, data)
    network, gas_source = _check_network(spec, file, base_dir, data)
    _check_population(spec, file)
    _check_keepers(spec, file, priced)
    vault_types = _validate_vaults(spec, file, priced) if spec.vaults is not None else ()
    _validate_arbitrageurs(spec, file, mk.pooled, priced)
    if spec.options is not None:
        _validate_options(spec, file, priced)

    return Scenario(
        spec=spec,
        file=file,
        base_dir=base_dir,
        price_model=price_model,
        network=network,
        assets=tuple(assets),
        markets=tuple(mk.markets),
        feeds=feeds,
        params=params,
        horizon=horizon,
        raw=dict(table),
        vault_types=vault_types,
        amms=tuple(mk.amms),
        derived=derived,
        amm_links=mk.amm_links,
        data_sources=(price_source, gas_source),
    )


def _parse(table: Mapping[str, Any], file: str) -> ScenarioSpec:
    """The raw table as structs (each market and vault type converted on its own first)."""
    _prevalidate_vault_types(table, file)
    _prevalidate_markets(table, file)
    try:
        spec = msgspec.convert(dict(table), ScenarioSpec)
    except msgspec.ValidationError as exc:
        path, msg = msgspec_path(exc)
        raise ScenarioError(file, f"{path}:" if path else "", msg) from None
    return spec


def _check_timing(spec: ScenarioSpec, file: str) -> int:
    """Horizon, block time, seed and start time; returns the horizon in seconds."""
    horizon = parse_duration(spec.horizon, file, "horizon")
    if spec.block_time <= 0:
        raise ScenarioError(file, "block_time", f"must be > 0, got {spec.block_time}")
    if horizon < spec.block_time:
        raise ScenarioError(file, "horizon", f"must be at least one block_time ({spec.block_time} s)")
    if spec.seed < 0:
        raise ScenarioError(file, "seed", f"must be >= 0, got {spec.seed}")
    if spec.start_time < 0:
        raise ScenarioError(file, "start_time", f"must be >= 0, got {spec.start_time}")
    return horizon


def _check_ledger(spec: ScenarioSpec, file: str) -> LedgerParams:
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
    guard(file, "ledger", params.validate)
    return params


def _check_assets(spec: ScenarioSpec, file: str) -> tuple[list[AssetSpec], dict[str, FeedConfig]]:
    """Assets and their oracle feeds."""
    assets: list[AssetSpec] = []
    feeds: dict[str, FeedConfig] = {}
    for aid in sorted(spec.assets):
        a = spec.assets[aid]
        f = f"assets.{aid}"
        if not 0 <= a.haircut <= 1:
            raise ScenarioError(file, f"{f}.haircut", f"must be in [0, 1], got {a.haircut}")
        asset = AssetSpec(aid, a.decimals, wad(a.haircut, file, f"{f}.haircut"))
        guard(file, f, asset.validate)
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

        feed = guard(file, f"{f}.oracle", build_feed)
        feeds[aid] = feed
        check_feed_events(file, f, a, feed)
    return assets, feeds


def _check_feeds(spec: ScenarioSpec, file: str, feeds: dict[str, FeedConfig]) -> dict[str, str]:
    """Extra price keys ([feeds.K]): their own feeds around an asset's path; adds to ``feeds``."""
    settle = spec.ledger.settlement_asset
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

        feeds[key] = guard(file, f"{f}.oracle", build_derived)
        check_feed_events(file, f, ft, feeds[key])
        derived[key] = ft.asset
    return derived


@dataclass(frozen=True)
class _Markets:
    markets: list[MarketSpec]
    amms: list[AmmPool]
    pooled: set[str]
    amm_links: dict[str, tuple[str, ...]]


def _check_markets(
    table: Mapping[str, Any],
    spec: ScenarioSpec,
    file: str,
    feeds: dict[str, FeedConfig],
    derived: dict[str, str],
) -> _Markets:
    """Perp markets, their pools, and the oracle sources that read a pool."""
    settle = spec.ledger.settlement_asset
    venue_only = spec.vaults is None and spec.options is None  # perps are optional beside them
    if venue_only:
        for required in ("markets", "population"):
            if required not in table:
                raise ScenarioError(file, "", f"Object missing required field `{required}`")
    if not spec.markets and venue_only:
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
        model = margin_model(mt.margin_model, file, f"{f}.margin_model")
        market = MarketSpec(
            id=mid,
            oracle=mt.oracle,
            initial_margin=wad(mt.initial_margin, file, f"{f}.initial_margin"),
            maintenance_margin=wad(mt.maintenance_margin, file, f"{f}.maintenance_margin"),
            taker_fee=wad(mt.taker_fee, file, f"{f}.taker_fee"),
            maker_fee=wad(mt.maker_fee, file, f"{f}.maker_fee"),
            liquidation_fee=wad(mt.liquidation_fee, file, f"{f}.liquidation_fee"),
            liquidator_share=wad(mt.liquidator_share, file, f"{f}.liquidator_share"),
            step_size=wad(mt.step_size, file, f"{f}.step_size"),
            funding_interest=wad(mt.funding_interest, file, f"{f}.funding_interest"),
            funding_clamp_factor=wad(mt.funding_clamp_factor, file, f"{f}.funding_clamp_factor"),
            margin_model=model,
            price_band=wad(mt.price_band, file, f"{f}.price_band"),
            mark_min_notional=wad(mt.mark_min_notional, file, f"{f}.mark_min_notional"),
        )
        if mt.liquidation is not None:
            liq = liquidation_config(mt.liquidation, file, f"{f}.liquidation", mid)
            market = msgspec.structs.replace(market, liquidation=liq)
            if liq.disposal == "amm" and mt.amm is None:
                raise ScenarioError(
                    file, f"{f}.amm", "is required: liquidation.disposal = 'amm' sells into the market's pool"
                )
        if mt.amm is not None:
            amms.append(amm_pool(mid, mt.amm, file, f"{f}.amm"))
        guard(file, f, market.validate)
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
    return _Markets(markets, amms, pooled, amm_links)


def _check_prices(
    spec: ScenarioSpec, file: str, base_dir: Path | None, derived: dict[str, str], horizon: int, data: DataDir
) -> tuple[PriceModel, set[str], str]:
    """The price model; every non-settlement asset has a path. Returns the model, the priced keys and
    the one-line price source (file or fallback, ``datafiles``)."""
    settle = spec.ledger.settlement_asset
    prices_table = dict(spec.prices)
    if "model" not in prices_table:
        raise ScenarioError(
            file, "prices.model", "is required (gbm, merton, garch, waypoints, replay, columns)"
        )
    fallback = prices_table.pop("fallback", None)
    source = f"prices: {prices_table['model']}"
    model_dir = base_dir
    if fallback is not None:
        choice = choose(
            "prices", prices_table, replay_files(prices_table), fallback, data, file, "prices.fallback"
        )
        if replay_files(fallback):
            raise ScenarioError(file, "prices.fallback", "must not read data files itself")
        # the fallback is always built, so a broken one fails even where the data are present
        fb = dict(fallback)
        guard(file, "prices.fallback", lambda: price_model_from_table(fb, base_dir=None))
        prices_table, model_dir, source = choice.table, choice.base_dir, choice.source
    table = prices_table
    price_model = guard(file, "prices", lambda: price_model_from_table(table, base_dir=model_dir))
    # the data cover the whole run (the runner reads offsets 0 .. n_blocks - 1 blocks)
    last = horizon // spec.block_time * spec.block_time
    for replay in replays_of(price_model):
        guard(file, "prices", partial(replay.check_window, 0, last))
    priced = set(price_model.assets) | set(derived)
    for aid in sorted(spec.assets):
        if aid != settle and aid not in priced:
            raise ScenarioError(
                file, "prices.assets", f"has no path for asset {aid!r} (model assets: {sorted(priced)})"
            )
    return price_model, priced, source


def _check_network(
    spec: ScenarioSpec, file: str, base_dir: Path | None, data: DataDir
) -> tuple[NetworkModel, str]:
    net_table = dict(spec.network)
    if "block_time" in net_table and net_table["block_time"] != spec.block_time:
        raise ScenarioError(
            file, "network.block_time", f"must equal block_time ({spec.block_time}) or be omitted"
        )
    net_table["block_time"] = spec.block_time
    net_table.setdefault("genesis_time", 0)
    net_table.setdefault("gas", {"source": "parametric", "base_gwei": 20.0})
    fallback = net_table.pop("gas_fallback", None)
    gas = net_table["gas"]
    source = f"gas: {gas.get('source', '?') if isinstance(gas, Mapping) else '?'}"
    net_dir = base_dir
    if fallback is not None:
        csv_gas = isinstance(gas, Mapping) and gas.get("source") == "csv" and "file" in gas
        files = [str(gas["file"])] if csv_gas else []
        choice = choose("gas", dict(gas), files, fallback, data, file, "network.gas_fallback")
        if isinstance(fallback, Mapping) and fallback.get("source") == "csv":
            raise ScenarioError(file, "network.gas_fallback", "must not read a data file itself")
        fb_table = {**net_table, "gas": dict(fallback)}
        guard(file, "network.gas_fallback", lambda: NetworkModel(msgspec.convert(fb_table, NetworkConfig)))
        net_table["gas"], net_dir, source = choice.table, choice.base_dir, choice.source

    def _network() -> NetworkModel:
        return NetworkModel(msgspec.convert(net_table, NetworkConfig), net_dir)

    network = guard(file, "network", _network)
    return network, source


def _check_population(spec: ScenarioSpec, file: str) -> None:
    """Traders are defined without the margin rules: no leverage bound from initial margin here
    (one above 1 / initial margin opens at the most the market allows, :mod:`clearhouse.lab.population`)."""
    pop = spec.population
    others = spec.vaults is not None or spec.options is not None
    if pop.accounts < 0 or (pop.accounts == 0 and (not others or spec.markets)):
        raise ScenarioError(file, "population.accounts", f"must be > 0, got {pop.accounts}")
    check_dist(pop.collateral, file, "population.collateral")
    check_dist(pop.leverage, file, "population.leverage")
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
    if pop.collateral_mix and abs(math.fsum(pop.collateral_mix.values()) - 1.0) > 1e-9:
        total = math.fsum(pop.collateral_mix.values())
        raise ScenarioError(file, "population.collateral_mix", f"shares must sum to 1, got {total:g}")
    for mid, d in sorted(pop.leverage_by_market.items()):
        if mid not in spec.markets:
            raise ScenarioError(
                file, f"population.leverage_by_market.{mid}", "is not a market of the scenario"
            )
        check_dist(d, file, f"population.leverage_by_market.{mid}")
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


def _check_keepers(spec: ScenarioSpec, file: str, priced: set[str]) -> None:
    led = spec.ledger
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
            sub, msg = msgspec_path(exc)
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
            mat=fixed(t.mat, RAY, file, f"{f}.mat"),
            line=fixed(t.line, WAD, file, f"{f}.line"),
            chop=fixed(t.chop, WAD, file, f"{f}.chop"),
            dust=fixed(t.dust, WAD, file, f"{f}.dust"),
            duty=annual_to_duty(t.stability_fee),
            disposal=disposal(t.disposal, file, f"{f}.disposal"),
        )
        guard(file, f, vt.validate)
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
    check_dist(vp.ratio, file, "vaults.population.ratio", lo=1.0)
    check_dist(vp.debt, file, "vaults.population.debt")
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


# prevalidate_markets, check_dist, check_feed_events
def _validate_options(spec: ScenarioSpec, file: str, priced: set[str]) -> None:
    """``[options]``: the underlying is a priced asset, expiries fit the settlement window, weights,
    distributions and the futures' listing terms make sense (``docs/scenarios.md``, "Options")."""
    o = spec.options
    assert o is not None
    settle = spec.ledger.settlement_asset
    if o.underlying == settle or o.underlying not in priced:
        raise ScenarioError(
            file, "options.underlying", f"must be a priced asset other than {settle}, got {o.underlying!r}"
        )
    if spec.block_time > 1800:
        raise ScenarioError(
            file, "block_time", "must be <= 1800 s with [options] (the settlement window needs prints)"
        )
    if not o.series:
        raise ScenarioError(file, "options.series", "needs at least one series")
    seen: set[int] = set()
    for i, ser in enumerate(o.series):
        f = f"options.series[{i}]"
        expiry = parse_duration(ser.expiry, file, f"{f}.expiry")
        if expiry in seen:
            raise ScenarioError(file, f"{f}.expiry", "repeats another series' expiry")
        seen.add(expiry)
        for name in ("put", "call", "weight"):
            v = getattr(ser, name)
            if not (v > 0 if name != "weight" else v >= 0):
                raise ScenarioError(file, f"{f}.{name}", f"must be > 0, got {v}")
    if not any(ser.weight > 0 for ser in o.series):
        raise ScenarioError(file, "options.series", "weights must not all be 0")
    if not o.vol > 0 or o.vol_beta < 0:
        raise ScenarioError(file, "options.vol", f"must be > 0 (vol_beta >= 0), got {o.vol} / {o.vol_beta}")
    prev = -1
    for i, p in enumerate(o.vol_points):
        at = 0 if p.at in (0, "0") else parse_duration(p.at, file, f"options.vol_points[{i}].at")
        if at <= prev or not p.level > 0:
            raise ScenarioError(file, f"options.vol_points[{i}]", "must come after the one before, level > 0")
        prev = at
    parse_duration(o.table_every, file, "options.table_every")
    if not o.table_move > 0:
        raise ScenarioError(file, "options.table_move", f"must be > 0, got {o.table_move}")
    for name in ("tick_size", "step_size"):
        if not getattr(o, name) > 0:
            raise ScenarioError(file, f"options.{name}", f"must be > 0, got {getattr(o, name)}")

    def terms() -> ListingTerms:
        t = ListingTerms(
            initial_margin=wad(o.future_initial_margin, file, "options.future_initial_margin"),
            maintenance_margin=wad(o.future_maintenance_margin, file, "options.future_maintenance_margin"),
            liquidation_fee=wad(o.liquidation_fee, file, "options.liquidation_fee"),
        )
        t.validate("options futures")
        return t

    guard(file, "options", terms)
    pop = o.population
    if pop.accounts < 0:
        raise ScenarioError(file, "options.population.accounts", f"must be >= 0, got {pop.accounts}")
    for kind, w in pop.books.items():
        if kind not in OPTION_BOOK_KINDS:
            raise ScenarioError(
                file, f"options.population.books.{kind}", f"is not a book kind {list(OPTION_BOOK_KINDS)}"
            )
        if not w >= 0:
            raise ScenarioError(file, f"options.population.books.{kind}", f"weight must be >= 0, got {w}")
    if pop.books and not any(w > 0 for w in pop.books.values()):
        raise ScenarioError(file, "options.population.books", "weights must not all be 0")
    check_dist(pop.size, file, "options.population.size")
    check_dist(pop.buffer, file, "options.population.buffer")
    if not pop.hedge_ratio >= 0:
        raise ScenarioError(file, "options.population.hedge_ratio", f"must be >= 0, got {pop.hedge_ratio}")
    k = o.keepers
    if k.count < 0 or not k.capital >= 0:
        raise ScenarioError(file, "options.keepers", "count and capital must be >= 0")
    lat = k.latency_blocks if isinstance(k.latency_blocks, list) else [k.latency_blocks]
    if not lat or any(v < 1 for v in lat):
        raise ScenarioError(file, "options.keepers.latency_blocks", "must be >= 1 (a non-empty list)")


def check_dist(d: DistSpec, file: str, field: str, *, lo: float = 0.0) -> None:
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


def check_feed_events(file: str, f: str, a: AssetTable | FeedTable, feed: FeedConfig) -> None:
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


def _prevalidate_markets(table: Mapping[str, Any], file: str) -> None:
    """Convert each ``[markets.X]`` on its own so a type error names ``X``."""
    markets = table.get("markets")
    if not isinstance(markets, Mapping):
        return
    for mid, t in markets.items():
        try:
            msgspec.convert(t, MarketTable)
        except msgspec.ValidationError as exc:
            sub, msg = msgspec_path(exc)
            field = f"markets.{mid}.{sub}:" if sub else f"markets.{mid}:"
            raise ScenarioError(file, field, msg) from None
