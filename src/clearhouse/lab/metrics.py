"""Risk metrics of a path and across paths (formulas and the ``summary.json`` schema in ``docs/metrics.md``).

Per path (:func:`path_summary`): bad debt (recorded by the engine, unrealised at the end, total), the
loss waterfall stage by stage from the engine's events (insurance and backstop draws, ADL, socialised
loss, bad debt: :mod:`clearhouse.lab.losses`), insolvency while it lasted (peak negative equity,
account- and value-hours under water), liquidations, the censoring-aware liquidation delay
(Kaplan–Meier, :mod:`clearhouse.lab.survival`) with every breach and close-out accounted for,
keepers, top-ups, capital efficiency. Across paths (:func:`aggregate`): mean, quantiles (VaR, LaR)
and expected shortfall with a bootstrap confidence interval, the pooled delay distribution, and the
labelled ``sections`` the console and the report show. Amounts are settlement units (floats) for
reading; the exact integers stay in the engine and the events table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from clearhouse.core.fixedpoint import RAY, WAD
from clearhouse.lab.breaches import CLOSEOUT_CLASSES
from clearhouse.lab.facts import PathFacts
from clearhouse.lab.survival import SurvivalTable, delay_summary
from clearhouse.liquidation.vault import DUTCH, ENGLISH

DEFAULT_QUANTILES: tuple[float, ...] = (0.95, 0.99)


def _r(x: float, places: int = 6) -> float:
    """Round for the summary (keeps summary.json stable and readable)."""
    return float(round(float(x), places))


def _stats(values: Sequence[float]) -> dict[str, float | int]:
    if not values:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    a = np.asarray(values, dtype=np.float64)
    return {
        "count": int(a.size),
        "mean": _r(a.mean()),
        "p50": _r(np.quantile(a, 0.5)),
        "p95": _r(np.quantile(a, 0.95)),
        "max": _r(a.max()),
    }


def path_summary(f: PathFacts) -> dict[str, Any]:
    sc = f.scenario
    state = f.engine.state
    settle = sc.params.settlement_asset
    ts = f.timeseries
    bt = sc.block_time
    recorded = state.pools.bad_debt.get(settle, 0) / WAD
    unrealised = f.unrealised / WAD
    insurance = np.asarray(ts.column("insurance_fund").to_numpy(), dtype=np.float64)
    liqs = int(np.asarray(ts.column("liquidations").to_numpy()).sum())
    liq_notional = float(np.asarray(ts.column("liquidated_notional").to_numpy()).sum())
    below = np.asarray(ts.column("below_maintenance").to_numpy())

    # capital efficiency at the opening (notional-weighted)
    traders = f.population.traders
    markets = {m.id: m for m in sc.markets}
    notional = np.array([t.notional for t in traders], dtype=np.float64)
    collateral = np.array([t.collateral_value for t in traders], dtype=np.float64)
    allowed = np.array([WAD / markets[t.market].initial_margin for t in traders], dtype=np.float64)
    total_n = float(notional.sum())
    cap_eff = {
        "allowed_leverage": _r((notional * allowed).sum() / total_n) if total_n else 0.0,
        "used_leverage": _r(total_n / float(collateral.sum())) if collateral.sum() else 0.0,
        "mean_account_leverage": _r(float((notional / collateral).mean())) if len(traders) else 0.0,
    }

    keepers = f.agents.keepers
    kstats = {
        "count": len(keepers),
        "sent": sum(k.stats.sent for k in keepers),
        "succeeded": sum(k.stats.succeeded for k in keepers),
        "failed": sum(k.stats.failed for k in keepers),
        "never_included": sum(k.stats.never_included for k in keepers),
        "capped_bids": sum(k.stats.capped_bids for k in keepers),
        "declined_unprofitable": sum(k.stats.declined_unprofitable for k in keepers),
        "declined_capital": sum(k.stats.declined_capital for k in keepers),
        "rewards": _r(sum(k.stats.rewards for k in keepers)),
        "gas_cost": _r(sum(k.stats.gas_cost for k in keepers)),
        "profit": _r(sum(k.stats.profit for k in keepers)),
        "per_keeper_profit": [_r(k.stats.profit) for k in keepers],
    }
    by_backstop = 0
    # close-outs by the backstop are the liquidations not done by keepers
    by_backstop = (
        max(0, liqs - sum(k.stats.succeeded for k in keepers))
        if sc.spec.ledger.enforcement == "backstop"
        else 0
    )

    prices: dict[str, dict[str, float]] = {}
    for j, a in enumerate(sc.priced_assets):
        col = f.path_f[:, j]
        prices[a] = {"start": _r(col[0]), "min": _r(col.min()), "max": _r(col.max()), "end": _r(col[-1])}
    stale_blocks = {
        a: int(sum(1 for v in ts.column(f"oracle_state_{a}").to_pylist() if v != "fresh"))
        for a in sorted(sc.feeds)
    }
    if f.vaults is not None:
        unrealised += f.vault_unrealised[0] / WAD
    out: dict[str, Any] = {
        "scenario": sc.name,
        "data_sources": list(sc.data_sources),
        "seed": f.seed,
        "blocks": sc.n_blocks,
        "block_time_s": bt,
        "horizon_s": sc.horizon,
        "accounts": len(traders),
        "settlement_asset": settle,
        "enforcement": sc.spec.ledger.enforcement,
        "state_root": f.state_root,
        "prices": prices,
        "oracle_not_fresh_blocks": stale_blocks,
        "bad_debt": {
            "recorded": _r(recorded),
            "unrealised": _r(unrealised),
            "total": _r(recorded + unrealised),
        },
        "insurance_fund": {
            "start": _r(f.insurance_start / WAD),
            "min": _r(insurance.min()) if insurance.size else 0.0,
            "end": _r(insurance[-1]) if insurance.size else 0.0,
        },
        "liquidations": {
            "positions": liqs,
            "accounts": f.liquidated_accounts,
            "notional": _r(liq_notional),
            "by_backstop": by_backstop,
            "max_below_maintenance": int(below.max()) if below.size else 0,
        },
        "liquidation_delay_s": delay_block(f, liqs),
        "insolvency": insolvency_summary(f),
        "losses": f.losses.summary(),
        "keepers": kstats,
        "traders": {
            "topups_sent": f.agents.topups_sent,
            "topups_landed": f.agents.topups_landed,
            "topup_volume": _r(f.agents.topup_volume),
            "topups_never_included": f.agents.never_included_topups,
        },
        "slippage": 0.0,
        "capital_efficiency": cap_eff,
        "opening_trades_rejected": f.opening_rejected,
        "conservation": f.conservation,
    }
    if f.vaults is not None:
        out["vaults"] = vault_summary(f)
    if f.options is not None:
        # option books' deficits still open at the horizon count as bad debt like the perp traders'
        opts = f.options.summary(state)
        out["options"] = opts
        out["bad_debt"]["unrealised"] = _r(unrealised + opts["bad_debt"]["open"])
        out["bad_debt"]["total"] = _r(recorded + unrealised + opts["bad_debt"]["open"])
        out["capital_efficiency"]["option_notional_per_posted"] = opts["capital_efficiency"]
    out["liquidations"]["by_market"] = {
        m: {"positions": n, "notional": _r(v / WAD)} for m, (n, v) in f.liquidations_by_market.items()
    }
    if sc.amms:
        out["amm"] = amm_summary(f)
        if f.arbitrageurs is not None:
            out["arbitrageurs"] = f.arbitrageurs.summary()
        # forced sales into a pool: the gap between the oracle notional and what the pool paid
        out["slippage"] = _r(sum(out["amm"]["pools"][m]["slippage"] for m in out["amm"]["pools"]))
    return out


def delay_block(f: PathFacts, closeouts: int) -> dict[str, Any]:
    """``liquidation_delay_s``: the Kaplan–Meier delay over every breach (enforced ones observed,
    recovered and open ones censored), the enforced-only statistics, the breach outcomes and the
    close-out classes (they add up to ``closeouts``, the liquidation events of population buckets)."""
    br = f.breaches
    bt = f.scenario.block_time
    table = br.table(bt)
    classes = {k: br.closeouts[k] for k in CLOSEOUT_CLASSES}
    if sum(classes.values()) != closeouts:
        raise AssertionError(f"close-outs not accounted for: {classes} vs {closeouts}")
    ages = [a * bt for a in br.open_ages]
    return {
        "kaplan_meier": delay_summary(table),
        "enforced_only": _stats([d * bt for d in br.enforced_delays]),
        "breaches": {
            "total": sum(br.outcomes.values()),
            **br.outcomes,
            "open_max_age_s": _r(max(ages)) if ages else 0.0,
            "open_mean_age_s": _r(float(np.mean(ages))) if ages else 0.0,
        },
        "closeouts": {"total": closeouts, **classes},
        "table": table.to_dict(),
    }


def insolvency_summary(f: PathFacts) -> dict[str, Any]:
    """``insolvency``: negative equity while it lasted, from the per-block screening (timeseries
    ``negative_equity``, ``under_water``) and the buckets' insolvency episodes."""
    ts = f.timeseries
    bt = f.scenario.block_time
    neg = np.asarray(ts.column("negative_equity").to_numpy(), dtype=np.float64)
    under = np.asarray(ts.column("under_water").to_numpy(), dtype=np.float64)
    ins = np.asarray(ts.column("insurance_fund").to_numpy(), dtype=np.float64)
    times = np.asarray(ts.column("time").to_numpy(), dtype=np.float64)
    br = f.breaches
    episodes = [d * bt for d in br.insolvency_ended + br.insolvency_open]
    if not neg.size:
        neg = under = ins = times = np.zeros(1)
    peak = int(np.argmax(neg))
    return {
        "peak_negative_equity": _r(neg[peak]),
        "peak_time_s": _r(times[peak]) if neg[peak] > 0 else None,
        "peak_uncovered_by_insurance": _r(float(np.clip(neg - ins, 0, None).max())),
        "end_negative_equity": _r(neg[-1]),
        "value_hours": _r(float(neg.sum()) * bt / 3600),
        "account_hours": _r(float(under.sum()) * bt / 3600),
        "time_insolvent_s": _r(float(np.count_nonzero(neg > 0)) * bt),
        "max_buckets_under_water": int(under.max()),
        "buckets_ever_under_water": len(br.ever_under_water),
        "episodes": {
            "count": len(episodes),
            "open_at_horizon": len(br.insolvency_open),
            "longest_s": _r(max(episodes)) if episodes else 0.0,
            "mean_s": _r(float(np.mean(episodes))) if episodes else 0.0,
        },
    }


