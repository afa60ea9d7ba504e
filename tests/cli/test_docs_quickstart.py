"""The Python quick start in docs/index.md runs as written, twice in a row, and its journal verifies."""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearhouse.cli.main import app

INDEX = Path(__file__).resolve().parents[2] / "docs" / "index.md"


def _quick_start_blocks() -> list[str]:
    text = INDEX.read_text()
    section = text[text.index("## Quick start in Python") :]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "docs/index.md has no python block in its quick start"
    return blocks


def _run(blocks: list[str]) -> str:
    out = io.StringIO()
    namespace: dict[str, object] = {"__name__": "__quickstart__"}
    with contextlib.redirect_stdout(out):
        for code in blocks:
            exec(compile(code, str(INDEX), "exec"), namespace)
    engine = namespace.get("engine")
    journal = getattr(engine, "journal", None) or getattr(engine, "_journal", None)
    if journal is not None and hasattr(journal, "close"):
        journal.close()
    return out.getvalue()


def test_quick_start_runs_twice_and_its_journal_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    blocks = _quick_start_blocks()
    first = _run(blocks)
    second = _run(blocks)  # re-runnable: no "journal already holds blocks"
    for printed in (first, second):
        assert "Traded(" in printed
        numbers = printed.splitlines()[1].split()
        assert numbers == ["1000.0000", "200.0000", "100.0000", "10.0000"]  # equity, IM, MM, health
    commands = [line for line in second.splitlines() if line.startswith("clearhouse verify ")]
    assert len(commands) == 1
    result = CliRunner().invoke(app, commands[0].split()[1:])
    assert result.exit_code == 0, result.output
    assert "2 blocks verified" in result.output
