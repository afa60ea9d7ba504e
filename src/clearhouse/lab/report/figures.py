"""The report's plotly figures as plain dicts (``{"data": [...], "layout": {...}}``): fan charts across
paths, the loss histogram with VaR / ES markers, the sweep frontier. Arrays are plotly typed-array
specs (``{"dtype": "f4", "bdata": base64}``): compact in the file and decoded by plotly.js offline."""

from __future__ import annotations

import base64
import html
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from clearhouse.lab.report.fmt import amount, d3_format, fmt_param
from clearhouse.lab.report.series import (
    MAX_POINTS,
    band_indices,
    cumulative,
    fan,
    minmax_indices,
    stack,
    wants_log,
)

Figure = dict[str, Any]

BAND = "rgba(31,119,180,0.18)"
MEDIAN = "#1f77b4"
FIRST = "#d62728"
SECOND = "#ff7f0e"
#: Further reference lines (external prices next to a pool price).
OTHERS = ("#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def typed(a: np.ndarray) -> dict[str, str]:
    """A float32 typed-array spec (7 significant digits: plenty for a plot, half the bytes)."""
    arr = np.ascontiguousarray(np.asarray(a, dtype="<f4"))
    return {"dtype": "f4", "bdata": base64.b64encode(arr.tobytes()).decode()}


def layout(
    title: str, y_title: str, *, log: bool = False, x_title: str = "hours", nonnegative: bool = False
) -> dict[str, Any]:
    """Shared layout: white template, unified hover, d3 ticks with separators and no exponent."""
    return {
        "title": {"text": title, "x": 0.01, "xanchor": "left"},
        "template": "plotly_white",
        "height": 380,
        "margin": {"l": 80, "r": 20, "t": 60, "b": 50},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.2, "x": 0, "traceorder": "normal"},
        "xaxis": {"title": {"text": x_title}, "tickformat": ",~r"},
        "yaxis": {
            "title": {"text": y_title + (" (log scale)" if log else "")},
            "type": "log" if log else "linear",
            **({"rangemode": "nonnegative"} if nonnegative and not log else {}),
            "tickformat": ",~r",
            "exponentformat": "none",
        },
    }


@dataclass(frozen=True)
class Paths:
    """The per-block columns of the paths that kept a timeseries, stacked paths × blocks."""

    hours: np.ndarray
    columns: Mapping[str, np.ndarray]
    seeds: tuple[int, ...]

    @classmethod
    def of(cls, tables: Sequence[pa.Table]) -> Paths:
        names = [n for n in tables[0].column_names if all(n in t.column_names for t in tables)]
        cols: dict[str, np.ndarray] = {}
        for name in names:
            if not pa.types.is_integer(tables[0].schema.field(name).type) and not pa.types.is_floating(
                tables[0].schema.field(name).type
            ):
                continue
            cols[name] = stack(
                [np.asarray(t.column(name).to_numpy(zero_copy_only=False), dtype=np.float64) for t in tables]
            )
        seeds = tuple(
            int(t.column("seed")[0].as_py()) if "seed" in t.column_names else i for i, t in enumerate(tables)
        )
        return cls(hours=cols["time"][0] / 3600.0, columns=cols, seeds=seeds)

    @property
    def n(self) -> int:
        return len(self.seeds)

    def has(self, name: str) -> bool:
        return name in self.columns


def _line(x: np.ndarray, y: np.ndarray, name: str, color: str, unit: str, **extra: Any) -> dict[str, Any]:
    idx = minmax_indices(y, MAX_POINTS)
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": typed(x[idx]),
        "y": typed(y[idx]),
        "line": {"color": color, "width": 1.6, **extra.pop("line", {})},
        "hovertemplate": f"%{{y:{d3_format(unit)}}} {unit if unit != 'count' else ''}".rstrip(),
        **extra,
    }


