"""Drive the engine through a scenario, block by block, and record what happened.

One path: the price model draws the external prices for every block of the horizon (``to_wad`` once);
set-up blocks list the assets, markets and oracle feeds, open and fund the accounts, warm the feeds up
(a one-hour ``delay`` feed needs an hour of reports) and open the population's positions against the
market maker; then for every path block

1. the oracle: direct block prices, or one report per source to the asset's feed (with noise,
   manipulations and outages) — so a delayed or stale oracle is the engine's own oracle layer;
2. the agents' transactions that land in this block (keepers' close-outs, unwinds, top-ups);
3. ``Engine.apply_block`` — the same engine as the node and verify;
4. observation: the engine's scan (kept by :class:`LabScanner`) confirmed exactly, events, pools;
   a timeseries row; the agents decide and send transactions for later blocks.

Same scenario + seed → identical blocks, events, state root and summary. The engine runs without a
journal (``Engine(journal=None)``). What a path observed goes to :class:`~clearhouse.lab.facts.PathFacts`
(breaches and insolvency through :class:`~clearhouse.lab.breaches.BreachTracker`, the loss waterfall
through :class:`~clearhouse.lab.losses.LossTally`), which :mod:`clearhouse.lab.metrics` summarises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import msgspec
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from clearhouse.core.errors import MissingPrice
from clearhouse.core.fixedpoint import WAD, to_fixed
from clearhouse.lab.agents import Agents, PendingTx
from clearhouse.lab.arbitrage import Arbitrageurs, ArbTx, pool_price
from clearhouse.lab.breaches import BreachTracker
from clearhouse.lab.controller_run import ControllerRun
from clearhouse.lab.controller_run import parse as parse_controller
from clearhouse.lab.facts import PathFacts
from clearhouse.lab.losses import LossTally
from clearhouse.lab.metrics import contagion_summary, path_summary
from clearhouse.lab.population import Trader, build_population
from clearhouse.lab.prices import to_wad
from clearhouse.lab.scenario import AMM_SOURCE, Scenario, ScenarioError, load_scenario
from clearhouse.lab.vault_agents import VaultAgents, VaultPopulation, build_vault_population
from clearhouse.ledger import commands as c
from clearhouse.ledger import events as ev
from clearhouse.ledger.block import Block
from clearhouse.ledger.conservation import conservation_gaps as conservation_gaps
from clearhouse.ledger.enforcement import Confirmed, ExactScanner, Target, confirm
from clearhouse.ledger.engine import BlockResult, Engine
from clearhouse.ledger.margin import cross_summary, isolated_summary
from clearhouse.ledger.model import LedgerState
from clearhouse.oracle.config import DelayConfig
from clearhouse.oracle.reports import SourceReport
from clearhouse.oracle.states import OracleState
from clearhouse.risk.scanner import ColumnarScanner

_json = msgspec.json.Encoder(order="deterministic")


#: How ``amm:<market>`` oracle sources report: the pool price, or the external price (baseline).
AmmSourceMode = Literal["pool", "external"]

#: The lab screens with the engine's columnar scanner and charts its last result.
LabScanner = ColumnarScanner


@dataclass
class PathResult:
    """Everything one path produced; ``summary`` is small and JSON-ready (see ``metrics``)."""

    scenario: str
    seed: int
    summary: dict[str, Any]
    timeseries: pa.Table
    events: pa.Table
    state_root: str
    engine: Engine | None = field(default=None, repr=False)


# ----------------------------------------------------------------------------- oracle inputs


def warmup_blocks(scenario: Scenario) -> int:
    """Blocks of reports before the opening trades, so every feed is fresh when positions open."""
    longest = 0
    for feed in scenario.feeds.values():
        delay = sum(p.delay for p in feed.policies if isinstance(p, DelayConfig))
        longest = max(longest, delay)
    return -(-longest // scenario.block_time) + 2


class OracleInputs:
    """Source reports (or direct prices) per block from the path, deterministic per seed."""

    def __init__(self, scenario: Scenario, seed: int, amm_sources: AmmSourceMode = "pool") -> None:
        self.scenario = scenario
        #: ``pool``: an ``amm:<market>`` source reports the pool price; ``external``: the path price
        #: (the no-contagion baseline of the same path).
        self.amm_sources = amm_sources
        self.assets = scenario.priced_assets
        self.col = {a: j for j, a in enumerate(self.assets)}
        self.rng = np.random.Generator(np.random.PCG64([seed, 2]))
        self.direct = [
            a for a in self.assets if a not in scenario.feeds and a != scenario.params.settlement_asset
        ]
        self.feeds = sorted(scenario.feeds)

    def block_inputs(
        self,
        s: int,
        time: int,
        row_f: np.ndarray,
        row_w: list[int],
        pools: Mapping[str, int] | None = None,
    ) -> tuple[dict[str, int], tuple[SourceReport, ...]]:
        """Direct prices and source reports of a block; ``pools`` are the AMM pool prices (WAD) of
        the engine state before the block, read by ``amm:<market>`` sources."""
        prices = {a: row_w[self.col[a]] for a in self.direct}
        reports: list[SourceReport] = []
        for asset in self.feeds:
            table = self.scenario.feed_table(asset)
            feed = self.scenario.feeds[asset]
            j = self.col[asset]
            z = self.rng.standard_normal(len(feed.sources)) if table.source_noise > 0 else None
            for i, source in enumerate(feed.sources):
                if any(
                    o.start <= s
                    and (o.end is None or s < o.end)
                    and (o.sources is None or source in o.sources)
                    for o in table.outages
                ):
                    continue
                factor = 1.0
                for m in table.manipulations:
                    if m.source == source and m.start <= s < m.start + m.duration:
                        share = min(1.0, (s - m.start) / m.ramp) if m.ramp else 1.0
                        factor *= m.factor**share
                if source.startswith(AMM_SOURCE):
                    pool = (pools or {}).get(source.removeprefix(AMM_SOURCE))
                    base = row_w[j] if self.amm_sources == "external" or not pool else pool
                    price = base if factor == 1.0 else to_fixed(base / WAD * factor, WAD, source)
                elif z is None and factor == 1.0:
                    price = row_w[j]
                else:
                    noisy = (
                        float(row_f[j])
                        * factor
                        * (1.0 + table.source_noise * float(z[i]) if z is not None else 1.0)
                    )
                    price = to_fixed(max(noisy, 1e-18), WAD, f"report of {asset} from {source}")
                reports.append(SourceReport(source, asset, max(price, 1), time))
        return prices, tuple(reports)


# ----------------------------------------------------------------------------- the path


def _conservation(state: LedgerState) -> dict[str, bool]:
    """The engine's conservation identity per asset (:func:`conservation_gaps` is 0)."""
    return {asset: gap == 0 for asset, gap in conservation_gaps(state).items()}