def amm_summary(f: PathFacts) -> dict[str, Any]:
    """The ``amm`` block: per pool its price path against the external price, the liquidations sold
    into it, and which feeds read it (formulas in ``docs/metrics.md``, "AMM pools and contagion")."""
    sc = f.scenario
    ts = f.timeseries
    pools: dict[str, Any] = {}
    markets = {m.id: m for m in sc.markets}
    col = {a: j for j, a in enumerate(sc.priced_assets)}
    names = set(ts.column_names)
    for pool in sc.amms:
        mid = pool.market
        name = f"amm_price_{mid}"
        if name not in names:
            continue
        price = np.asarray(ts.column(name).to_numpy(), dtype=np.float64)
        ext = f.path_f[:, col[markets[mid].oracle]]
        gap = price / ext - 1.0
        events = ts.num_rows
        volume = f.amm_volume.get(mid, 0) / WAD
        pools[mid] = {
            "account": pool.account,
            "pool_price": {
                "start": _r(price[0]) if events else 0.0,
                "min": _r(price.min()) if events else 0.0,
                "end": _r(price[-1]) if events else 0.0,
            },
            "external_min": _r(ext.min()),
            "min_ratio_to_external_min": _r(price.min() / ext.min()) if events and ext.min() > 0 else 0.0,
            "gap": {
                "min": _r(gap.min()) if events else 0.0,
                "max": _r(gap.max()) if events else 0.0,
                "mean_abs": _r(np.abs(gap).mean()) if events else 0.0,
                "final": _r(gap[-1]) if events else 0.0,
            },
            "liquidation_volume": _r(volume),
            "shortfall": _r(f.amm_shortfall.get(mid, 0) / WAD),
            "slippage": _r(f.amm_slippage.get(mid, 0) / WAD),
        }
    return {
        "pools": pools,
        "linked_feeds": {k: list(v) for k, v in sorted(sc.amm_links.items())},
        "linked_markets": list(f.linked_markets),
        "amm_sources": f.amm_sources,
    }