def fan_traces(
    x: np.ndarray, matrix: np.ndarray, unit: str, seed: int, what: str = ""
) -> list[dict[str, Any]]:
    """The 5–95 % band and the median across paths (with two paths or more), then path 0 on top."""
    traces: list[dict[str, Any]] = []
    n = matrix.shape[0]
    fmt = d3_format(unit)
    suffix = f" {unit}" if unit != "count" else ""
    if n > 1:
        lo, mid, hi = fan(matrix)
        idx = band_indices(lo, hi, MAX_POINTS)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{what}5 % across {n} paths",
                "x": typed(x[idx]),
                "y": typed(lo[idx]),
                "line": {"width": 0, "color": BAND},
                "showlegend": False,
                "hovertemplate": f"%{{y:{fmt}}}{suffix}",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{what}5–95 % across {n} paths",
                "x": typed(x[idx]),
                "y": typed(hi[idx]),
                "fill": "tonexty",
                "fillcolor": BAND,
                "line": {"width": 0, "color": BAND},
                "hovertemplate": f"%{{y:{fmt}}}{suffix}",
            }
        )
        traces.append(_line(x, mid, f"{what}median across {n} paths", MEDIAN, unit))
    traces.append(_line(x, matrix[0], f"{what}path 0 (seed {seed})", FIRST, unit))
    return traces


def fan_figure(p: Paths, column: str, title: str, unit: str, *, cumulate: bool = False) -> Figure:
    m = p.columns[column]
    if cumulate:
        m = cumulative(m)
    log = wants_log(m)
    finite = m[np.isfinite(m)]
    nonneg = bool(finite.size == 0 or finite.min() >= 0)
    return {
        "data": fan_traces(p.hours, m, unit, p.seeds[0]),
        "layout": layout(title, unit, log=log, nonnegative=nonneg),
    }


def price_figure(p: Paths, asset: str, unit: str) -> Figure:
    ext = p.columns[f"external_{asset}"]
    data = fan_traces(p.hours, ext, unit, p.seeds[0], "external, ")
    extra = [f"oracle_{asset}"]
    if p.has(f"oracle_{asset}"):
        data.append(
            _line(
                p.hours,
                p.columns[f"oracle_{asset}"][0],
                f"oracle the engine acts on, path 0 (seed {p.seeds[0]})",
                SECOND,
                unit,
                line={"dash": "dot"},
            )
        )
    log = wants_log(ext, *(p.columns[c][0] for c in extra if p.has(c)))
    title = f"{asset} price across paths: external path vs the oracle the engine acts on"
    return {"data": data, "layout": layout(title, f"{asset} price ({unit})", log=log)}


def pool_figure(p: Paths, market: str, assets: Sequence[str], unit: str) -> Figure:
    pool = p.columns[f"amm_price_{market}"]
    data = fan_traces(p.hours, pool, unit, p.seeds[0], "pool, ")
    ext = [a for a in assets if p.has(f"external_{a}")]
    for i, a in enumerate(ext):
        data.append(
            _line(
                p.hours,
                p.columns[f"external_{a}"][0],
                f"{a} external, path 0",
                OTHERS[i % len(OTHERS)],
                unit,
                line={"dash": "dot"},
            )
        )
    log = wants_log(pool, *(p.columns[f"external_{a}"][0] for a in ext))
    title = f"AMM pool {market}: pool price across paths vs the external price"
    return {"data": data, "layout": layout(title, f"price ({unit})", log=log)}