def _any_price(state: LedgerState) -> Callable[[str], int]:
    settle = state.params.settlement_asset

    def lookup(key: str) -> int:
        if key == settle:
            return WAD
        entry = state.prices.get(key)
        if entry is None:
            raise MissingPrice(f"no price for {key}")
        return entry[0]

    return lookup


def unrealised_bad_debt(state: LedgerState, accounts: Iterable[str]) -> int:
    """Σ max(0, −equity) over buckets still holding positions, at the last prices (stale or not)."""
    price_of = _any_price(state)
    total = 0
    for aid in accounts:
        acct = state.accounts[aid]
        if any(not p.isolated and p.size for p in acct.positions.values()):
            total += max(0, -cross_summary(state, acct, price_of).equity)
        for pos in acct.positions.values():
            if pos.isolated and pos.size:
                total += max(0, -isolated_summary(state, pos, price_of).equity)
    return total


def run_path(
    scenario: Scenario,
    seed: int | None = None,
    *,
    on_block: Callable[[int, int], None] | None = None,
    keep_engine: bool = False,
    amm_sources: AmmSourceMode = "pool",
    baseline: bool | None = None,
    controller: str | None = None,
) -> PathResult:
    """Run one path of ``scenario`` (``seed`` defaults to the scenario's) through the engine.

    With feeds reading an AMM pool (``amm:<market>`` sources), ``amm_sources = "external"`` makes
    those sources report the external price instead (everything else identical), and ``baseline``
    (default: the scenario's ``[contagion] baseline``) runs that variant too and adds the
    comparison to the summary (``contagion``, ``docs/metrics.md``). ``controller`` (``NAME`` or
    ``NAME:PROFILE``) names a built-in risk controller that runs as an agent through the steward
    (``clearhouse.lab.controller_run``).
    """
    seed = scenario.spec.seed if seed is None else seed
    bt = scenario.block_time
    n = scenario.n_blocks
    offsets = np.arange(n, dtype=np.int64) * bt
    path_f = extended_path(scenario, offsets, seed)
    path_w = to_wad(path_f)
    assets = scenario.priced_assets
    col = {a: j for j, a in enumerate(assets)}
    p0 = {a: float(path_f[0, j]) for a, j in col.items()}
    pop = build_population(scenario, seed, p0)
    vpop: VaultPopulation | None = (
        build_vault_population(scenario, seed, p0) if scenario.vault_types else None
    )
    ctl = _controller_run(controller, scenario, pop.traders) if controller else None
    ctl_txs: list[c.AnyCommand] = []
    warm = warmup_blocks(scenario)
    start = scenario.spec.start_time
    if start < (warm + 2) * bt:
        raise ScenarioError(scenario.file, "start_time", f"must be >= {(warm + 2) * bt} to fit the warm-up")

    scanner = LabScanner(reuse=False)  # charts read ``last`` every block
    engine = Engine(scanner=scanner)
    oracle_in = OracleInputs(scenario, seed, amm_sources)
    settle = scenario.params.settlement_asset
    events_rows: list[tuple[int, int, str, str | None, str | None, float, str]] = []
    pool_markets = sorted(p.market for p in scenario.amms)
    losses = LossTally(settle)
    #: Isolated buckets: an isolated position exists only after a TransferMargin into it.
    isolated: set[Target] = set()

    def pools_now() -> dict[str, int]:
        out: dict[str, int] = {}
        for mid in pool_markets:
            m = engine.state.markets.get(mid)
            if m is not None and m.amm_account and m.amm_base > 0:
                out[mid] = pool_price(m.amm_base, m.amm_quote)
        return out

    def apply(phase_block: int, time: int, s: int, row: int, txs: Sequence[c.AnyCommand]) -> BlockResult:
        prices, reports = oracle_in.block_inputs(s, time, path_f[row], path_w[row], pools_now())
        if engine.state.height == 0:
            reports = ()  # the feeds are configured by the first block's transactions
        block = Block(engine.state.height + 1, time, prices, tuple(txs), reports)
        result = engine.apply_block(block)
        for e in result.events:
            events_rows.append(_event_row(phase_block, s, e))
            if isinstance(e, ev.MarginTransferred) and e.amount > 0:
                isolated.add((e.account, e.market))
        losses.add(result.events)
        return result

    # -- set-up and warm-up (before the path: negative simulation seconds) ----------------------
    opening_rejected = 0
    for j in range(warm + 1):
        s = -(warm + 1 - j) * bt
        txs: list[c.AnyCommand] = []
        if j == 0:
            txs = [*pop.setup, *pop.deposits]
            if vpop is not None:
                txs = [*pop.setup, *vpop.setup, *pop.deposits, *vpop.deposits]
            if ctl is not None:
                txs += ctl.setup_txs()
        elif j == warm:
            for key in sorted(scenario.feeds):
                feed = engine.state.oracles[key]
                if feed.state is not OracleState.FRESH:
                    raise ScenarioError(
                        scenario.file,
                        f"assets.{key}.oracle",
                        f"is {feed.state.value} after {warm} warm-up blocks; positions cannot open",
                    )
            prices = {k: p for k, (p, _) in engine.state.prices.items()}
            txs = pop.opening(prices)
            if vpop is not None:
                txs += vpop.opening(prices)
        result = apply(-(warm + 1 - j), start + s, s, 0, txs)
        if j == 0 or j == warm:
            bad = [e for e in result.events if isinstance(e, ev.TransactionRejected)]
            if j == 0 and bad:
                raise ScenarioError(scenario.file, "", f"set-up transaction rejected: {bad[0].message}")
            opening_rejected += len(bad)

    trader_ids = [t.id for t in pop.traders]
    book = scanner.book
    assert book is not None
    pop_rows = np.array([book.row_of[a] for a in trader_ids], dtype=np.int64)
    agents = Agents(scenario, pop.traders, n)
    vagents = VaultAgents(scenario, vpop, n) if vpop is not None else None
    arbs = Arbitrageurs(scenario, n) if scenario.amms else None
    vts = _Timeseries([], [])
    ats = _Timeseries([], [])
    amm_volume: dict[str, int] = dict.fromkeys(pool_markets, 0)
    amm_shortfall: dict[str, int] = dict.fromkeys(pool_markets, 0)
    amm_slippage: dict[str, int] = dict.fromkeys(pool_markets, 0)
    linked_markets = {m.id for m in scenario.markets if m.oracle in scenario.amm_links}
    liq_by_market: dict[str, list[int]] = {}
    resp_rows_arr = np.array(
        [book.row_of[t.id] for t in pop.traders if t.responsive and not t.isolated], dtype=np.int64
    )
    resp_iso = {t.id for t in pop.traders if t.responsive and t.isolated}
    threshold = scenario.spec.population.add_margin.threshold
    pop_set = set(trader_ids)
    report_mode = scenario.params.enforcement == "report"
    cap = scenario.params.max_liquidations_per_block

    ts = _Timeseries(assets, sorted(scenario.feeds))
    breaches = BreachTracker()
    liquidated_accounts: set[str] = set()
    market_ids = sorted(engine.state.markets)
    insurance_start = engine.state.pools.insurance.get(settle, 0)

    for k in range(n):
        s = int(offsets[k])
        time = start + s
        due: list[PendingTx] = agents.due(k)
        vdue = vagents.due(k) if vagents is not None else []
        adue: list[ArbTx] = arbs.due(k) if arbs is not None else []
        result = apply(
            k,
            time,
            s,
            k,
            [tx.command for tx in due] + [tx.command for tx in vdue] + [tx.command for tx in adue] + ctl_txs,
        )
        state = engine.state
        if ctl is not None:
            ctl.record(engine, result, len(due) + len(vdue) + len(adue), len(ctl_txs))

        rejected: set[int] = set()
        if arbs is not None:
            first = len(due) + len(vdue)
            arejected = {
                e.tx_index - first
                for e in result.events
                if isinstance(e, ev.TransactionRejected) and first <= e.tx_index < first + len(adue)
            }
            arbs.settle_results(adue, arejected, result.events, path_f[k])
        if vagents is not None:
            first = len(due)
            vrejected = {
                e.tx_index - first
                for e in result.events
                if isinstance(e, ev.TransactionRejected) and first <= e.tx_index < first + len(vdue)
            }
            vagents.settle_results(vdue, vrejected, path_f[k])
            vagents.record(k, s, result.events, path_f[k], engine)
        rewards: dict[tuple[str, str], int] = {}
        n_liq = 0
        liq_notional = 0
        bad_debt_block = 0
        closed: list[tuple[str, str]] = []
        for e in result.events:
            if isinstance(e, ev.TransactionRejected):
                rejected.add(e.tx_index)
            elif isinstance(e, ev.PositionClosedOut):
                if e.account in pop_set:
                    n_liq += 1
                    liq_notional += e.notional
                    closed.append((e.account, e.market))
                    liq_by_market.setdefault(e.market, [0, 0])[0] += 1
                    liq_by_market[e.market][1] += e.notional
            elif isinstance(e, ev.PositionLiquidated):
                notional = e.closed * e.oracle_price // WAD
                if e.account in pop_set:
                    n_liq += 1
                    liq_notional += notional
                    closed.append((e.account, e.market))
                    liq_by_market.setdefault(e.market, [0, 0])[0] += 1
                    liq_by_market[e.market][1] += notional
                if e.disposal == "amm" and e.market in amm_volume:
                    amm_volume[e.market] += notional
                    amm_shortfall[e.market] += e.shortfall
                    amm_slippage[e.market] += max(
                        0, notional - e.fill_quote if e.fill_quote > 0 else -e.fill_quote - notional
                    )
            elif isinstance(e, ev.CloseOutPenaltyCharged):
                rewards[(e.liquidator, e.account)] = (
                    rewards.get((e.liquidator, e.account), 0) + e.liquidator_reward
                )
            elif isinstance(e, ev.BadDebtRecorded):
                bad_debt_block += e.amount
        prices_now = {key: p for key, (p, _) in state.prices.items()}
        agents.settle_results(due, rejected, rewards, agents.gas_token_price(prices_now))

        for aid, mid in closed:
            liquidated_accounts.add(aid)
            breaches.liquidated(k, (aid, mid) if (aid, mid) in isolated else (aid, None))

        # observation. Keepers see the engine's exact reports (BelowMaintenance, enforcement =
        # "report", capped and rotated by the engine) or, with a backstop, the scan's most underwater
        # candidates confirmed exactly. Breach bookkeeping screens every account with the scan.
        last = scanner.last
        if report_mode:
            confirmed = [
                Confirmed((e.account, e.market), e.equity, e.maintenance)
                for e in result.events
                if isinstance(e, ev.BelowMaintenance) and e.account in pop_set
            ]
        else:
            if last is not None:
                cands: list[Target] = [(a, None) for a in last.candidates[:cap]]
                cands += [(a, m) for a, m in last.isolated_candidates[:cap]]
            else:
                cands = list(ExactScanner().candidates(state, ()))
            confirmed = [x for x in confirm(state, cands, engine.prices()) if x.target[0] in pop_set]
        confirmed.sort(key=lambda x: (x.health, x.target[0], x.target[1] or ""))
        under_water: set[Target] = set()
        if last is not None:
            below = (last.maintenance[pop_rows] > 0) & (last.health[pop_rows] < 1.0)
            now_targets: set[Target] = set()
            for r in pop_rows[below].tolist():
                now_targets.add((book.account_ids[r], None))
            for r in pop_rows[last.equity[pop_rows] < 0].tolist():
                under_water.add((book.account_ids[r], None))
            for slot in np.flatnonzero(last.iso_health < 1.0).tolist():
                aid = book.account_ids[int(last.iso_rows[slot])]
                if aid in pop_set:
                    target = (aid, book.markets[int(last.iso_cols[slot])])
                    now_targets.add(target)
                    if last.iso_equity[slot] < 0:
                        under_water.add(target)
        else:
            exact = confirm(state, ExactScanner().candidates(state, ()), engine.prices())
            now_targets = {x.target for x in exact if x.target[0] in pop_set}
            under_water = {x.target for x in exact if x.target[0] in pop_set and x.equity < 0}
            neg_exact = sum(-x.equity for x in exact if x.target in under_water)
        breaches.observe(k, now_targets, under_water)

        warned: list[tuple[str, str | None, float, float]] = []
        within10 = 0
        neg_equity = 0.0 if last is not None else neg_exact / WAD
        total_collateral = 0.0
        if last is not None:
            h = last.health[pop_rows]
            mm = last.maintenance[pop_rows]
            within10 = int(np.count_nonzero((mm > 0) & (h >= 1.0) & (h < 1.1)))
            within10 += int(np.count_nonzero((last.iso_health >= 1.0) & (last.iso_health < 1.1)))
            neg_equity = float(np.clip(-last.equity[pop_rows], 0, None).sum()) + float(
                np.clip(-last.iso_equity, 0, None).sum()
            )
            if resp_rows_arr.size or resp_iso:
                hr = last.health[resp_rows_arr]
                low = (last.maintenance[resp_rows_arr] > 0) & (hr < threshold)
                for row in resp_rows_arr[low].tolist():
                    warned.append(
                        (book.account_ids[row], None, float(last.equity[row]), float(last.maintenance[row]))
                    )
                for slot in np.flatnonzero(last.iso_health < threshold).tolist():
                    aid = book.account_ids[int(last.iso_rows[slot])]
                    if aid in resp_iso:
                        warned.append(
                            (
                                aid,
                                book.markets[int(last.iso_cols[slot])],
                                float(last.iso_equity[slot]),
                                float(last.iso_maintenance[slot]),
                            )
                        )
            pvec = np.array(
                [1.0 if a == settle else prices_now.get(a, 0) / WAD for a in book.assets], dtype=np.float64
            )
            total_collateral = float((book.balances[pop_rows] * pvec[None, :]).sum())
        agents.observe(k, engine, confirmed, warned)
        if vagents is not None:
            vagents.observe(k, engine, path_w[k], path_f[k])
            vts.add(**vagents.row(engine))
        if arbs is not None:
            arbs.observe(k, engine, path_w[k], path_f[k])
            arow: dict[str, Any] = {}
            for mid, p in pools_now().items():
                arow[f"amm_price_{mid}"] = p / WAD
            arow.update(arbs.row())
            ats.add(**arow)

        oi = 0.0
        for mid in market_ids:
            m = state.markets[mid]
            oi += m.open_interest / WAD * prices_now.get(m.spec.oracle, 0) / WAD
        ts.add(
            block=k,
            time=s,
            external=path_f[k],
            oracle={a: prices_now.get(a) for a in assets},
            oracle_state={a: state.oracles[a].state.value for a in scenario.feeds},
            total_collateral=total_collateral,
            open_interest=oi,
            below_maintenance=len(now_targets),
            within_10pct=within10,
            liquidations=n_liq,
            liquidated_notional=liq_notional / WAD,
            bad_debt=state.pools.bad_debt.get(settle, 0) / WAD,
            negative_equity=neg_equity,
            under_water=len(under_water),
            insurance_fund=state.pools.insurance.get(settle, 0) / WAD,
            keeper_profit=sum(kp.stats.profit for kp in agents.keepers),
            keeper_txs=sum(1 for tx in due if tx.kind == "closeout"),
            keeper_failed=sum(1 for i, tx in enumerate(due) if tx.kind == "closeout" and i in rejected),
            gas_price_gwei=agents.gas_price(k) / 1e9,
        )
        if ctl is not None:
            gas_token = int(agents.gas_token_price(prices_now) * WAD)
            gas = {lvl: agents.gas_price(k, lvl) for lvl in ("p30", "p60", "p90")}
            ctl_txs = ctl.transactions(engine, time, gas.__getitem__, gas_token)
        if on_block is not None:
            on_block(k + 1, n)

    state = engine.state
    timeseries = ts.table()
    if vagents is not None:
        for name, column in vts.table().to_pydict().items():
            timeseries = timeseries.append_column(name, pa.array(column))
    if arbs is not None:
        for name, column in ats.table().to_pydict().items():
            timeseries = timeseries.append_column(name, pa.array(column))
    events = pa.table(
        {
            "block": pa.array([r[0] for r in events_rows], pa.int64()),
            "time": pa.array([r[1] for r in events_rows], pa.int64()),
            "type": pa.array([r[2] for r in events_rows], pa.string()),
            "account": pa.array([r[3] for r in events_rows], pa.string()),
            "market": pa.array([r[4] for r in events_rows], pa.string()),
            "amount": pa.array([r[5] for r in events_rows], pa.float64()),
            "json": pa.array([r[6] for r in events_rows], pa.string()),
        }
    )
    root = engine.state_root()
    breaches.finish(n - 1)
    ctx = PathFacts(
        scenario=scenario,
        seed=seed,
        population=pop,
        engine=engine,
        timeseries=timeseries,
        breaches=breaches,
        losses=losses,
        liquidated_accounts=len(liquidated_accounts),
        agents=agents,
        opening_rejected=opening_rejected,
        insurance_start=insurance_start,
        unrealised=unrealised_bad_debt(state, trader_ids),
        conservation=_conservation(state),
        state_root=root,
        path_f=path_f,
        vaults=vagents,
        vault_unrealised=vagents.unrealised(engine, path_w[-1]) if vagents is not None else (0, 0, 0),
        arbitrageurs=arbs,
        amm_volume=amm_volume,
        amm_shortfall=amm_shortfall,
        amm_slippage=amm_slippage,
        liquidations_by_market={m: (v[0], v[1]) for m, v in sorted(liq_by_market.items())},
        linked_markets=tuple(sorted(linked_markets)),
        amm_sources=amm_sources,
    )
    summary = path_summary(ctx)
    if ctl is not None:
        summary["controller"] = ctl.summary()
    if baseline is None:
        baseline = scenario.spec.contagion.baseline
    if baseline and scenario.amm_links and amm_sources == "pool":
        base = run_path(scenario, seed, amm_sources="external", baseline=False)
        summary["contagion"] = contagion_summary(summary, base.summary)
    return PathResult(scenario.name, seed, summary, timeseries, events, root, engine if keep_engine else None)


