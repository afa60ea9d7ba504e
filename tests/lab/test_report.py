"""The report builder: number formatting (worked examples), the log-scale decision, downsampling that
keeps extremes, fans, the parameter table covering every scenario field, figures plotly accepts, and
an HTML file that fetches nothing (plotly.js inlined, no URL outside the bundle)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import msgspec
import numpy as np
import plotly.graph_objects as go  # type: ignore[import-untyped]
import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from clearhouse.lab.executors import InProcessExecutor
from clearhouse.lab.metrics import aggregate
from clearhouse.lab.report import render_html, render_sweep_html
from clearhouse.lab.report.figures import loss_histogram, point_label, timeseries_figures
from clearhouse.lab.report.fmt import amount, fmt_param, fmt_short, fmt_value, sig
from clearhouse.lab.report.page import plotly_js
from clearhouse.lab.report.params import grouped
from clearhouse.lab.report.series import (
    MAX_POINTS,
    band_indices,
    fan,
    minmax_indices,
    wants_log,
)
from clearhouse.lab.runner import run_paths
from clearhouse.lab.scenario import builtin_names, load_scenario

# ----------------------------------------------------------------------------- formatting


def test_significant_digits_never_use_an_exponent() -> None:
    assert sig(38689512.3) == "38,689,512"
    assert sig(3.86895e7) == "38,689,500"
    assert sig(0.000123456) == "0.0001235"
    assert sig(1e-7) == "0.0000001"
    assert sig(-2.5e-5, 2) == "-0.000025"
    assert sig(9.99996) == "10"
    assert sig(0.0) == "0"
    assert sig(float("inf")) == "∞" and sig(float("nan")) == "NaN"


def test_amounts_have_separators_and_two_decimals() -> None:
    assert amount(3.86895e7) == "38,689,500.00"
    assert amount(-1234.5) == "-1,234.50"
    assert amount(0.0) == "0.00"
    assert amount(0.000123456) == "0.0001235"  # a LUNA price keeps its digits
    assert amount(1_269) == "1,269"


@pytest.mark.parametrize(
    ("value", "unit", "key", "text"),
    [
        (3.86895e7, "USDC", "", "38,689,500.00 USDC"),
        (14_234_605.15, "USDC·h", "", "14,234,605.15 USDC·h"),
        (1269, "count", "", "1,269"),
        (6.67, "count", "", "6.67"),  # a mean of counts
        (70_000.0, "s", "", "70,000 s (19.4 h)"),
        (34.2, "s", "", "34 s"),
        (None, "s", "liquidation_delay_s.kaplan_meier.p95", "not reached"),
        (None, "s", "insolvency.peak_time_s", "—"),
        (5633.04, "h", "", "5,633.0 h"),
        (3.6912, "x", "", "3.69×"),
        (0.85, "ratio", "", "0.850"),
        (True, "bool", "", "yes"),
        (False, "bool", "", "NO"),
    ],
)
def test_section_cells(value: Any, unit: str, key: str, text: str) -> None:
    assert fmt_value(value, unit, key) == text


def test_confidence_bounds_are_compact() -> None:
    assert fmt_short(5_266_199.96, "USDC") == "5,266,199.96"  # the row label carries the unit
    assert fmt_short(545_100.0, "s") == "151.4 h"
    assert fmt_short(34.0, "s") == "34 s"
    assert fmt_short(3.6912, "x") == "3.69×"


def test_parameters_read_as_written() -> None:
    assert fmt_param("ledger.insurance_fund", 5_000_000.0) == "5,000,000"
    assert fmt_param("ledger.insurance_fund", 250000) == "250,000"
    assert fmt_param("markets.X.taker_fee", 0.0005) == "0.0005"
    assert fmt_param("x.tiny", 1e-05) == "0.00001"
    assert fmt_param("x.big", 3.86895e7) == "38,689,500"
    assert fmt_param("seed", 20200312) == "20200312"  # ids and epoch times stay ungrouped
    assert fmt_param("start_time", 1583971200) == "1583971200"
    assert fmt_param("keepers.latency_blocks", [1, 2, 10]) == "[1, 2, 10]"
    assert fmt_param("vaults", None) == "—"
    assert fmt_param("unwind", True) == "true"


# ----------------------------------------------------------------------------- series


def test_log_scale_when_a_price_falls_by_orders_of_magnitude() -> None:
    assert wants_log(np.array([100.0, 50.0, 0.005]))  # LUNA: -99.995 %
    assert not wants_log(np.array([194.0, 110.0, 85.0]))  # Black Thursday: -56 %
    assert not wants_log(np.array([20.0, 1.0]))  # exactly 20x: linear
    assert wants_log(np.array([20.01, 1.0]))
    assert not wants_log(np.array([0.0, 100.0]))  # a zero cannot go on a log axis
    assert not wants_log(np.array([-1.0, 100.0]))
    assert not wants_log(np.array([np.nan, np.nan]))
    assert wants_log(np.array([100.0, np.nan]), np.array([1.0]))  # over every array of the chart


def test_downsampling_keeps_first_last_and_extremes() -> None:
    n = 14_401  # 48 h of 12 s blocks
    y = np.sin(np.linspace(0, 20, n))
    y[7_777] = 50.0  # a one-block spike
    y[9_001] = -50.0  # a one-block crash
    idx = minmax_indices(y)
    assert len(idx) <= MAX_POINTS
    assert idx[0] == 0 and idx[-1] == n - 1 and np.all(np.diff(idx) > 0)
    assert 7_777 in idx and 9_001 in idx
    assert np.array_equal(minmax_indices(y[:500]), np.arange(500))  # short series untouched
    nan = y.copy()
    nan[:3000] = np.nan  # NaN never wins a bucket
    assert np.isfinite(nan[minmax_indices(nan)[1:]]).sum() > 0


def test_band_indices_keep_the_band_as_wide_as_the_data() -> None:
    rng = np.random.default_rng(0)
    lo = rng.normal(size=10_000)
    hi = lo + 1 + rng.random(10_000)
    idx = band_indices(lo, hi)
    assert len(idx) <= MAX_POINTS
    assert int(np.argmin(lo)) in idx and int(np.argmax(hi)) in idx


def test_fan_matches_numpy_nanquantile() -> None:
    rng = np.random.default_rng(1)
    m = rng.normal(size=(7, 300))
    m[rng.random(m.shape) < 0.3] = np.nan
    m[:, 5] = np.nan
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanquantile(m, [0.05, 0.5, 0.95], axis=0)
    for got, w in zip(fan(m), want, strict=True):
        assert np.allclose(got, w, equal_nan=True)
    lo, mid, hi = fan(np.array([[1.0, 10.0], [3.0, 30.0]]))  # two paths: 1 + 0.05 * 2 = 1.1
    assert np.allclose(lo, [1.1, 11.0]) and np.allclose(mid, [2.0, 20.0]) and np.allclose(hi, [2.9, 29.0])


# ----------------------------------------------------------------------------- parameter table


def _leaves(value: Any, prefix: str) -> list[str]:
    """Every leaf field path of a scenario value, walking the msgspec structs themselves."""
    if isinstance(value, msgspec.Struct):
        out: list[str] = []
        for f in msgspec.structs.fields(value):
            out += _leaves(getattr(value, f.name), f"{prefix}.{f.name}" if prefix else f.name)
        return out
    if isinstance(value, dict):
        if not value:
            return [prefix]
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{prefix}.{k}")]
    if isinstance(value, list | tuple) and any(isinstance(v, dict | msgspec.Struct) for v in value):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{prefix}[{i}]")]
    return [prefix]


@pytest.mark.parametrize("name", builtin_names())
def test_parameter_table_covers_every_scenario_field(name: str) -> None:
    spec = load_scenario(name).spec
    expected = set(_leaves(spec, ""))
    shown = set()
    for group, rows in grouped(msgspec.to_builtins(spec)):
        for field, _ in rows:
            shown.add(field if group == "scenario" else f"{group}.{field}" if field else group)
    assert shown == expected
    assert len(expected) > 60  # every section, defaults included (not only what the file sets)


# ----------------------------------------------------------------------------- figures


def _decode(arr: Any) -> np.ndarray:
    if isinstance(arr, dict):
        return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=arr["dtype"])
    return np.asarray(arr, dtype=np.float64)


def _synthetic(paths: int, n: int) -> list[pa.Table]:
    """Paths of ``n`` blocks: a price falling from 100 to 0.01 (LUNA-like) and a flat fund."""
    rng = np.random.default_rng(7)
    tables = []
    for i in range(paths):
        price = 100.0 * np.exp(np.linspace(0, np.log(1e-4), n) + rng.normal(0, 0.01, n))
        tables.append(
            pa.table(
                {
                    "path": pa.array([i] * n, pa.int64()),
                    "seed": pa.array([10 + i] * n, pa.int64()),
                    "time": pa.array(np.arange(n) * 12, pa.int64()),
                    "external_LUNA": price,
                    "oracle_LUNA": price * 1.01,
                    "oracle_state_LUNA": pa.array(["fresh"] * n),
                    "insurance_fund": np.full(n, 1e6) - i,
                    "liquidations": rng.integers(0, 3, n),
                    "bad_debt": np.cumsum(rng.random(n)),
                    "negative_equity": rng.random(n) * 1e5,
                }
            )
        )
    return tables


def test_fan_figures_are_valid_plotly_downsampled_and_log_where_the_price_collapses() -> None:
    figs = timeseries_figures(_synthetic(5, 14_401), "USD")
    ids = [i for i, _, _ in figs]
    assert ids == ["price-LUNA", "insurance-fund", "bad-debt", "negative-equity", "liquidations"]
    for _, _, fig in figs:
        go.Figure(fig)  # plotly's own validation: every attribute exists
        for trace in fig["data"]:
            x, y = _decode(trace["x"]), _decode(trace["y"])
            assert 0 < len(x) == len(y) <= MAX_POINTS
    by_id = {i: fig for i, _, fig in figs}
    assert by_id["price-LUNA"]["layout"]["yaxis"]["type"] == "log"
    assert by_id["insurance-fund"]["layout"]["yaxis"]["type"] == "linear"
    names = [t["name"] for t in by_id["price-LUNA"]["data"]]
    assert "external, 5–95 % across 5 paths" in names and "external, median across 5 paths" in names
    assert "external, path 0 (seed 10)" in names
    # liquidations are drawn cumulative: path 0's last point is its total
    last = _decode(by_id["liquidations"]["data"][-1]["y"])[-1]
    assert last == pytest.approx(float(np.sum(_synthetic(5, 14_401)[0].column("liquidations").to_numpy())))


def test_one_path_draws_no_band() -> None:
    figs = timeseries_figures(_synthetic(1, 50), "USD")
    names = [t["name"] for t in figs[1][2]["data"]]
    assert names == ["path 0 (seed 10)"]


def test_loss_histogram_marks_var_and_es() -> None:
    values = [0.0, 0.0, 1000.0, 2500.0, 38_689_500.0]
    agg = {"var_bad_debt": {"q0.95": 30_951_900.0}, "es_bad_debt": {"q0.95": 38_689_500.0}}
    fig = loss_histogram(values, agg, "USDC")
    go.Figure(fig)
    assert _decode(fig["data"][0]["y"]).sum() == 5
    names = [t["name"] for t in fig["data"][1:]]
    assert names == ["VaR q0.95: 30,951,900.00 USDC", "ES q0.95: 38,689,500.00 USDC"]


def test_point_labels_are_readable() -> None:
    assert point_label({"name": "initial_margin=0.2,maintenance_margin=0.05", "index": 0}) == (
        "initial_margin=0.2<br>maintenance_margin=0.05"
    )
    assert point_label({"name": "base", "index": 3}) == "base"
    long = "markets.ETH-PERP.liquidation.close_factor=0.5,x=1"
    assert point_label({"name": long, "index": 7}) == "#7"


# ----------------------------------------------------------------------------- whole documents


def _outside_bundle(html: str) -> str:
    bundle = plotly_js()
    assert html.count(bundle) == 1  # plotly.js inlined exactly once
    return html.replace(bundle, "")


def _assert_offline_and_readable(html: str) -> str:
    rest = _outside_bundle(html)
    for needle in ("http://", "https://", "cdn", "src=", "<link", "//unpkg", "@import"):
        assert needle not in rest.lower(), needle
    assert not re.search(r"\d\.\d+e[+-]?\d", re.sub(r'"bdata":"[^"]*"', "", rest))  # no 3.86895e+07
    return rest


@pytest.fixture(scope="module")
def tiny() -> tuple[dict[str, Any], list[pa.Table], dict[str, Any]]:
    overrides = {"population.accounts": 30, "horizon": "2h"}
    ex = InProcessExecutor()
    outcomes = list(run_paths("black_thursday", [1, 2, 3], overrides=overrides, executor=ex, keep_tables=3))
    summaries = [o.summary for o in outcomes]
    doc = {
        "scenario": "black_thursday",
        "description": "tiny",
        "source": "black_thursday",
        "overrides": overrides,
        "aggregate": aggregate(summaries),
        "paths": summaries,
    }
    tables = [o.timeseries for o in outcomes if o.timeseries is not None]
    params = msgspec.to_builtins(load_scenario("black_thursday", overrides).spec)
    return doc, tables, params


def test_simulation_report_is_offline_with_sections_parameters_and_plots(
    tiny: tuple[dict[str, Any], list[pa.Table], dict[str, Any]],
) -> None:
    doc, tables, params = tiny
    html = render_html(doc, tables, params)
    rest = _assert_offline_and_readable(html)
    for section in doc["aggregate"]["sections"]:
        assert f">{section['title']}<" in rest
    assert "[markets.ETH-PERP]" in rest and "<code>maintenance_margin</code>" in rest
    assert "[population]" in rest and "<code>accounts</code></td><td>30<" in rest
    calls = re.findall(r"Plotly\.newPlot\((\"[^\"]+\"),(.*?)\);</script>", rest)
    ids = [json.loads(c[0]) for c in calls]
    assert ids[0] == "loss-histogram" and "ts-price-ETH" in ids and "ts-negative-equity" in ids
    assert len(ids) == rest.count("class='plot'") == len(set(ids))


def test_sweep_report_is_offline() -> None:
    base = {"var_bad_debt": {"q0.95": 5.0}, "lar_liquidated_notional": {"q0.95": 1e6}}
    points = []
    for i, (im, eff, bad) in enumerate([(0.1, 10.0, 3.86895e7), (0.2, 5.0, 1.0e4)]):
        metrics = {
            **base,
            "paths": 2,
            "mean_bad_debt": bad,
            "paths_with_bad_debt": 1,
            "insurance_fund_min": 0.0,
            "conservation_ok": True,
            "capital_efficiency": {"allowed_leverage": eff, "used_leverage": eff / 2},
        }
        points.append(
            {
                "index": i,
                "name": f"initial_margin={im}",
                "parameters": {"markets.ETH-PERP.initial_margin": im},
                "metrics": metrics,
                "paths": [{"bad_debt_total": bad}, {"bad_debt_total": 0.0}],
                "pareto": True,
            }
        )
    doc = {
        "name": "grid",
        "description": "",
        "file": "sweep.toml",
        "kind": "grid",
        "quantiles": [0.95],
        "frontier": {"risk": "mean_bad_debt", "efficiency": "capital_efficiency.allowed_leverage"},
        "points": points,
    }
    params = {"black_thursday": msgspec.to_builtins(load_scenario("black_thursday").spec)}
    rest = _assert_offline_and_readable(render_sweep_html(doc, params))
    assert "38,689,500.00" in rest and "initial_margin=0.1" in rest
    assert "Base scenario <code>black_thursday</code>" in rest


def test_non_finite_numbers_become_gaps_not_invalid_json() -> None:
    from clearhouse.lab.report.page import plot

    fig = {"data": [{"type": "scatter", "x": [1.0, 2.0], "y": [float("nan"), float("inf")]}], "layout": {}}
    assert '"y":[null,null]' in plot("p", fig)


def test_a_report_bug_does_not_lose_the_run(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import clearhouse.lab.report as report

    def broken(*_: Any) -> str:
        raise RuntimeError("bug in the report")

    monkeypatch.setattr(report, "render_html", broken)
    report.write_outputs(tmp_path / "out", {"paths": []}, [], [])
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == {"paths": []}
    assert "bug in the report" in (tmp_path / "out" / "report.html").read_text()
