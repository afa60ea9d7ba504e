"""Outputs of a simulation: summary.json, timeseries.parquet, events.parquet and a self-contained
report.html (matplotlib PNGs embedded as base64), written to a temporary directory and moved into
place only when complete; and the sweep report (frontier of bad debt vs capital efficiency)."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from clearhouse.lab.output_dir import write_output_dir


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plots(ts: pa.Table, title: str) -> list[tuple[str, str]]:
    """(caption, base64 PNG) for each plot of the first path's timeseries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = np.asarray(ts.column("time").to_numpy(), dtype=np.float64) / 3600.0
    col = {name: np.asarray(ts.column(name).to_numpy(zero_copy_only=False)) for name in ts.column_names}
    out: list[tuple[str, str]] = []

    assets = [n.removeprefix("external_") for n in ts.column_names if n.startswith("external_")]
    fig, axes = plt.subplots(len(assets), 1, figsize=(10, 3.2 * len(assets)), squeeze=False)
    for ax, a in zip(axes[:, 0], assets, strict=True):
        ax.plot(hours, col[f"external_{a}"], label=f"{a} external", lw=1.0)
        ax.plot(hours, col[f"oracle_{a}"], label=f"{a} oracle (engine)", lw=1.2)
        ax.set_ylabel("price")
        ax.legend(loc="best")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("hours")
    fig.suptitle(f"{title}: external price vs the price the engine acts on")
    out.append(("External price vs oracle price", _png(fig)))

    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.plot(hours, col["below_maintenance"], label="below maintenance (health < 1)", color="tab:red")
    ax.plot(hours, col["within_10pct"], label="within 10% (1 ≤ health < 1.1)", color="tab:orange")
    ax.set_xlabel("hours")
    ax.set_ylabel("accounts / positions")
    ax.legend()
    ax.grid(alpha=0.3)
    ax.set_title("Health distribution over time")
    out.append(("Health distribution", _png(fig)))

    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.bar(
        hours, col["liquidations"], width=hours[1] - hours[0] if len(hours) > 1 else 0.01, label="close-outs"
    )
    ax.set_ylabel("close-outs per block")
    ax2 = ax.twinx()
    ax2.plot(hours, col["bad_debt"], color="tab:red", label="bad debt recorded (cumulative)")
    ax2.plot(hours, col["negative_equity"], color="tab:purple", ls="--", label="negative equity still open")
    ax2.set_ylabel("settlement units")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left")
    ax.set_xlabel("hours")
    ax.set_title("Liquidations and bad debt")
    out.append(("Liquidations and bad debt", _png(fig)))

    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.plot(hours, col["insurance_fund"], color="tab:green")
    ax.set_xlabel("hours")
    ax.set_ylabel("settlement units")
    ax.grid(alpha=0.3)
    ax.set_title("Insurance fund")
    out.append(("Insurance fund", _png(fig)))

    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.plot(hours, np.cumsum(col["keeper_txs"]), label="close-outs included (cumulative)")
    ax.plot(hours, np.cumsum(col["keeper_failed"]), label="of which failed", color="tab:red")
    ax.set_ylabel("transactions")
    ax2 = ax.twinx()
    ax2.plot(hours, col["gas_price_gwei"], color="tab:gray", ls=":", label="gas p60 (gwei)")
    ax2.set_ylabel("gwei")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left")
    ax.set_xlabel("hours")
    ax.set_title(f"Keeper activity (cumulative profit at the end: {col['keeper_profit'][-1]:,.0f})")
    out.append(("Keeper activity", _png(fig)))

    if "vault_debt" in col:
        fig, ax = plt.subplots(figsize=(10, 3.5))
        ax.plot(hours, col["vaults_unsafe"], label="vaults below their ratio", color="tab:red")
        ax.plot(hours, col["auctions_open"], label="auctions open", color="tab:blue")
        ax.set_ylabel("count")
        ax2 = ax.twinx()
        ax2.plot(hours, col["debt_under_auction"], color="tab:orange", ls="--", label="debt under auction")
        ax2.plot(hours, col["vault_bad_debt"], color="tab:purple", label="vault bad debt (cumulative)")
        ax2.set_ylabel("settlement units")
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left")
        ax.set_xlabel("hours")
        ax.set_title(f"Vaults and auctions (zero-bid wins: {int(col['zero_bid_wins'][-1])})")
        out.append(("Vaults and auctions", _png(fig)))

    pools = [n.removeprefix("amm_price_") for n in ts.column_names if n.startswith("amm_price_")]
    if pools:
        fig, ax = plt.subplots(figsize=(10, 3.5))
        for market in pools:
            ax.plot(hours, col[f"amm_price_{market}"], label=f"{market} pool price")
        for a in assets:
            ax.plot(hours, col[f"external_{a}"], ls=":", label=f"{a} external")
        ax.set_xlabel("hours")
        ax.set_ylabel("price")
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
        ax.set_title("AMM pools: forced sales and arbitrage against the external price")
        out.append(("AMM pools", _png(fig)))
    return out


def _rows(d: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_rows(value, f"{name}."))
        else:
            rows.append((name, f"{value:,.6g}" if isinstance(value, float) else str(value)))
    return rows