def timeseries_figures(tables: Sequence[pa.Table], settle: str) -> list[tuple[str, str, Figure]]:
    """``(id, caption, figure)`` for each plot of the paths' timeseries (fans across paths)."""
    p = Paths.of(tables)
    out: list[tuple[str, str, Figure]] = []
    assets = [n.removeprefix("external_") for n in p.columns if n.startswith("external_")]
    for a in assets:
        caption = (
            f"{a}: the price model's path (external) and, for path 0, the price the engine holds "
            "(oracle: delays, staleness and outages included)"
        )
        out.append((f"price-{a}", caption, price_figure(p, a, settle)))
    specs = [
        ("insurance_fund", "Insurance fund", settle, False, "the insurance fund after each block"),
        ("bad_debt", "Bad debt recorded (cumulative)", settle, False,
         "pools.bad_debt: close-out deficits nobody covered"),
        ("negative_equity", "Negative equity still open (uncovered)", settle, False,
         "Σ max(0, −equity) of open buckets: insolvency not yet enforced; it may heal"),
        ("liquidations", "Liquidations (cumulative close-outs)", "count", True,
         "close-outs of population accounts so far"),
        ("liquidated_notional", "Liquidated notional (cumulative)", settle, True,
         "Σ notional closed out so far"),
        ("below_maintenance", "Buckets below maintenance", "count", False,
         "buckets with health < 1 after each block"),
        ("gas_price_gwei", "Gas price p60", "gwei", False, "p60 of the block interval's gas price"),
        ("keeper_profit", "Keeper profit (cumulative)", settle, False, "rewards − gas of the keepers so far"),
        ("vault_bad_debt", "Vault bad debt (cumulative)", settle, False, "auctions + minted incentives"),
        ("debt_under_auction", "Debt under auction", settle, False, "debt still in open auctions"),
        ("auctions_open", "Auctions open", "count", False, "vault auctions open after each block"),
        ("option_legs_liquidated", "Option legs taken over (cumulative)", "count", True,
         "ContractLegLiquidated of option books so far (keepers' LiquidateContracts)"),
        ("option_vol", "Implied vol of the last scenario table", "fraction", False,
         "the vol the publisher valued the options at (vol path x (S0/S)^vol_beta)"),
    ]
    for column, title, unit, cumulate, caption in specs:
        if p.has(column):
            fig = fan_figure(p, column, title, unit, cumulate=cumulate)
            out.append((column.replace("_", "-"), caption, fig))
    for market in (n.removeprefix("amm_price_") for n in list(p.columns) if n.startswith("amm_price_")):
        caption = f"pool price amm_quote / amm_base of {market} after each block, and the external price"
        out.append((f"pool-{market}", caption, pool_figure(p, market, assets, settle)))
    return out


# ----------------------------------------------------------------------------- losses


def loss_histogram(values: Sequence[float], agg: Mapping[str, Any], unit: str) -> Figure:
    """Bad debt per path (``bad_debt.total``), binned, with VaR and expected-shortfall markers."""
    v = np.asarray(values, dtype=np.float64)
    bins = int(min(40, max(5, math.ceil(math.sqrt(max(1, v.size))))))
    counts, edges = np.histogram(v, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    labels = [f"{amount(float(a))} – {amount(float(b))} {unit}" for a, b in itertools.pairwise(edges)]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": "paths",
            "x": typed(centres),
            "y": typed(counts.astype(np.float64)),
            "width": float(edges[1] - edges[0]),
            "marker": {"color": MEDIAN},
            "customdata": labels,
            "hovertemplate": "%{customdata}<br>%{y:,.0f} path(s)<extra></extra>",
        }
    ]
    top = float(max(1, counts.max()))
    markers = [
        *((f"VaR {q}", val, "#444", "dash") for q, val in agg.get("var_bad_debt", {}).items()),
        *((f"ES {q}", val, FIRST, "dot") for q, val in agg.get("es_bad_debt", {}).items()),
    ]
    for i, (name, val, color, dash) in enumerate(markers):
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{name}: {amount(float(val))} {unit}",
                "x": [float(val), float(val)],
                "y": [0.0, top * (1.12 + 0.06 * i)],
                "line": {"color": color, "dash": dash, "width": 2},
                "hovertemplate": f"{name}: %{{x:,.4~r}} {unit}<extra></extra>",
            }
        )
    title = f"Loss across {v.size} path(s): total bad debt per path"
    lay = layout(title, "paths", x_title=f"bad debt ({unit})")
    lay["hovermode"] = "closest"
    lay["bargap"] = 0.05
    return {"data": data, "layout": lay}


# ----------------------------------------------------------------------------- sweeps