def venue2(summary: dict[str, Any]) -> dict[str, float | int]:
    """Liquidations, liquidated notional and bad debt of the venues reading a pool (``contagion``):
    every vault type plus the perp markets whose oracle reads a pool."""
    liqs = 0
    notional = 0.0
    bad = 0.0
    v = summary.get("vaults")
    if v is not None:
        liqs += int(v["auctions"]["kicked"]) + int(v["takeovers"])
        notional += float(v["debt_liquidated"])
        bad += float(v["bad_debt"]["total"])
    by_market = summary["liquidations"].get("by_market", {})
    for mid in summary.get("amm", {}).get("linked_markets", []):
        m = by_market.get(mid)
        if m is not None:
            liqs += int(m["positions"])
            notional += float(m["notional"])
    return {"liquidations": liqs, "liquidated_notional": _r(notional), "bad_debt": _r(bad)}


def contagion_summary(with_pool: dict[str, Any], external: dict[str, Any]) -> dict[str, Any]:
    """The ``contagion`` block: venue 2 (oracle reading the pool) against the same path with those
    sources reporting the external price; ``amplification_ratio`` = liquidated notional with / without
    (``None`` when the baseline liquidated nothing)."""
    a, b = venue2(with_pool), venue2(external)
    pools = with_pool.get("amm", {}).get("pools", {})
    ratio = (
        _r(float(a["liquidated_notional"]) / float(b["liquidated_notional"]))
        if b["liquidated_notional"]
        else None
    )
    return {
        "linked_feeds": with_pool.get("amm", {}).get("linked_feeds", {}),
        "venue2_with_pool_oracle": a,
        "venue2_with_external_oracle": b,
        "amplification_ratio": ratio,
        "extra_liquidations": int(a["liquidations"]) - int(b["liquidations"]),
        "extra_bad_debt": _r(float(a["bad_debt"]) - float(b["bad_debt"])),
        "pool_price_min": {m: p["pool_price"]["min"] for m, p in pools.items()},
        "external_min": {m: p["external_min"] for m, p in pools.items()},
        "baseline_pool_price_min": {
            m: p["pool_price"]["min"] for m, p in external.get("amm", {}).get("pools", {}).items()
        },
        "path_bad_debt_total": {
            "with_pool_oracle": with_pool["bad_debt"]["total"],
            "with_external_oracle": external["bad_debt"]["total"],
        },
        "conservation_ok": all(with_pool["conservation"].values()) and all(external["conservation"].values()),
        "baseline_state_root": external["state_root"],
    }


