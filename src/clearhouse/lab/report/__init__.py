"""Outputs of a simulation: summary.json, timeseries.parquet, events.parquet and ``report.html``,
written to a temporary directory and moved into place only when complete; and the sweep report.

``report.html`` is interactive and self-contained: plotly figures with plotly.js inlined from the
``plotly`` package (no CDN, nothing fetched), fan charts across paths (median and 5–95 % band, path 0
drawn on top), the loss histogram with VaR / ES markers, the labelled summary sections, and the full
parameter table of the scenario (``docs/metrics.md``, "The report")."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from clearhouse.lab.output_dir import write_output_dir
from clearhouse.lab.report.figures import (
    frontier_figure,
    loss_histogram,
    sweep_box_figure,
    timeseries_figures,
)
from clearhouse.lab.report.fmt import amount, fmt_param, fmt_value
from clearhouse.lab.report.page import (
    document,
    esc,
    facts_table,
    parameter_tables,
    plot,
    raw_table,
    section_table,
)

__all__ = ["render_html", "render_sweep_html", "write_atomically", "write_outputs"]


def _settle(summary: Mapping[str, Any]) -> str:
    paths = summary.get("paths") or [{}]
    return str(paths[0].get("settlement_asset", "")) or "units"


def render_html(
    summary: Mapping[str, Any],
    timeseries: Sequence[pa.Table] = (),
    parameters: Mapping[str, Any] | None = None,
) -> str:
    """The simulation report of ``summary`` (the summary.json document), the kept paths' timeseries
    (one table per path, path 0 first) and the scenario's parameters (``msgspec.to_builtins`` of the
    validated spec)."""
    name = str(summary.get("scenario", ""))
    agg = summary.get("aggregate", {})
    paths = summary.get("paths", [])
    first = paths[0] if paths else {}
    settle = _settle(summary)
    sections = agg.get("sections", [])
    tables = [t for t in timeseries if t is not None and t.num_rows]
    seeds = agg.get("seeds", [])
    facts = [
        ("scenario", f"{name} ({summary.get('source', name)})"),
        ("paths", f"{len(paths):,}" + (f", seeds {seeds[0]}..{seeds[-1]}" if seeds else "")),
        ("fan charts", f"{len(tables)} path(s) with a timeseries" + ("" if len(tables) == len(paths) else
                                                                      f" (the first {len(tables)})")),
        ("settlement asset", settle),
        ("conservation", "holds on every path" if agg.get("conservation_ok") else "FAILED (summary.json)"),
    ]
    if parameters:
        horizon = fmt_param("horizon", parameters.get("horizon"))
        facts[1:1] = [("horizon", f"{horizon}, blocks of {parameters.get('block_time')} s")]
    if summary.get("overrides"):
        overrides = summary["overrides"].items()
        facts.append(("overrides", ", ".join(f"{k} = {fmt_param(k, v)}" for k, v in overrides)))
    nav = [
        "<a href='#losses'>Losses</a>",
        "<a href='#over-time'>Over time</a>",
        "<a href='#sections'>Summary</a>",
    ]
    if parameters:
        nav.append("<a href='#parameters'>Parameters</a>")
    nav.append("<a href='#first-path'>Every metric of path 0</a>")
    body = [
        f"<h1>Stress report: {esc(name)}</h1>",
        f"<p>{esc(summary.get('description', ''))}</p>",
        f"<nav>{''.join(nav)}</nav>",
        facts_table(facts),
        "<h2 id='losses'>Losses across paths</h2>",
    ]
    if paths:
        bad = [float(p["bad_debt"]["total"]) for p in paths]
        body.append(
            plot(
                "loss-histogram",
                loss_histogram(bad, agg, settle),
                "bad_debt.total per path (recorded + negative equity still open at the end); "
                "VaR q: the q quantile over paths; ES q: the mean of the worst ceil(n(1−q)) paths",
            )
        )
    body.extend(section_table(s) for s in sections if s["id"] == "across_paths")
    body.append("<h2 id='over-time'>Over time, across paths</h2>")
    if tables:
        body.append(
            "<p class='note'>Shaded: 5–95 % of the paths block by block; blue: the median; red: path 0. "
            "Traces are downsampled to at most 2,000 points keeping each interval's minimum and maximum. "
            "Zoom by dragging, double-click to reset, click legend entries to hide them.</p>"
        )
        for div_id, caption, fig in timeseries_figures(tables, settle):
            body.append(plot(f"ts-{div_id}", fig, caption))
    else:
        body.append("<p class='note'>No timeseries kept.</p>")
    body.append("<h2 id='sections'>Summary by section</h2>")
    body.extend(section_table(s) for s in sections if s["id"] != "across_paths")
    if parameters:
        body.append("<h2 id='parameters'>Scenario parameters (every field, defaults included)</h2>")
        body.append(parameter_tables(parameters))
    body.append(f"<h2 id='first-path'>Every metric of path 0 (seed {esc(first.get('seed'))})</h2>")
    body.append("<details><summary>show the full per-path summary</summary>")
    body.append(raw_table(first, skip=("liquidation_delay_s.table",)))
    body.append("</details>")
    return document(f"clearhouse stress report: {name}", body)


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
    parameters: Mapping[str, Any] | None = None,
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
        try:
            page = render_html(summary, timeseries, parameters)
        except Exception as err:  # a report bug must not cost the run's data: summary.json is written
            page = document(
                "clearhouse stress report: not rendered",
                [f"<h1>The report could not be rendered</h1><p><code>{esc(repr(err))}</code></p>"
                 "<p>summary.json, timeseries.parquet and events.parquet are complete.</p>"],
            )
        (tmp / "report.html").write_text(page, encoding="utf-8")

    write_atomically(out, fill)


# ----------------------------------------------------------------------------- sweeps


def _metric(metrics: Mapping[str, Any], dotted: str) -> float:
    node: Any = metrics
    for key in dotted.split(".", 1):  # quantile keys hold dots: q0.95
        node = node[key]
    return float(node)


def _sweep_unit(doc: Mapping[str, Any]) -> str:
    """The settlement asset, read off the first point's labelled sections."""
    for p in doc.get("points", []):
        for section in p["metrics"].get("sections", []):
            for row in section["rows"]:
                if row["key"] == "bad_debt.total":
                    return str(row["unit"])
    return "units"