def _controller_run(spec: str, scenario: Scenario, traders: Sequence[Trader]) -> ControllerRun:
    """The controller agent for ``name``; typical liquidation size = the 25th percentile of the opening
    notional per market (keepers should stay paid on three positions in four, not only on the average one)."""
    totals: dict[str, list[float]] = {}
    for t in traders:
        totals.setdefault(t.market, []).append(t.notional)
    typical = {m: int(float(np.percentile(v, 25)) * WAD) for m, v in totals.items() if v}
    name, profile = parse_controller(spec)
    return ControllerRun(name, scenario.markets, typical, profile)


def extended_path(scenario: Scenario, offsets: np.ndarray, seed: int) -> np.ndarray:
    """The price model's path with a copy of the asset column for every extra [feeds] key
    (column order :attr:`Scenario.priced_assets`)."""
    path = np.asarray(scenario.price_model.path(offsets, seed), dtype=np.float64)
    if not scenario.derived:
        return path
    col = {a: j for j, a in enumerate(scenario.price_model.assets)}
    extra = [path[:, col[scenario.derived[key]]] for key in sorted(scenario.derived)]
    return np.column_stack([path, *extra])


_AMOUNT_FIELDS = ("amount", "notional", "penalty", "paid", "equity")


def _event_row(block: int, s: int, e: ev.Event) -> tuple[int, int, str, str | None, str | None, float, str]:
    account = getattr(e, "account", None)
    market = getattr(e, "market", None)
    amount = math.nan
    for name in _AMOUNT_FIELDS:
        v = getattr(e, name, None)
        if isinstance(v, int):
            amount = v / WAD
            break
    return (block, s, type(e).__name__, account, market, amount, _json.encode(e).decode())