def vault_summary(f: PathFacts) -> dict[str, Any]:
    """The ``vaults`` block of a path summary (formulas in ``docs/metrics.md``, "Vaults")."""
    va = f.vaults
    assert va is not None
    state = f.engine.state
    settle = f.scenario.params.settlement_asset
    records = sorted(va.log.auctions.values(), key=lambda r: r.id)
    ended = [r for r in records if r.end_time is not None]
    debt_liquidated = sum(r.due for r in records) / RAY / WAD
    recovered = sum(r.recovered for r in ended) / RAY / WAD
    ended_debt = sum(r.due for r in ended) / RAY / WAD
    paid = sum(r.paid for r in ended if r.kind == ENGLISH) + sum(
        r.paid for r in records if r.kind == DUTCH
    )
    sold = [r for r in records if r.sold]
    sold_value = sum(r.sold_value for r in sold)
    sold_paid = sum(r.paid for r in sold) / WAD
    discounts = [1.0 - r.paid / WAD / r.sold_value for r in sold if r.sold_value > 0]
    repay = sum(t[0] for t in va.log.takeovers) / WAD
    seize_value = sum(t[2] for t in va.log.takeovers)
    auction_bad = sum(r.bad_debt for r in ended) / WAD
    minted = sum(r.incentives_minted for r in records) / WAD
    zero = [r for r in ended if r.zero_bid_win]
    durations = [float(r.end_time - r.kick_time) for r in ended if r.end_time is not None]
    shortfall, under, unsafe = f.vault_unrealised
    ks = va.keepers
    by_kind: dict[str, int] = {}
    for k in ks:
        for kind, count in k.stats.by_kind.items():
            by_kind[kind] = by_kind.get(kind, 0) + count
    vault_debt_end = sum(vt.art * vt.rate for vt in state.vault_types.values()) / RAY / WAD
    return {
        "vaults": len(va.owner_ids),
        "debt_start": _r(f.timeseries.column("vault_debt")[0].as_py()) if f.timeseries.num_rows else 0.0,
        "debt_end": _r(vault_debt_end),
        "auctions": {
            "kicked": len(records),
            "ended": len(ended),
            "open_at_end": len(records) - len(ended),
            "english": sum(1 for r in records if r.kind == ENGLISH),
            "dutch": sum(1 for r in records if r.kind == DUTCH),
            "bids": sum(r.bids for r in records),
            "redos": sum(r.redos for r in records),
        },
        "takeovers": len(va.log.takeovers),
        "debt_liquidated": _r(debt_liquidated + repay),
        "dai_recovered": _r(recovered + repay),
        "recovery_ratio": _r((recovered + repay) / (ended_debt + repay)) if ended_debt + repay else 0.0,
        "dai_paid": _r(paid / WAD + repay),
        "penalty_income": _r(sum(r.surplus for r in ended) / WAD),
        "collateral_sold": _r(sum(r.sold for r in sold) / WAD + sum(t[1] for t in va.log.takeovers) / WAD),
        "collateral_sold_value": _r(sold_value + seize_value),
        "average_discount": _r(1.0 - (sold_paid + repay) / (sold_value + seize_value))
        if sold_value + seize_value
        else 0.0,
        "discount_per_auction": _stats(discounts),
        "collateral_refunded": _r(sum(r.refund for r in ended) / WAD),
        "bad_debt": {
            "auctions": _r(auction_bad),
            "incentives_minted": _r(minted),
            "recorded": _r(state.pools.bad_debt.get(settle, 0) / WAD),
            "unrealised": _r(shortfall / WAD),
            "total": _r(auction_bad + minted + shortfall / WAD),
        },
        "debt_under_auction_end": _r(under / WAD),
        "unsafe_vaults_end": unsafe,
        "zero_bid_wins": len(zero),
        "zero_bid_debt": _r(sum(r.due for r in zero) / RAY / WAD),
        "zero_bid_collateral_value": _r(sum(r.sold_value for r in zero)),
        "auction_duration_s": _stats(durations),
        "system_surplus_end": _r(
            (state.pools.insurance.get(settle, 0) - state.pools.bad_debt.get(settle, 0)) / WAD
        ),
        "keepers": {
            "count": len(ks),
            "sent": sum(k.stats.sent for k in ks),
            "succeeded": sum(k.stats.succeeded for k in ks),
            "failed": sum(k.stats.failed for k in ks),
            "never_included": sum(k.stats.never_included for k in ks),
            "capped_bids": sum(k.stats.capped_bids for k in ks),
            "declined_unprofitable": sum(k.stats.declined_unprofitable for k in ks),
            "declined_capital": sum(k.stats.declined_capital for k in ks),
            "by_kind": dict(sorted(by_kind.items())),
            "gas_cost": _r(sum(k.stats.gas_cost for k in ks)),
            "incentives": _r(sum(r.incentives for r in records) / WAD),
            "wins": {k.id: sum(1 for r in ended if r.winner == k.id) for k in ks},
        },
    }


