"""``simulate -o`` / ``sweep -o`` never destroy data (issue 9 item 1): refused paths exit 2 with one
line, and nothing clearhouse did not write is ever deleted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearhouse.cli.main import app
from clearhouse.lab.report import write_atomically

runner = CliRunner()
FAST = ["black_thursday", "--horizon", "10m", "--accounts", "10"]


def _user_folder(root: Path) -> Path:
    """A folder with a user's scenario file and data folder in it."""
    root.mkdir()
    (root / "my.toml").write_text('name = "mine"\n')
    (root / "data").mkdir()
    (root / "data" / "prices.csv").write_text("time,price\n1,2\n")
    return root


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", ["simulate", "sweep"])
def test_a_folder_with_other_files_is_refused_and_left_alone(tmp_path: Path, command: str) -> None:
    folder = _user_folder(tmp_path / "work")
    before = _snapshot(folder)
    args = [*FAST] if command == "simulate" else [str(folder / "my.toml")]
    result = runner.invoke(app, [command, *args, "-o", str(folder)])
    assert result.exit_code == 2, result.output
    assert "not a clearhouse output" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _snapshot(folder) == before
    assert sorted(p.name for p in folder.iterdir()) == ["data", "my.toml"]


def test_dot_in_a_users_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _user_folder(tmp_path / "work")
    before = _snapshot(folder)
    monkeypatch.chdir(folder)
    result = runner.invoke(app, ["simulate", *FAST, "-o", "."])
    assert result.exit_code == 2, result.output
    assert _snapshot(folder) == before


@pytest.mark.parametrize("command", ["simulate", "sweep"])
def test_a_file_is_refused_not_replaced_by_a_folder(tmp_path: Path, command: str) -> None:
    target = tmp_path / "somefile.txt"
    target.write_text("keep me\n")
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text("")
    args = [*FAST] if command == "simulate" else [str(sweep_file)]
    result = runner.invoke(app, [command, *args, "-o", str(target)])
    assert result.exit_code == 2, result.output
    assert "is a file" in result.stderr
    assert target.read_text() == "keep me\n"


def test_new_folder_then_rerun_into_the_same_clearhouse_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = runner.invoke(app, ["simulate", *FAST, "-o", str(out)])
    assert first.exit_code == 0, first.output
    marker = json.loads((out / ".clearhouse-output").read_text())
    assert marker["complete"] is True
    assert set(marker["files"]) == {"summary.json", "timeseries.parquet", "events.parquet", "report.html"}
    # A previous clearhouse output is reused (rerun with another seed replaces the summary).
    second = runner.invoke(app, ["simulate", *FAST, "--seed", "7", "-o", str(out)])
    assert second.exit_code == 0, second.output
    assert json.loads((out / "summary.json").read_text())["paths"][0]["seed"] == 7
    assert not [p for p in out.iterdir() if p.name.startswith(".clearhouse-tmp-")]


def _fill(names: dict[str, str]):  # type: ignore[no-untyped-def]
    def fill(tmp: Path) -> None:
        for name, text in names.items():
            (tmp / name).write_text(text)

    return fill


def test_an_empty_existing_folder_is_used(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    write_atomically(out, _fill({"summary.json": "{}"}))
    assert sorted(p.name for p in out.iterdir()) == [".clearhouse-output", "summary.json"]


def test_a_marked_folder_with_a_users_extra_file_is_refused(tmp_path: Path) -> None:
    from clearhouse.lab.output_dir import OutputDirError

    out = tmp_path / "out"
    write_atomically(out, _fill({"summary.json": "{}", "report.html": "old"}))
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match=r"notes\.txt"):
        write_atomically(out, _fill({"summary.json": "{}"}))
    assert (out / "notes.txt").read_text() == "mine" and (out / "report.html").read_text() == "old"


def test_reuse_removes_only_files_the_marker_lists(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_atomically(out, _fill({"summary.json": "1", "events.parquet": "old"}))
    write_atomically(out, _fill({"summary.json": "2", "sweep.json": "s"}))
    assert sorted(p.name for p in out.iterdir()) == [".clearhouse-output", "summary.json", "sweep.json"]
    assert (out / "summary.json").read_text() == "2"


def test_a_marker_naming_a_path_outside_is_not_trusted(tmp_path: Path) -> None:
    from clearhouse.lab.output_dir import OutputDirError

    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    (out / ".clearhouse-output").write_text(
        json.dumps({"format": "clearhouse-output/1", "complete": True, "files": ["../precious.txt"]})
    )
    with pytest.raises(OutputDirError, match="not a clearhouse output"):
        write_atomically(out, _fill({"summary.json": "{}"}))
    assert (out / "precious.txt").read_text() == "mine"


def test_an_interrupted_write_leaves_the_old_output_and_nothing_complete_looking(tmp_path: Path) -> None:
    out = tmp_path / "new"

    def boom(tmp: Path) -> None:
        (tmp / "summary.json").write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(out, boom)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KeyboardInterrupt):
        write_atomically(empty, boom)
    assert list(empty.iterdir()) == []