def render_html(summary: dict[str, Any], ts: pa.Table | None) -> str:
    first = summary["paths"][0] if summary["paths"] else {}
    title = html.escape(str(summary.get("scenario", "")))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>clearhouse stress report: {title}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 8px;"
        "text-align:left}img{max-width:100%}h2{margin-top:1.6em}</style></head><body>",
        f"<h1>Stress report: {title}</h1>",
        f"<p>{html.escape(str(summary.get('description', '')))}</p>",
        "<h2>Across paths</h2><table>",
    ]
    for k, v in _rows(summary.get("aggregate", {})):
        parts.append(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>")
    parts.append("</table>")
    if ts is not None and ts.num_rows:
        for caption, png in plots(ts, str(summary.get("scenario", ""))):
            parts.append(
                f"<h2>{html.escape(caption)}</h2><img alt='{html.escape(caption)}' "
                f"src='data:image/png;base64,{png}'>"
            )
    parts.append(f"<h2>First path (seed {first.get('seed')})</h2><table>")
    for k, v in _rows(first):
        parts.append(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)


def write_atomically(out: Path, fill: Callable[[Path], None]) -> None:
    """Let ``fill`` write into a temporary directory, then move the outputs into place.

    The policy (new, empty or marked folders only; nothing clearhouse did not write is ever deleted;
    an interruption leaves nothing that looks complete) is :mod:`clearhouse.lab.output_dir`'s."""
    write_output_dir(out, fill)


def write_outputs(
    out: Path,
    summary: dict[str, Any],
    timeseries: Sequence[pa.Table],
    events: Sequence[pa.Table],
) -> None:
    """Write the four outputs to a temporary directory next to ``out``, then move it into place.

    An interruption before the final rename leaves ``out`` as it was (and no partial directory)."""

    def fill(tmp: Path) -> None:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        if timeseries:
            pq.write_table(
                pa.concat_tables(timeseries, promote_options="default"), tmp / "timeseries.parquet"
            )
        if events:
            pq.write_table(pa.concat_tables(events, promote_options="default"), tmp / "events.parquet")
        first_ts = timeseries[0] if timeseries else None
        (tmp / "report.html").write_text(render_html(summary, first_ts))

    write_atomically(out, fill)


# ----------------------------------------------------------------------------- sweeps


def frontier_png(doc: dict[str, Any]) -> str:
    """Scatter of every sweep point, risk against capital efficiency, Pareto frontier highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fr = doc["frontier"]
    eff_key = fr["efficiency"].removeprefix("capital_efficiency.")
    pts = doc["points"]
    xs = np.array([p["metrics"]["capital_efficiency"][eff_key] for p in pts], dtype=np.float64)
    ys = np.array([_metric(p["metrics"], fr["risk"]) for p in pts], dtype=np.float64)
    on = np.array([bool(p["pareto"]) for p in pts])
    fig, ax = plt.subplots(figsize=(10, 5.5))
    ax.scatter(xs[~on], ys[~on], color="tab:gray", alpha=0.7, label="dominated")
    order = np.argsort(xs[on], kind="stable")
    ax.plot(xs[on][order], ys[on][order], color="tab:red", lw=1.5, drawstyle="steps-post")
    ax.scatter(xs[on], ys[on], color="tab:red", s=60, zorder=3, label="Pareto frontier")
    for p, x, y in zip(pts, xs, ys, strict=True):
        ax.annotate(str(p["name"]), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(f"{fr['efficiency']} (higher: more capital-efficient)")
    ax.set_ylabel(f"{fr['risk']} (lower: less bad debt)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    ax.set_title(f"{doc['name']}: bad debt vs capital efficiency ({len(pts)} points)")
    return _png(fig)


def _metric(metrics: dict[str, Any], dotted: str) -> float:
    node: Any = metrics
    for key in dotted.split(".", 1):  # quantile keys hold dots: q0.95
        node = node[key]
    return float(node)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.6g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def render_sweep_html(doc: dict[str, Any]) -> str:
    """Self-contained sweep report: the frontier plot and one table row per point."""
    title = html.escape(str(doc.get("name", "")))
    pts = doc["points"]
    q_keys = [f"q{q:g}" for q in doc["quantiles"]]
    params: list[str] = []
    for p in pts:
        params.extend(k for k in p["parameters"] if k not in params)
    head = [
        "point",
        *params,
        "paths",
        "mean bad debt",
        *(f"VaR {q}" for q in q_keys),
        *(f"LaR {q}" for q in q_keys),
        "allowed lev.",
        "used lev.",
        "paths with bad debt",
        "insurance min",
        "conservation",
        "frontier",
    ]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>clearhouse sweep report: {title}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 8px;"
        "text-align:right}td:first-child{text-align:left}tr.pareto{background:#fde8e8}"
        "img{max-width:100%}h2{margin-top:1.6em}</style></head><body>",
        f"<h1>Sweep report: {title}</h1>",
        f"<p>{html.escape(str(doc.get('description', '')))}</p>",
        f"<p>{html.escape(doc['kind'])} sweep from <code>{html.escape(doc['file'])}</code>, "
        f"{len(pts)} point(s); every point runs the same seeds. Frontier: minimise "
        f"<code>{html.escape(doc['frontier']['risk'])}</code>, maximise "
        f"<code>{html.escape(doc['frontier']['efficiency'])}</code> (docs/metrics.md).</p>",
        "<h2>Bad debt vs capital efficiency</h2>",
        f"<img alt='frontier' src='data:image/png;base64,{frontier_png(doc)}'>",
        "<h2>Points</h2><table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>",
    ]
    for p in pts:
        m = p["metrics"]
        ce = m["capital_efficiency"]
        cells = [
            p["name"],
            *(p["parameters"].get(k, "") for k in params),
            m["paths"],
            m["mean_bad_debt"],
            *(m["var_bad_debt"][q] for q in q_keys),
            *(m["lar_liquidated_notional"][q] for q in q_keys),
            ce["allowed_leverage"],
            ce["used_leverage"],
            m["paths_with_bad_debt"],
            m["insurance_fund_min"],
            m["conservation_ok"],
            "yes" if p["pareto"] else "",
        ]
        cls = " class='pareto'" if p["pareto"] else ""
        parts.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in cells) + "</tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)
