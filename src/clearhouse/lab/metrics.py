"""Risk metrics of a path and across paths (formulas in ``docs/metrics.md``).

Per path (:func:`path_summary`): bad debt (recorded by the engine, unrealised at the end, total),
liquidations and their notional, insurance fund path, liquidation delay from breach to enforcement,
keeper profit and failed transactions, trader top-ups, ADL / socialised volume and slippage (0 until
those mechanisms exist), capital efficiency. Across paths (:func:`aggregate`): Value at Risk and
Liquidations at Risk at chosen quantiles. Amounts are settlement units (floats) for reading; the
exact integers stay in the engine and the events table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from clearhouse.ledger.fixedpoint import RAY, WAD

if TYPE_CHECKING:
    from clearhouse.lab.runner import _PathFacts

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


def path_summary(f: _PathFacts) -> dict[str, Any]:
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
    delays_s = [d * bt for d in f.delays_blocks]
    if f.vaults is not None:
        unrealised += f.vault_unrealised[0] / WAD
    out: dict[str, Any] = {
        "scenario": sc.name,
        "seed": f.seed,
        "blocks": sc.n_blocks,
        "block_time_s": bt,
        "horizon_s": sc.horizon,
        "accounts": len(traders),
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
        "liquidation_delay_s": {
            **_stats(delays_s),
            "never_enforced": f.unenforced,
            "recovered": f.recovered,
        },
        "keepers": kstats,
        "traders": {
            "topups_sent": f.agents.topups_sent,
            "topups_landed": f.agents.topups_landed,
            "topup_volume": _r(f.agents.topup_volume),
            "topups_never_included": f.agents.never_included_topups,
        },
        "adl_volume": 0.0,
        "socialised_loss": 0.0,
        "slippage": 0.0,
        "capital_efficiency": cap_eff,
        "opening_trades_rejected": f.opening_rejected,
        "conservation": f.conservation,
    }
    if f.vaults is not None:
        out["vaults"] = vault_summary(f)
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


def amm_summary(f: _PathFacts) -> dict[str, Any]:
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


def vault_summary(f: _PathFacts) -> dict[str, Any]:
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
    paid = sum(r.paid for r in ended if r.kind == "english") + sum(
        r.paid for r in records if r.kind == "dutch"
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
            "english": sum(1 for r in records if r.kind == "english"),
            "dutch": sum(1 for r in records if r.kind == "dutch"),
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


def aggregate(
    summaries: Sequence[dict[str, Any]], quantiles: Sequence[float] = DEFAULT_QUANTILES
) -> dict[str, Any]:
    """VaR (total bad debt) and LaR (liquidated notional) at ``quantiles`` across paths, and means."""
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
        "mean_bad_debt": _r(float(np.mean(bad))) if bad else 0.0,
        "max_bad_debt": _r(max(bad)) if bad else 0.0,
        "mean_liquidated_notional": _r(float(np.mean(liq))) if liq else 0.0,
        "insurance_fund_min": _r(min(ins)) if ins else 0.0,
        "mean_keeper_profit": _r(float(np.mean(profit))) if profit else 0.0,
        "paths_with_bad_debt": sum(1 for b in bad if b > 0),
        "conservation_ok": all(all(s["conservation"].values()) for s in summaries),
    }
    return out
