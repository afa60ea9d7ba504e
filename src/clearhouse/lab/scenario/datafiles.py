"""Real data files with a hand-drawn fallback: where the data folder is and which source a run uses.

A ``[prices]`` table with a ``fallback`` table (and a ``[network]`` table with ``gas_fallback``)
reads its files from the *data directory*: the scenario's ``data_dir`` (relative to the scenario
file), else ``$CLEARHOUSE_DATA_DIR``, else ``../shared/data`` beside the repository checkout (CI
clones the repository with ``../shared`` next to it). When every file the table names is there the
real data are used; when the directory or a file is missing the fallback is used instead, and the
scenario records which (``Scenario.data_sources``, printed by ``simulate`` and written to
summary.json). A file that is present but broken is an error, never a silent fallback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from clearhouse.lab.scenario.model import ScenarioError

#: Environment variable overriding the data directory.
DATA_DIR_ENV: Final = "CLEARHOUSE_DATA_DIR"


@dataclass(frozen=True)
class DataDir:
    """The data directory a scenario reads (``path`` may not exist) and how it was chosen."""

    path: Path | None
    how: str


def default_data_dir() -> Path | None:
    """``<repository>/../shared/data`` when this package runs from a source checkout, else ``None``."""
    here = Path(__file__).resolve()
    if len(here.parents) < 5:
        return None
    repo = here.parents[4]  # <repo>/src/clearhouse/lab/scenario/datafiles.py
    if not (repo / "pyproject.toml").is_file():
        return None
    return repo.parent / "shared" / "data"


def data_dir(field: str | None, base_dir: Path | None) -> DataDir:
    """The data directory: the scenario's ``data_dir``, ``$CLEARHOUSE_DATA_DIR``, or the default."""
    if field:
        p = Path(field).expanduser()
        if not p.is_absolute():
            p = (base_dir or Path.cwd()) / p
        return DataDir(p, "data_dir")
    env = os.environ.get(DATA_DIR_ENV, "")
    if env:
        return DataDir(Path(env).expanduser(), f"${DATA_DIR_ENV}")
    default = default_data_dir()
    return DataDir(default, "../shared/data beside the repository" if default else "no data directory")


def replay_files(table: Mapping[str, Any]) -> list[str]:
    """The ``file`` of every replay series in a price table (``replay``, or the parts of ``columns``)."""
    model = table.get("model")
    if model == "replay":
        series = table.get("series")
        return [str(s["file"]) for s in series if isinstance(s, Mapping) and "file" in s] if isinstance(
            series, list | tuple
        ) else []
    if model == "columns":
        parts = table.get("parts")
        return [f for p in parts if isinstance(p, Mapping) for f in replay_files(p)] if isinstance(
            parts, list | tuple
        ) else []
    return []


@dataclass(frozen=True)
class Choice:
    """The table to build (real or fallback), the base directory of its files and a one-line source."""

    table: dict[str, Any]
    base_dir: Path | None
    source: str
    real: bool


def choose(
    what: str,
    table: dict[str, Any],
    files: list[str],
    fallback: Any,
    data: DataDir,
    file: str,
    field: str,
) -> Choice:
    """Pick the real ``table`` when all ``files`` are in the data directory, else ``fallback``."""
    if not isinstance(fallback, Mapping):
        raise ScenarioError(file, field, f"must be a table, got {type(fallback).__name__}")
    if not files:
        raise ScenarioError(file, field, "is only allowed when the table reads data files")
    missing: list[str] = []
    if data.path is None or not data.path.is_dir():
        missing = files
    else:
        missing = [f for f in files if not (data.path / f).is_file()]
    where = f"{data.path} ({data.how})" if data.path is not None else data.how
    if not missing:
        names = ", ".join(Path(f).name for f in files)
        return Choice(table, data.path, f"{what}: file {names} in {where}", True)
    kind = fallback.get("model") or fallback.get("source") or "fallback"
    if data.path is not None and data.path.is_dir():
        reason = f"{Path(missing[0]).name} not found in {where}"
    else:
        reason = f"no data directory {where}"
    return Choice(dict(fallback), None, f"{what}: fallback {kind} ({reason})", False)
