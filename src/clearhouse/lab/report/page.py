"""HTML assembly: one self-contained file, plotly.js inlined once (no CDN, no network), each figure a
``<div>`` plus a ``Plotly.newPlot`` call, tables formatted by :mod:`.fmt`."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from clearhouse.lab.report.fmt import fmt_param, fmt_short, fmt_value
from clearhouse.lab.report.params import grouped

#: Plot options: no plotly logo, no link to plotly's cloud; PNG export stays (it runs in the browser).
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "showLink": False, "showSendToCloud": False}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1180px;margin:1.5em auto;padding:0 1em;
color:#222;line-height:1.4}
h1{margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{margin:1.2em 0 .3em}
table{border-collapse:collapse;font-size:13px;margin:.4em 0}
td,th{border:1px solid #d8d8d8;padding:3px 9px;vertical-align:top}
th{background:#f4f4f4;text-align:left;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.label{white-space:pre}
.ci{color:#777;font-size:11px}
.note{color:#666;font-size:12.5px;margin:.2em 0 .8em}
.plot{width:100%;min-height:380px;margin:.2em 0 .2em}
.caption{color:#555;font-size:12.5px;margin:0 0 1.2em}
.params{columns:2 520px;column-gap:2em}
.params section{break-inside:avoid;margin-bottom:.8em}
.params table{width:100%}
.params td:first-child{width:45%;word-break:break-all}
.facts td:first-child{font-weight:600}
tr.pareto td{background:#fdecec}
nav a{margin-right:1em}
.scroll{overflow-x:auto}
code{background:#f3f3f3;padding:0 3px}
"""


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped inside the ``plotly`` Python package (offline; read once)."""
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    return str(get_plotlyjs())


def _finite(obj: Any) -> Any:
    """NaN and infinities as ``null`` (plotly draws a gap); JSON has no literal for them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _json(obj: Any) -> str:
    """JSON safe inside a ``<script>`` element."""
    return (
        json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False)
        .replace("</", "<\\/")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def plot(div_id: str, figure: Mapping[str, Any], caption: str = "") -> str:
    """A figure's ``<div>`` and the script drawing it."""
    call = (
        f"Plotly.newPlot({_json(div_id)},{_json(figure['data'])},{_json(figure['layout'])},"
        f"{_json(PLOT_CONFIG)});"
    )
    cap = f"<p class='caption'>{esc(caption)}</p>" if caption else ""
    return f"<div class='plot' id='{esc(div_id)}'></div><script>{call}</script>{cap}"


def document(title: str, body: Iterable[str]) -> str:
    return "\n".join(
        [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{esc(title)}</title><style>{CSS}</style>",
            f"<script>{plotly_js()}</script>",
            "</head><body>",
            *body,
            "</body></html>",
        ]
    )


def facts_table(rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows)
    return f"<table class='facts'>{cells}</table>"


def _label(row: Mapping[str, Any]) -> str:
    unit = row.get("unit", "")
    plain = unit in ("count", "s", "h", "x", "ratio", "bool", "")
    return str(row["label"]) if plain else f"{row['label']} ({unit})"


def section_table(section: Mapping[str, Any]) -> str:
    """One labelled summary section (``aggregate.sections[i]``, ``docs/metrics.md``) as a table; an
    expected-shortfall cell shows its bootstrap interval under it."""
    cols = list(section["columns"])
    head = "<tr><th>metric</th>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>"
    body = []
    for row in section["rows"]:
        cells = []
        for col in cols:
            text = esc(fmt_value(row["values"].get(col), row["unit"], row["key"]))
            ci = (row.get("ci") or {}).get(col)
            if ci is not None:
                lo, hi = (fmt_short(x, row["unit"]) for x in ci)
                text += f"<br><span class='ci'>95 % CI {esc(lo)} – {esc(hi)}</span>"
            cells.append(f"<td class='num'>{text}</td>")
        body.append(f"<tr><td class='label'>{esc(_label(row))}</td>{''.join(cells)}</tr>")
    note = f"<p class='note'>{esc(section['note'])}</p>" if section.get("note") else ""
    return (
        f"<h3 id='section-{esc(section['id'])}'>{esc(section['title'])}</h3>"
        f"<div class='scroll'><table>{head}{''.join(body)}</table></div>{note}"
    )


def parameter_tables(parameters: Mapping[str, Any]) -> str:
    """The full scenario, one small table per section (``markets.ETH-PERP``, ``population``, ...)."""
    parts = ["<div class='params'>"]
    for title, rows in grouped(parameters):
        cells = "".join(
            f"<tr><td><code>{esc(k) if k else '(empty)'}</code></td>"
            f"<td>{esc(fmt_param(f'{title}.{k}', v))}</td></tr>"
            for k, v in rows
        )
        parts.append(f"<section><h3>[{esc(title)}]</h3><table>{cells}</table></section>")
    parts.append("</div>")
    return "".join(parts)


def flat_rows(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(flat_rows(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


def raw_table(d: Mapping[str, Any], skip: Sequence[str] = ()) -> str:
    """Every leaf of a summary dict, formatted (the long tail behind the labelled sections)."""
    cells = []
    for k, v in flat_rows(d):
        if any(k == s or k.startswith(s + ".") for s in skip):
            continue
        text = fmt_param(k, v) if not isinstance(v, list) or len(v) <= 20 else f"[{len(v)} values]"
        cells.append(f"<tr><td><code>{esc(k)}</code></td><td class='num'>{esc(text)}</td></tr>")
    return f"<table>{''.join(cells)}</table>"