def render_sweep_html(
    doc: Mapping[str, Any], scenarios: Mapping[str, Mapping[str, Any]] | None = None
) -> str:
    """The sweep report: the frontier (risk vs capital efficiency, point names on the plot), the bad
    debt of every path per point, one table row per point, and each base scenario's parameters
    (``scenarios``: source -> ``msgspec.to_builtins`` of its spec with the sweep's common overrides)."""
    name = str(doc.get("name", ""))
    pts = doc["points"]
    unit = _sweep_unit(doc)
    fr = doc["frontier"]
    eff_key = fr["efficiency"].removeprefix("capital_efficiency.")
    eff = [float(p["metrics"]["capital_efficiency"][eff_key]) for p in pts]
    risk = [_metric(p["metrics"], fr["risk"]) for p in pts]
    q_keys = [f"q{q:g}" for q in doc["quantiles"]]
    params: list[str] = []
    for p in pts:
        params.extend(k for k in p["parameters"] if k not in params)
    head = [
        "#",
        "point",
        *params,
        "paths",
        f"mean bad debt ({unit})",
        *(f"VaR {q} ({unit})" for q in q_keys),
        *(f"LaR {q} ({unit})" for q in q_keys),
        "allowed lev.",
        "used lev.",
        "paths with bad debt",
        f"insurance min ({unit})",
        "conservation",
        "frontier",
    ]
    body = [
        f"<h1>Sweep report: {esc(name)}</h1>",
        f"<p>{esc(doc.get('description', ''))}</p>",
        f"<p>{esc(doc['kind'])} sweep from <code>{esc(doc['file'])}</code>, {len(pts)} point(s); every "
        f"point runs the same seeds. Frontier: minimise <code>{esc(fr['risk'])}</code>, maximise "
        f"<code>{esc(fr['efficiency'])}</code> (docs/metrics.md). Long point names appear as "
        "<code>#i</code> on the plots (the table below lists them); hover a point for its parameters.</p>",
        "<h2>Bad debt vs capital efficiency</h2>",
        plot("frontier", frontier_figure(doc, risk, eff, unit), "red: the Pareto frontier (no point is "
             "both safer and more capital-efficient); grey: dominated points"),
        plot("sweep-paths", sweep_box_figure(doc, unit), "bad_debt.total of every path of each point"),
        "<h2>Points</h2><div class='scroll'><table><tr>"
        + "".join(f"<th>{esc(h)}</th>" for h in head)
        + "</tr>",
    ]
    for p in pts:
        m = p["metrics"]
        ce = m["capital_efficiency"]
        cells = [
            f"#{p['index']}",
            p["name"],
            *(fmt_param(k, p["parameters"][k]) if k in p["parameters"] else "" for k in params),
            f"{m['paths']:,}",
            amount(m["mean_bad_debt"]),
            *(amount(m["var_bad_debt"][q]) for q in q_keys),
            *(amount(m["lar_liquidated_notional"][q]) for q in q_keys),
            fmt_value(ce["allowed_leverage"], "x"),
            fmt_value(ce["used_leverage"], "x"),
            fmt_value(m["paths_with_bad_debt"], "count"),
            amount(m["insurance_fund_min"]),
            "ok" if m["conservation_ok"] else "FAILED",
            "yes" if p["pareto"] else "",
        ]
        cls = " class='pareto'" if p["pareto"] else ""
        tds = "".join(
            f"<td{'' if i < 2 + len(params) else ' class=num'}>{esc(c)}</td>" for i, c in enumerate(cells)
        )
        body.append(f"<tr{cls}>{tds}</tr>")
    body.append("</table></div>")
    for source, parameters in (scenarios or {}).items():
        body.append(f"<h2>Base scenario <code>{esc(source)}</code>: parameters before each point's own "
                    "overrides</h2>")
        body.append(parameter_tables(parameters))
    return document(f"clearhouse sweep report: {name}", body)
