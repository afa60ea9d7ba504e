"""The reports in a real headless browser: Debian's Chromium driven by Playwright (never `playwright
install`). A simulate report and a sweep report of tiny runs load from file:// with no console error
and no network request, and every plot div holds traces with data.

Needs ``apt-get install -y chromium`` (``/usr/bin/chromium``) and ``pip install playwright``; skipped
with the reason otherwise."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from clearhouse.cli.simulate import simulate
from clearhouse.cli.sweep import sweep

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)"
)
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="needs Playwright for Python (pip install playwright; it drives /usr/bin/chromium)",
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Per plot div: its id, the traces plotly drew, and each trace's x / y lengths (typed arrays decoded).
PLOTS_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => ({
  id: el.id,
  data: (el.data || []).length,
  traces: (el._fullData || []).map(d => ({
    type: d.type, name: d.name,
    x: d.x ? d.x.length : 0, y: d.y ? d.y.length : 0,
  })),
}))"""


def _app(command: Any, name: str) -> typer.Typer:
    app = typer.Typer()
    app.command(name)(command)
    app.command("noop")(lambda: None)
    return app


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("reports")
    tiny = ["--accounts", "30", "--horizon", "2h", "--paths", "3", "-e", "inprocess"]
    res = CliRunner().invoke(_app(simulate, "simulate"), ["simulate", *tiny, "-o", str(tmp / "sim")])
    assert res.exit_code == 0, res.output
    sweep_file = tmp / "sweep.toml"
    sweep_file.write_text(
        """
kind = "grid"
name = "browser_grid"
scenario = "black_thursday"
paths = 2
[overrides]
"population.accounts" = 30
horizon = "2h"
[grid]
"markets.ETH-PERP.initial_margin" = [0.1, 0.2]
"""
    )
    res = CliRunner().invoke(
        _app(sweep, "sweep"), ["sweep", str(sweep_file), "-e", "inprocess", "-o", str(tmp / "sweep")]
    )
    assert res.exit_code == 0, res.output
    return {"simulate": tmp / "sim" / "report.html", "sweep": tmp / "sweep" / "report.html"}


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield ctx
        finally:
            ctx.close()


def _load(context: Any, path: Path) -> tuple[list[dict[str, Any]], list[str], list[str], list[str]]:
    """Open ``path``; (plots, console errors, non-file requests, axis tick labels)."""
    errors: list[str] = []
    remote: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    local = ("file:", "data:", "blob:")
    page.on("request", lambda r: None if r.url.startswith(local) else remote.append(r.url))
    page.route(re.compile(r"^(https?|wss?)://"), lambda route: route.abort())  # nothing may go out
    try:
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function(
            "() => { const n = document.querySelectorAll('div.plot').length; "
            "return n > 0 && n === document.querySelectorAll('.js-plotly-plot').length; }",
            timeout=20_000,
        )
        plots = page.evaluate(PLOTS_JS)
        ticks = page.evaluate(
            "() => Array.from(document.querySelectorAll('.xtick text, .ytick text')).map(t => t.textContent)"
        )
        assert page.evaluate("() => document.querySelectorAll('div.plot').length") == len(plots)
    finally:
        page.close()
    return plots, errors, remote, ticks


def _assert_plots_have_data(plots: list[dict[str, Any]]) -> None:
    for p in plots:
        assert p["data"] > 0 and p["traces"], p["id"]
        for t in p["traces"]:
            assert t["x"] > 0 and t["y"] > 0, (p["id"], t)


def test_simulate_report_loads_offline_and_every_plot_has_data(
    context: Any, reports: dict[str, Path]
) -> None:
    plots, errors, remote, ticks = _load(context, reports["simulate"])
    assert errors == []
    assert remote == []
    ids = [p["id"] for p in plots]
    assert ids[0] == "loss-histogram"
    for needed in ("price-ETH", "insurance-fund", "bad-debt", "negative-equity", "liquidations"):
        assert f"ts-{needed}" in ids
    _assert_plots_have_data(plots)
    price = next(p for p in plots if p["id"] == "ts-price-ETH")
    names = [t["name"] for t in price["traces"]]
    assert "external, median across 3 paths" in names and any(n.startswith("external, path 0") for n in names)
    assert ticks and not [t for t in ticks if re.search(r"\de[+-]?\d", t)]  # no 3.86895e+07 on an axis


def test_sweep_report_loads_offline_and_every_plot_has_data(context: Any, reports: dict[str, Path]) -> None:
    plots, errors, remote, _ = _load(context, reports["sweep"])
    assert errors == []
    assert remote == []
    assert [p["id"] for p in plots] == ["frontier", "sweep-paths"]
    _assert_plots_have_data(plots)
    frontier = plots[0]
    assert sum(t["x"] for t in frontier["traces"] if t["name"] != "frontier") == 2  # both points drawn
