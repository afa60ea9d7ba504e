"""Finding and reading scenarios: built-in names, raw tables, overrides, then :func:`validate`."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from clearhouse.lab.scenario.model import Scenario, ScenarioError
from clearhouse.lab.scenario.validate import validate


def builtin_names() -> list[str]:
    """Names of the built-in scenarios (``clearhouse/lab/builtin/*.toml``)."""
    root = resources.files("clearhouse.lab") / "builtin"
    return sorted(p.name.removesuffix(".toml") for p in root.iterdir() if p.name.endswith(".toml"))


def read_table(name_or_path: str) -> tuple[dict[str, Any], str, Path | None]:
    """The raw TOML table of a built-in name or a file path, its display name and base directory."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ScenarioError(str(path), "", "no such scenario file")
        try:
            with open(path, "rb") as fh:
                return tomllib.load(fh), path.name, path.resolve().parent
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(path.name, "", f"is not valid TOML: {exc}") from None
    names = builtin_names()
    if name_or_path not in names:
        raise ScenarioError(
            name_or_path, "", f"is neither a scenario file nor a built-in scenario; built-ins: {names}"
        )
    text = (resources.files("clearhouse.lab") / "builtin" / f"{name_or_path}.toml").read_text()
    return tomllib.loads(text), f"{name_or_path}.toml", None


def load_scenario(
    name_or_path: str, overrides: Mapping[str, Any] | None = None, *, paths: int = 1
) -> Scenario:
    """Load and validate a built-in scenario by name or a TOML file by path.

    ``overrides`` maps dotted field paths to values applied to the raw table before validation, e.g.
    ``{"population.accounts": 200, "horizon": "6h"}``. ``paths`` sizes the memory estimate
    (:mod:`clearhouse.lab.scenario.size`), which refuses a run that cannot fit before anything runs.
    """
    table, file, base_dir = read_table(name_or_path)
    for dotted, value in (overrides or {}).items():
        set_path(table, dotted, value)
    return validate(table, file, base_dir, paths=paths)


def set_path(table: dict[str, Any], dotted: str, value: Any) -> None:
    node = table
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