def point_label(point: Mapping[str, Any]) -> str:
    """A point's name as it sits next to its marker: grid names (``a=1,b=2``) one parameter per line;
    a name with a part longer than 36 characters (or more than 4 parts) becomes ``#index`` (the table
    below the plot maps indices to names, hovering shows the name)."""
    name = str(point["name"])
    parts = name.split(",")
    if len(parts) <= 4 and all(len(part) <= 36 for part in parts):
        return "<br>".join(html.escape(part) for part in parts)
    return f"#{point['index']}"


def _padded(values: Sequence[float], below: float, above: float) -> list[float]:
    lo, hi = float(min(values)), float(max(values))
    span = hi - lo or abs(hi) or 1.0
    return [lo - below * span, hi + above * span]


def frontier_figure(doc: Mapping[str, Any], risk: Sequence[float], eff: Sequence[float], unit: str) -> Figure:
    """Every point, risk (y) against capital efficiency (x), the Pareto frontier as a red step line."""
    pts = doc["points"]
    fr = doc["frontier"]
    on = [bool(p["pareto"]) for p in pts]

    def hover(p: Mapping[str, Any]) -> str:
        params = "<br>".join(
            html.escape(f"{k} = {fmt_param(k, v)}") for k, v in p["parameters"].items()
        )
        return f"<b>{html.escape(str(p['name']))}</b><br>{params}"

    data: list[dict[str, Any]] = []
    for flag, name, color, size in ((False, "dominated", "#888", 9), (True, "Pareto frontier", FIRST, 12)):
        sel = [i for i, o in enumerate(on) if o == flag]
        if not sel:
            continue
        if flag:
            order = sorted(sel, key=lambda i: (eff[i], risk[i]))
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": "frontier",
                    "x": [eff[i] for i in order],
                    "y": [risk[i] for i in order],
                    "line": {"color": FIRST, "shape": "hv", "width": 1.5},
                    "hoverinfo": "skip",
                    "showlegend": False,
                }
            )
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": name,
                "x": [eff[i] for i in sel],
                "y": [risk[i] for i in sel],
                "text": [point_label(pts[i]) for i in sel],
                "textposition": "top right",
                "textfont": {"size": 12},
                "cliponaxis": False,
                "marker": {"color": color, "size": size},
                "customdata": [hover(pts[i]) for i in sel],
                "hovertemplate": "%{customdata}<br>efficiency %{x:,.3f}<br>risk %{y:,.4~r} "
                + unit
                + "<extra></extra>",
            }
        )
    lay = layout(
        f"{doc['name']}: bad debt vs capital efficiency ({len(pts)} points)",
        f"{fr['risk']} ({unit}; lower is safer)",
        x_title=f"{fr['efficiency']} (higher: more capital-efficient)",
    )
    lay["hovermode"] = "closest"
    lay["height"] = 520
    # room right of and above the markers for their names
    lay["xaxis"]["range"] = _padded(eff, 0.06, 0.35)
    lay["yaxis"]["range"] = _padded(risk, 0.08, 0.2)
    lay["yaxis"].pop("rangemode", None)
    return {"data": data, "layout": lay}


def sweep_box_figure(doc: Mapping[str, Any], unit: str) -> Figure:
    """Bad debt of every path of every point: the spread behind each point's mean and VaR."""
    data = []
    for p in doc["points"]:
        ys = [float(x["bad_debt_total"]) for x in p["paths"]]
        data.append(
            {
                "type": "box",
                "name": point_label(p),
                "x": [point_label(p)] * len(ys),
                "y": ys,
                "boxpoints": "all",
                "jitter": 0.3,
                "marker": {"color": FIRST if p["pareto"] else "#666", "size": 5},
                "hovertemplate": f"{html.escape(str(p['name']))}<br>%{{y:,.4~r}} {unit}<extra></extra>",
            }
        )
    lay = layout("Bad debt per path, per point", f"bad debt ({unit})", x_title="point")
    lay["xaxis"] = {"title": {"text": "point"}, "type": "category"}
    lay["hovermode"] = "closest"
    lay["showlegend"] = False
    return {"data": data, "layout": lay}