class _Timeseries:
    def __init__(self, assets: Sequence[str], feeds: Sequence[str]) -> None:
        self.assets = list(assets)
        self.feeds = list(feeds)
        self.cols: dict[str, list[Any]] = {}

    def add(self, **row: Any) -> None:
        flat: dict[str, Any] = {}
        for key, value in row.items():
            if key == "external":
                for j, a in enumerate(self.assets):
                    flat[f"external_{a}"] = float(value[j])
            elif key == "oracle":
                for a in self.assets:
                    p = value[a]
                    flat[f"oracle_{a}"] = math.nan if p is None else p / WAD
            elif key == "oracle_state":
                for a in self.feeds:
                    flat[f"oracle_state_{a}"] = value[a]
            else:
                flat[key] = value
        for key, value in flat.items():
            self.cols.setdefault(key, []).append(value)

    def table(self) -> pa.Table:
        return pa.table(self.cols)


# ----------------------------------------------------------------------------- many paths


@dataclass(frozen=True)
class PathTask:
    """Parameters shipped to a worker: the scenario by reference, the seed, what to bring back."""

    source: str
    overrides: tuple[tuple[str, Any], ...]
    seed: int
    keep_tables: bool = False
    controller: str | None = None


@dataclass
class PathOutcome:
    """What comes back from a worker: the small summary, the tables only when asked for."""

    seed: int
    summary: dict[str, Any]
    timeseries: pa.Table | None = None
    events: pa.Table | None = None


