"""``clearhouse backtest-controller``: a controller against static parameters on the same paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from clearhouse.cli.errors import fail
from clearhouse.cli.options import check_output

console = Console()
#: The side-by-side table is wide; never squeeze it to a narrow or non-interactive terminal.
wide = Console(width=200)

COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("bad_debt_mean", "bad debt mean", "$"),
    ("bad_debt_var95", "VaR95", "$"),
    ("bad_debt_var99", "VaR99", "$"),
    ("bad_debt_es95", "ES95", "$"),
    ("peak_uncovered", "peak uncovered neg. equity", "$"),
    ("insurance_draw", "insurance draw", "$"),
    ("liquidations", "liquidations", "n"),
    ("lar95", "LaR95", "$"),
    ("lar99", "LaR99", "$"),
    ("allowed_leverage", "allowed lev.", "x"),
    ("used_leverage", "used lev.", "x"),
    ("changes", "param changes", "n"),
    ("mean_step", "mean step", "%"),
    ("max_step", "max step", "%"),
)
#: Paths per model of the Monte Carlo set when no scenario is named (3 models x 3 paths x 5 variants:
#: 45 short runs, about 25 s of CPU; docs/controller.md).
DEFAULT_MONTE_CARLO = 3


def _cell(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:,.2f}x"
    if unit == "%":
        return f"{100 * value:,.1f} %"
    if unit == "n":
        return f"{value:,.0f}"
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.2f}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:,.1f}k"
    return f"{value:,.0f}"


def comparison_table(rows: list[dict[str, Any]]) -> Table:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="controller vs static parameters (same paths)")
    t.add_column("scenario")
    t.add_column("variant")
    for _, label, _ in COLUMNS:
        t.add_column(label, justify="right")
    t.add_column("undominated", justify="right")
    for r in rows:
        flag = "" if r["scale"] is not None else ("yes" if r.get("undominated") else "NO")
        t.add_row(r["scenario"], r["variant"], *(_cell(r.get(k), u) for k, _, u in COLUMNS), flag)
    return t


def backtest_controller(
    scenarios: list[str] = typer.Argument(
        None, help="Built-in names, TOML paths or mc:gbm / mc:merton / mc:garch (default: every built-in)."
    ),
    controller: str = typer.Option(
        "volatility", "--controller", "-c", help="NAME or NAME:PROFILE (profiles: default, conservative)."
    ),
    seeds: int = typer.Option(1, "--seeds", "-n", min=1, help="Paths per scenario (seed, seed+1, ...)."),
    monte_carlo: int | None = typer.Option(
        None,
        "--monte-carlo",
        "--mc",
        min=0,
        help="Paths per model of the Monte Carlo set (GBM, Merton, GARCH over a default ETH-PERP book); "
        f"default {DEFAULT_MONTE_CARLO} when no scenario is named, else 0 (off).",
    ),
    scales: list[float] = typer.Option(
        [0.75, 1.0, 1.5, 2.0], "--scale", help="Static sweep: factors on every market's IM and MM."
    ),
    out: Path = typer.Option(Path("clearhouse-backtest"), "--out", "-o", help="Output directory."),
) -> None:
    """Run the controller and a static margin sweep on the same paths; print the side-by-side table and
    write backtest.json and frontier.html."""
    from clearhouse.lab.backtest import backtest, load_source
    from clearhouse.lab.controller_run import parse
    from clearhouse.lab.output_dir import OutputDirError, write_output_dir
    from clearhouse.lab.report.backtest import render_backtest_html
    from clearhouse.lab.scenario import ScenarioError, builtin_names

    try:
        parse(controller)
    except ValueError as err:
        fail(str(err))
    if any(not 0 < s <= 10 for s in scales):
        fail("--scale factors must be in (0, 10]")
    names = list(scenarios) if scenarios else builtin_names()
    n_mc = monte_carlo if monte_carlo is not None else (0 if scenarios else DEFAULT_MONTE_CARLO)
    try:
        for name in names:
            load_source(name)
    except (ScenarioError, ValueError) as err:
        fail(f"invalid scenario: {err}")
    check_output(out)

    def on_run(scenario: str, variant: str, seed: int) -> None:
        console.print(f"  {scenario}: {variant}, seed {seed}", markup=False)

    rows = backtest(names, controller, seeds, scales, on_run, monte_carlo=n_mc)
    doc = {
        "controller": controller,
        "seeds": seeds,
        "monte_carlo": n_mc,
        "scales": list(scales),
        "rows": rows,
    }

    def fill(tmp: Path) -> None:
        (tmp / "backtest.json").write_text(json.dumps(doc, indent=2, sort_keys=True))
        (tmp / "frontier.html").write_text(render_backtest_html(rows, controller))

    try:
        write_output_dir(out, fill)
    except (OutputDirError, OSError) as err:
        fail(f"cannot write the outputs to {out}: {err}", 1)
    wide.print(comparison_table(rows))
    beyond = sum(1 for r in rows if r["scale"] is None and r.get("undominated"))
    total = sum(1 for r in rows if r["scale"] is None)
    console.print(
        f"controller undominated by the static sweep on {beyond} of {total} scenario(s)"
        f"{f' (incl. {total - len(names)} Monte Carlo sets of {n_mc} paths)' if n_mc else ''}; "
        f"wrote {out}/backtest.json and frontier.html",
        markup=False,
    )
