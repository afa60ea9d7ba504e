"""The controller backtest's frontier page: per scenario, the static margin sweep as a curve (bad debt
against allowed leverage) and the controller as a point, in the same offline plotly page as the reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clearhouse.lab.report.figures import layout
from clearhouse.lab.report.page import document, esc, plot


def _hover(r: Mapping[str, Any]) -> str:
    return (
        f"{r['variant']}: bad debt mean {r['bad_debt_mean']:,.0f}, VaR99 {r.get('bad_debt_var99', 0):,.0f}, "
        f"LaR95 {r.get('lar95', 0):,.0f}, LaR99 {r.get('lar99', 0):,.0f}, paths {r.get('paths', 1)}"
    )


def frontier_figure(name: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One scenario: the static points in scale order, joined; the controller's point(s) as stars."""
    static = sorted((r for r in rows if r["scale"] is not None), key=lambda r: r["scale"])
    ctl = [r for r in rows if r["scale"] is None]
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers+text",
            "name": "static sweep",
            "x": [r["allowed_leverage"] for r in static],
            "y": [r["bad_debt_mean"] for r in static],
            "text": [str(r["variant"]).removeprefix("static ") for r in static],
            "hovertext": [_hover(r) for r in static],
            "textposition": "top center",
        },
        {
            "type": "scatter",
            "mode": "markers",
            "name": "controller",
            "x": [r["allowed_leverage"] for r in ctl],
            "y": [r["bad_debt_mean"] for r in ctl],
            "text": [str(r["variant"]) for r in ctl],
            "hovertext": [_hover(r) for r in ctl],
            "marker": {"symbol": "star", "size": 16, "color": "#d62728"},
        },
    ]
    x_title = "allowed leverage (capital efficiency)"
    title = name
    if rows and rows[0].get("monte_carlo"):
        title = f"{name} (Monte Carlo, {rows[0]['paths']} paths; LaR99 in the hover)"
    fig_layout = layout(title, "mean bad debt", x_title=x_title, nonnegative=True)
    fig_layout["hovermode"] = "closest"
    return {"data": data, "layout": fig_layout}


def render_backtest_html(rows: Sequence[Mapping[str, Any]], controller: str) -> str:
    """A self-contained page with one frontier plot per scenario."""
    names = sorted({str(r["scenario"]) for r in rows})
    body = [f"<h1>Controller backtest: {esc(controller)}</h1>"]
    for i, name in enumerate(names):
        body.append(plot(f"frontier-{i}", frontier_figure(name, [r for r in rows if r["scenario"] == name])))
    return document(f"clearhouse backtest-controller {controller}", body)


__all__ = ["frontier_figure", "render_backtest_html"]