_CACHE: dict[tuple[str, str], Scenario] = {}


def scenario_for(task: PathTask) -> Scenario:
    key = (task.source, _json.encode(dict(task.overrides)).decode())
    if key not in _CACHE:
        _CACHE[key] = load_scenario(task.source, dict(task.overrides))
    return _CACHE[key]


def run_task(task: PathTask, on_block: Callable[[int, int], None] | None = None) -> PathOutcome:
    """Run one :class:`PathTask` (in this process or a worker)."""
    result = run_path(scenario_for(task), task.seed, on_block=on_block, controller=task.controller)
    if task.keep_tables:
        return PathOutcome(task.seed, result.summary, result.timeseries, result.events)
    return PathOutcome(task.seed, result.summary)


class Executor(Protocol):
    """Anything with ``map`` in order (``concurrent.futures`` executors qualify)."""

    def map(
        self, fn: Callable[[PathTask], PathOutcome], tasks: Iterable[PathTask]
    ) -> Iterator[PathOutcome]: ...


def run_paths(
    source: str,
    seeds: Sequence[int],
    *,
    overrides: dict[str, Any] | None = None,
    executor: Executor | None = None,
    keep_tables: int = 1,
    controller: str | None = None,
) -> Iterator[PathOutcome]:
    """Run ``source`` (built-in name or TOML path) once per seed; yields outcomes in seed order.

    The first ``keep_tables`` paths bring their timeseries and events back (for the report); the
    others only their summary. Without an executor the paths run here one after the other; any
    executor of :mod:`clearhouse.lab.executors` (processes, Dask) only needs ``map``.
    """
    ov = tuple(sorted((overrides or {}).items()))
    tasks = [PathTask(source, ov, s, i < keep_tables, controller) for i, s in enumerate(seeds)]
    if executor is None:
        yield from (run_task(task) for task in tasks)
    else:
        yield from executor.map(run_task, tasks)
