"""Each check a replay CSV goes through, on small synthetic files, through scenario validation.

Every test pins the boundary of its check (the last accepted value and the first refused one), so
it fails on a version without the check: the refused file would validate and run.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clearhouse.lab.scenario import Scenario, ScenarioError, read_table, validate

T0 = "2020-01-01 00:00:00"


def rows(*lines: str) -> str:
    return "t,close\n" + "".join(f"{line}\n" for line in lines)


def minutes(prices: list[float], *, start_minute: int = 0, step: int = 1) -> list[str]:
    out = []
    for i, p in enumerate(prices):
        m = start_minute + i * step
        out.append(f"2020-01-01 {m // 60:02d}:{m % 60:02d}:00,{p!r}")
    return out


def scenario(tmp_path: Path, text: str | bytes, horizon: str = "10m", **series: Any) -> Scenario:
    """black_thursday (fallback form) whose ETH path replays ``p.csv`` from 2020-01-01 00:00 UTC."""
    table, _, _ = read_table("black_thursday")
    t = copy.deepcopy(table)
    t["network"]["gas"] = t["network"].pop("gas_fallback")
    t["horizon"] = horizon
    t["prices"] = {
        "model": "replay",
        "start": "2020-01-01T00:00:00Z",
        "series": [{"asset": "ETH", "file": "p.csv", "time": "t", "price": "close", **series}],
    }
    path = tmp_path / "p.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return validate(t, "scenario.toml", tmp_path)


def refused(tmp_path: Path, text: str | bytes, horizon: str = "10m", **series: Any) -> str:
    with pytest.raises(ScenarioError) as info:
        scenario(tmp_path, text, horizon, **series)
    msg = str(info.value)
    assert msg.startswith("scenario.toml: prices: p.csv") and "\n" not in msg
    return msg


def test_times_strictly_increasing_a_repeat_is_refused_unless_duplicate_times_last(
    tmp_path: Path,
) -> None:
    lines = minutes([100.0, 101.0, 102.0] + [103.0] * 9)
    dup = [*lines[:2], lines[1].replace("101.0", "150.0"), *lines[2:]]
    msg = refused(tmp_path, rows(*dup))
    assert "p.csv:4: time '2020-01-01 00:01:00' repeats line 3 (times must be strictly increasing)" in msg
    sc = scenario(tmp_path, rows(*dup), duplicate_times="last")
    assert sc.price_model.path(np.array([0, 60, 120]), 0)[:, 0].tolist() == [100.0, 150.0, 102.0]
    back = [lines[0], lines[2], lines[1], *lines[3:]]
    assert "p.csv:4: time '2020-01-01 00:01:00' goes backwards" in refused(tmp_path, rows(*back))


def test_default_max_gap_is_four_times_the_median_spacing_unless_allow_gaps(tmp_path: Path) -> None:
    """Rows every 60 s: a 240 s gap (4 × median) passes, 241 s is refused naming its line."""
    ok = [*minutes([100.0] * 3), "2020-01-01 00:06:00,100.0", *minutes([100.0] * 8, start_minute=7)]
    scenario(tmp_path, rows(*ok))
    gap = [*minutes([100.0] * 3), "2020-01-01 00:06:01,100.0", *minutes([100.0] * 8, start_minute=7)]
    msg = refused(tmp_path, rows(*gap))
    assert "p.csv:5: gap of 241 s since line 4 exceeds the default max_gap (4 × median spacing)=240" in msg
    scenario(tmp_path, rows(*gap), allow_gaps=True)
    scenario(tmp_path, rows(*gap), max_gap_seconds=241)


@pytest.mark.parametrize(
    ("price", "ok"),
    [("1e-12", True), ("9.9e-13", False), ("1e15", True), ("1.0001e15", False), ("1e30", False)],
)
def test_price_range(tmp_path: Path, price: str, ok: bool) -> None:
    lines = minutes([100.0] * 12)
    lines[3] = f"2020-01-01 00:03:00,{price}"
    if ok:
        sc = scenario(tmp_path, rows(*lines))
        assert sc.price_model.path(np.array([180]), 0)[0, 0] == float(price)
    else:
        msg = refused(tmp_path, rows(*lines))
        assert f"p.csv:5: price '{price}' in column 'close' is outside [1e-12, 1e+15]" in msg


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not a UTF-8 text CSV (binary data at byte 0)"),
        (
            b"t,close\n2020-01-01 00:00:00,1\x00\x00\x00\n",
            "p.csv:2: is not a text CSV (NUL bytes: a binary file)",
        ),
        (b"t\x00,close\n", "p.csv:1: is not a text CSV (NUL bytes: a binary file)"),
    ],
)
def test_binary_file_refused_in_one_line(tmp_path: Path, data: bytes, match: str) -> None:
    assert match in refused(tmp_path, data)


def test_start_before_the_first_row_is_refused(tmp_path: Path) -> None:
    late = minutes([100.0] * 12, start_minute=1)  # first row at 00:01, the scenario starts at 00:00
    msg = refused(tmp_path, rows(*late))
    assert "series ETH: simulation time 0 (2020-01-01 00:00:00 UTC) is before the first row" in msg
    assert "(2020-01-01 00:01:00 UTC); move start later" in msg
    scenario(tmp_path, rows(*minutes([100.0] * 12)))  # a first row at the start is enough


def test_file_shorter_than_the_horizon_is_refused(tmp_path: Path) -> None:
    """Rows 00:00..00:10 every minute (max_gap 240 s): the last block may be at most 4 minutes past
    the last row; a longer horizon would hold the last price flat and is refused."""
    text = rows(*minutes([100.0 + i for i in range(11)]))
    sc = scenario(tmp_path, text, horizon="14m")
    assert sc.price_model.path(np.array([14 * 60]), 0)[0, 0] == 110.0
    msg = refused(tmp_path, text, horizon="15m")
    assert "series ETH: simulation time 900 (2020-01-01 00:15:00 UTC) is more than max_gap=240 s after" in msg
    assert "the file is shorter than the horizon" in msg