def var(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of per-path losses (higher = worse), linear interpolation."""
    if not values:
        return 0.0
    return _r(float(np.quantile(np.asarray(values, dtype=np.float64), q)))


#: Loss metrics with a distribution across paths: (dotted key, label, unit; "$" = settlement asset).
DISTRIBUTION_ROWS: tuple[tuple[str, str, str], ...] = (
    ("bad_debt.total", "bad debt, total", "$"),
    ("bad_debt.recorded", "  recorded", "$"),
    ("bad_debt.unrealised", "  open at the end", "$"),
    ("insolvency.peak_negative_equity", "peak negative equity", "$"),
    ("insolvency.peak_uncovered_by_insurance", "  beyond the insurance fund", "$"),
    ("insolvency.value_hours", "value-hours under water", "$·h"),
    ("insolvency.account_hours", "account-hours under water", "h"),
    ("insolvency.time_insolvent_s", "time with negative equity", "s"),
    ("insolvency.episodes.longest_s", "longest a bucket was under water", "s"),
    ("losses.insurance_draws.total", "insurance fund draws", "$"),
    ("losses.adl.loss_transferred", "ADL loss to counterparties", "$"),
    ("losses.socialised.total", "socialised loss", "$"),
    ("liquidations.notional", "liquidated notional", "$"),
    ("vaults.bad_debt.total", "vault bad debt", "$"),
)

#: Bootstrap of the expected-shortfall confidence interval: resamples, seed, confidence level.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CI_LEVEL = 0.95


def lookup(summary: Mapping[str, Any], dotted: str) -> Any:
    """``summary["a"]["b"]`` for ``"a.b"``; ``None`` when a key is missing."""
    node: Any = summary
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _tail_size(n: int, q: float) -> int:
    """How many of ``n`` losses form the tail beyond the ``q`` quantile: ⌈n(1 − q)⌉, at least 1
    (a tolerance keeps 100 × 0.05 at 5, not 6)."""
    return max(1, math.ceil(n * (1.0 - q) - 1e-9))


def expected_shortfall(values: Sequence[float], q: float) -> float:
    """ES at level ``q``: the mean of the worst ⌈n(1 − q)⌉ of ``n`` per-path losses (higher = worse)."""
    if not values:
        return 0.0
    a = np.sort(np.asarray(values, dtype=np.float64))
    return _r(float(a[-_tail_size(a.size, q) :].mean()))


def expected_shortfall_ci(
    values: Sequence[float],
    q: float,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = CI_LEVEL,
) -> tuple[float, float] | None:
    """Percentile-bootstrap ``level`` interval of :func:`expected_shortfall` (fixed ``seed``: the same
    paths give the same interval). ``None`` with fewer than two paths."""
    a = np.asarray(values, dtype=np.float64)
    if a.size < 2:
        return None
    rng = np.random.Generator(np.random.PCG64(seed))
    samples = np.sort(a[rng.integers(0, a.size, size=(resamples, a.size))], axis=1)
    es = samples[:, -_tail_size(a.size, q) :].mean(axis=1)
    lo, hi = np.quantile(es, [(1.0 - level) / 2, (1.0 + level) / 2])
    return _r(float(lo)), _r(float(hi))


def distribution(values: Sequence[float], quantiles: Sequence[float]) -> dict[str, Any]:
    """Mean, spread, quantiles and expected shortfall (with its bootstrap interval) over paths."""
    a = np.asarray(values, dtype=np.float64)
    out: dict[str, Any] = {
        "paths": int(a.size),
        "mean": _r(a.mean()) if a.size else 0.0,
        "std": _r(a.std(ddof=1)) if a.size > 1 else 0.0,
        "min": _r(a.min()) if a.size else 0.0,
        "max": _r(a.max()) if a.size else 0.0,
    }
    for q in quantiles:
        out[f"q{q:g}"] = var(values, q)
    out["es"] = {
        f"q{q:g}": {
            "value": expected_shortfall(values, q),
            "ci": list(ci) if (ci := expected_shortfall_ci(values, q)) is not None else None,
        }
        for q in quantiles
    }
    return out


def aggregate(
    summaries: Sequence[dict[str, Any]], quantiles: Sequence[float] = DEFAULT_QUANTILES
) -> dict[str, Any]:
    """Across paths: VaR (total bad debt) and LaR (liquidated notional) at ``quantiles``, means, the
    ``distributions`` of the loss metrics (with expected shortfall and its bootstrap interval), the
    pooled liquidation delay, and the labelled ``sections`` of the console and the report."""
    bad = [s["bad_debt"]["total"] for s in summaries]
    liq = [s["liquidations"]["notional"] for s in summaries]
    ins = [s["insurance_fund"]["min"] for s in summaries]
    profit = [s["keepers"]["profit"] for s in summaries]
    out: dict[str, Any] = {
        "paths": len(summaries),
        "seeds": [s["seed"] for s in summaries],
        "quantiles": list(quantiles),
        "var_bad_debt": {f"q{q:g}": var(bad, q) for q in quantiles},
        "lar_liquidated_notional": {f"q{q:g}": var(liq, q) for q in quantiles},
        "es_bad_debt": {f"q{q:g}": expected_shortfall(bad, q) for q in quantiles},
        "mean_bad_debt": _r(float(np.mean(bad))) if bad else 0.0,
        "max_bad_debt": _r(max(bad)) if bad else 0.0,
        "mean_liquidated_notional": _r(float(np.mean(liq))) if liq else 0.0,
        "insurance_fund_min": _r(min(ins)) if ins else 0.0,
        "mean_keeper_profit": _r(float(np.mean(profit))) if profit else 0.0,
        "paths_with_bad_debt": sum(1 for b in bad if b > 0),
        "paths_with_negative_equity": sum(
            1 for s in summaries if (lookup(s, "insolvency.peak_negative_equity") or 0) > 0
        ),
        "conservation_ok": all(all(s["conservation"].values()) for s in summaries),
    }
    dists: dict[str, Any] = {}
    for key, _, _ in DISTRIBUTION_ROWS:
        vals = [lookup(s, key) for s in summaries]
        if summaries and all(isinstance(v, int | float) for v in vals):
            dists[key] = distribution([float(v) for v in vals], quantiles)
    out["distributions"] = dists
    out["liquidation_delay_s"] = pooled_delay(summaries)
    out["sections"] = sections(out, summaries)
    return out


def pooled_delay(summaries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The Kaplan–Meier delay over the breaches of all paths together, and the summed counts."""
    blocks = [s["liquidation_delay_s"] for s in summaries if "liquidation_delay_s" in s]
    table = SurvivalTable.pooled(SurvivalTable.from_dict(b["table"]) for b in blocks)
    breaches: dict[str, float] = {}
    closeouts: dict[str, int] = {}
    for b in blocks:
        for k, v in b["breaches"].items():
            if k in ("total", "enforced", "recovered", "open_at_horizon"):
                breaches[k] = breaches.get(k, 0) + v
        for k, v in b["closeouts"].items():
            closeouts[k] = closeouts.get(k, 0) + v
    ages = [b["breaches"]["open_max_age_s"] for b in blocks]
    breaches["open_max_age_s"] = max(ages) if ages else 0.0
    return {"kaplan_meier": delay_summary(table), "breaches": breaches, "closeouts": closeouts}


# ----------------------------------------------------------------------------- labelled sections

#: Rows of the ``first_path`` section: what the system lost and how long it was insolvent.
FIRST_PATH_ROWS: tuple[tuple[str, str, str], ...] = (
    ("bad_debt.total", "bad debt: recorded + open at the end", "$"),
    ("bad_debt.recorded", "  recorded by the engine", "$"),
    ("bad_debt.unrealised", "  negative equity still open at the end", "$"),
    ("insolvency.peak_negative_equity", "peak negative equity (while it lasted)", "$"),
    ("insolvency.peak_time_s", "  at (simulation time)", "s"),
    ("insolvency.peak_uncovered_by_insurance", "  beyond the insurance fund", "$"),
    ("insolvency.time_insolvent_s", "time with negative equity open", "s"),
    ("insolvency.episodes.longest_s", "longest a bucket stayed under water", "s"),
    ("insolvency.account_hours", "account-hours under water", "h"),
    ("insolvency.value_hours", "value-hours under water", "$·h"),
    ("insolvency.buckets_ever_under_water", "buckets ever under water", "count"),
    ("insurance_fund.start", "insurance fund start", "$"),
    ("insurance_fund.min", "insurance fund min", "$"),
    ("losses.insurance_draws.total", "insurance fund draws", "$"),
    ("losses.backstop_draws.total", "backstop pool draws", "$"),
    ("losses.adl.liquidations", "ADL: deleveraged liquidations", "count"),
    ("losses.adl.fills", "ADL: counterparty fills", "count"),
    ("losses.adl.notional", "ADL: notional (oracle)", "$"),
    ("losses.adl.loss_transferred", "ADL: loss moved onto counterparties", "$"),
    ("losses.socialised.total", "socialised loss", "$"),
    ("losses.bad_debt.total", "bad debt recorded (events)", "$"),
    ("conservation_ok", "conservation holds", "bool"),
)

#: Rows of the ``perps`` section.
PERP_ROWS: tuple[tuple[str, str, str], ...] = (
    ("liquidations.positions", "liquidations (positions)", "count"),
    ("liquidations.notional", "liquidated notional", "$"),
    ("liquidations.by_backstop", "  by the backstop", "count"),
    ("liquidations.max_below_maintenance", "max buckets below maintenance", "count"),
    ("liquidation_delay_s.kaplan_meier.p50", "liquidation delay p50 (Kaplan–Meier)", "s"),
    ("liquidation_delay_s.kaplan_meier.p95", "liquidation delay p95 (Kaplan–Meier)", "s"),
    ("liquidation_delay_s.kaplan_meier.restricted_mean_s", "liquidation delay mean, capped", "s"),
    ("liquidation_delay_s.enforced_only.p95", "  p95 of enforced breaches only (biased low)", "s"),
    ("liquidation_delay_s.breaches.total", "breaches", "count"),
    ("liquidation_delay_s.breaches.enforced", "  enforced", "count"),
    ("liquidation_delay_s.breaches.recovered", "  recovered (price or top-up)", "count"),
    ("liquidation_delay_s.breaches.open_at_horizon", "  still open at the horizon", "count"),
    ("liquidation_delay_s.breaches.open_max_age_s", "  oldest open breach", "s"),
    ("liquidation_delay_s.closeouts.first_in_breach", "close-outs ending an observed breach", "count"),
    ("liquidation_delay_s.closeouts.within_block", "close-outs of a breach within one block", "count"),
    ("liquidation_delay_s.closeouts.further_in_breach", "close-outs further in the same breach", "count"),
    ("losses.waterfall_shortfall", "shortfall sent down the waterfall", "$"),
    ("keepers.sent", "keeper txs sent", "count"),
    ("keepers.succeeded", "  ok", "count"),
    ("keepers.failed", "  failed", "count"),
    ("keepers.never_included", "  never included", "count"),
    ("keepers.profit", "keeper profit after gas", "$"),
    ("traders.topups_landed", "trader top-ups landed", "count"),
    ("capital_efficiency.allowed_leverage", "allowed leverage", "x"),
    ("capital_efficiency.used_leverage", "used leverage", "x"),
)

VAULT_ROWS: tuple[tuple[str, str, str], ...] = (
    ("vaults.vaults", "vaults", "count"),
    ("vaults.auctions.kicked", "auctions kicked", "count"),
    ("vaults.auctions.ended", "  ended", "count"),
    ("vaults.auctions.open_at_end", "  open at the end", "count"),
    ("vaults.takeovers", "fixed-discount takeovers", "count"),
    ("vaults.debt_liquidated", "debt liquidated", "$"),
    ("vaults.recovery_ratio", "recovery ratio", "ratio"),
    ("vaults.average_discount", "average discount", "ratio"),
    ("vaults.zero_bid_wins", "zero-bid wins", "count"),
    ("vaults.zero_bid_debt", "  their debt", "$"),
    ("vaults.bad_debt.total", "vault bad debt (auctions + minted + open)", "$"),
    ("vaults.keepers.sent", "vault keeper txs sent", "count"),
    ("vaults.keepers.failed", "  failed", "count"),
)

OPTION_ROWS: tuple[tuple[str, str, str], ...] = (
    ("options.books", "option books", "count"),
    ("options.posted", "collateral posted", "$"),
    ("options.short_option_notional", "short option notional (at the opening index)", "$"),
    ("options.capital_efficiency", "capital efficiency: short notional / posted", "x"),
    ("options.liquidations.accounts", "books liquidated (LiquidateContracts)", "count"),
    ("options.liquidations.legs", "  legs taken over", "count"),
    ("options.liquidations.penalties", "  penalties paid to keepers", "$"),
    ("options.liquidations.refused", "  keeper txs refused (book healthy again)", "count"),
    ("options.insurance_draws", "insurance fund draws (option books)", "$"),
    ("options.bad_debt.recorded", "bad debt recorded (option books)", "$"),
    ("options.bad_debt.open", "  deficits open at the end", "$"),
    ("options.expiry.positions_settled", "positions settled at expiry (books)", "count"),
    ("options.expiry.paid_by_books", "  paid by the books", "$"),
    ("options.tables.set", "scenario tables published", "count"),
)

AMM_ROWS: tuple[tuple[str, str, str], ...] = (
    ("slippage", "liquidation slippage into pools", "$"),
    ("arbitrageurs.succeeded", "arbitrage swaps landed", "count"),
    ("arbitrageurs.profit", "arbitrageur profit", "$"),
)

CONTAGION_ROWS: tuple[tuple[str, str, str], ...] = (
    ("contagion.venue2_with_pool_oracle.liquidations", "venue 2 liquidations, pool oracle", "count"),
    ("contagion.venue2_with_external_oracle.liquidations", "  with the external oracle", "count"),
    ("contagion.venue2_with_pool_oracle.liquidated_notional", "venue 2 liquidated, pool oracle", "$"),
    ("contagion.venue2_with_external_oracle.liquidated_notional", "  with the external oracle", "$"),
    ("contagion.amplification_ratio", "amplification ratio", "x"),
    ("contagion.extra_bad_debt", "extra bad debt", "$"),
)


def _amm_rows(first: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for m in sorted(lookup(first, "amm.pools") or {}):
        rows += [
            (f"amm.pools.{m}.pool_price.min", f"{m} pool price min", "$"),
            (f"amm.pools.{m}.external_min", f"{m} external price min", "$"),
            (f"amm.pools.{m}.liquidation_volume", f"{m} liquidations sold into the pool", "$"),
            (f"amm.pools.{m}.shortfall", f"{m} shortfall of those", "$"),
        ]
    return rows + list(AMM_ROWS)


def _unit(unit: str, settle: str) -> str:
    return unit.replace("$", settle)


def _mean_of(summaries: Sequence[Mapping[str, Any]], key: str) -> Any:
    vals = [lookup(s, key) for s in summaries]
    nums = [float(v) for v in vals if isinstance(v, int | float) and not isinstance(v, bool)]
    if not nums or len(nums) != len(vals):
        return None
    return _r(float(np.mean(nums)))


def _venue_section(
    sid: str,
    title: str,
    rows: Sequence[tuple[str, str, str]],
    summaries: Sequence[Mapping[str, Any]],
    settle: str,
    pooled: Mapping[str, Any],
) -> dict[str, Any]:
    first = summaries[0]
    many = len(summaries) > 1
    out_rows = []
    for key, label, unit in rows:
        row_values: dict[str, Any] = {"first path": lookup(first, key)}
        if many:
            if key.startswith("liquidation_delay_s.kaplan_meier.") or key.startswith(
                "liquidation_delay_s.breaches."
            ):
                # delay rows across paths: the Kaplan–Meier estimate over the pooled breaches
                row_values["across paths"] = lookup(pooled, key.removeprefix("liquidation_delay_s."))
            else:
                row_values["across paths"] = _mean_of(summaries, key)
        out_rows.append({"key": key, "label": label, "unit": _unit(unit, settle), "values": row_values})
    return {
        "id": sid,
        "title": title,
        "columns": ["first path", "across paths"] if many else ["first path"],
        "rows": out_rows,
        "note": "across paths: mean over paths; delay and breach rows: Kaplan–Meier over the pooled breaches"
        if many
        else "",
    }


def sections(agg: Mapping[str, Any], summaries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The labelled sections of the console table and the report: ``across_paths`` (distributions),
    ``first_path`` (its headline losses), then per venue ``perps``, ``vaults``, ``amm``,
    ``contagion`` (when the scenario has them). Schema in ``docs/metrics.md``."""
    if not summaries:
        return []
    first = summaries[0]
    settle = str(first.get("settlement_asset", ""))
    qs = [f"q{q:g}" for q in agg["quantiles"]]
    cols = ["mean", *qs, *(f"ES {q}" for q in qs)]
    across_rows = []
    for key, label, unit in DISTRIBUTION_ROWS:
        d = agg["distributions"].get(key)
        if d is None:
            continue
        values: dict[str, Any] = {"mean": d["mean"], "max": d["max"]}
        ci: dict[str, Any] = {}
        for q in qs:
            values[q] = d[q]
            values[f"ES {q}"] = d["es"][q]["value"]
            ci[f"ES {q}"] = d["es"][q]["ci"]
        across_rows.append(
            {"key": key, "label": label, "unit": _unit(unit, settle), "values": values, "ci": ci}
        )
    seeds = agg["seeds"]
    out = [
        {
            "id": "across_paths",
            "title": f"Across {agg['paths']} path(s), seeds {seeds[0]}..{seeds[-1]}",
            "columns": cols,
            "rows": across_rows,
            "note": (
                f"quantiles: linear interpolation; ES q: mean of the worst ceil(n(1-q)) paths; "
                f"under it: {CI_LEVEL:.0%} interval, percentile bootstrap, {BOOTSTRAP_RESAMPLES} resamples, "
                f"seed {BOOTSTRAP_SEED} (none with one path)"
            ),
        }
    ]
    first_rows = []
    for key, label, unit in FIRST_PATH_ROWS:
        value = all(first["conservation"].values()) if key == "conservation_ok" else lookup(first, key)
        first_rows.append(
            {"key": key, "label": label, "unit": _unit(unit, settle), "values": {"value": value}}
        )
    out.append(
        {
            "id": "first_path",
            "title": f"First path (seed {first['seed']})",
            "columns": ["value"],
            "rows": first_rows,
            "note": "",
        }
    )
    pooled = agg.get("liquidation_delay_s", {})
    if first.get("accounts", 0) or "options" not in first:
        title = "Perpetuals: liquidations and keepers"
        out.append(_venue_section("perps", title, PERP_ROWS, summaries, settle, pooled))
    if "options" in first:
        title = f"Options and futures (grid {first['options']['grid']})"
        out.append(_venue_section("options", title, OPTION_ROWS, summaries, settle, pooled))
    if "vaults" in first:
        out.append(_venue_section("vaults", "Vaults and auctions", VAULT_ROWS, summaries, settle, pooled))
    if "amm" in first:
        out.append(_venue_section("amm", "AMM pools", _amm_rows(first), summaries, settle, pooled))
    if "contagion" in first:
        out.append(
            _venue_section("contagion", "Contagion (venue 2)", CONTAGION_ROWS, summaries, settle, pooled)
        )
    return out
