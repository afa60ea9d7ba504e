"""What every benchmark shares: count arguments refuse bad values with a usage error, and a results
file replaces only an earlier JSON result, never another file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from benchmarks._common import count_arg, write_results  # noqa: E402


def test_count_arg_accepts_counts_from_its_minimum() -> None:
    assert count_arg(0)("0") == 0
    assert count_arg(1)("10000") == 10_000


@pytest.mark.parametrize(("minimum", "text"), [(0, "-3"), (1, "0"), (0, "x"), (0, "1.5"), (0, "")])
def test_count_arg_refuses_values_below_its_minimum_or_not_integers(minimum: int, text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        count_arg(minimum)(text)


def test_results_are_written_new_or_over_an_earlier_result(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "r.json"
    write_results(out, {"a": 1}, Console(quiet=True))
    assert json.loads(out.read_text()) == {"a": 1}
    write_results(out, {"a": 2}, Console(quiet=True))
    assert json.loads(out.read_text()) == {"a": 2}


@pytest.mark.parametrize("content", [b"# my notes\n", b"SQLite format 3\x00\xff\xfe", b""])
def test_a_file_that_is_not_a_json_result_is_left_alone(tmp_path: Path, content: bytes) -> None:
    out = tmp_path / "notes.md"
    out.write_bytes(content)
    with pytest.raises(SystemExit, match="refusing to overwrite"):
        write_results(out, {"a": 1}, Console(quiet=True))
    assert out.read_bytes() == content


def test_a_folder_or_a_link_is_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (tmp_path / "earlier.json").write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "earlier.json")
    for out in (folder, link):
        with pytest.raises(SystemExit, match="refusing to overwrite"):
            write_results(out, {"a": 1}, Console(quiet=True))
    assert folder.is_dir() and (tmp_path / "earlier.json").read_text() == "{}"
