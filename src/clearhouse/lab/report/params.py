"""The scenario's full parameter table: every section and field of the validated scenario, defaults
included (``msgspec.to_builtins`` of :class:`~clearhouse.lab.scenario.schema.ScenarioSpec`), as
dotted rows grouped by section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Top-level tables whose entries (markets, assets, feeds, vault types) each get their own group.
_KEYED = ("assets", "markets", "feeds")


def _scalar_list(value: list[Any]) -> bool:
    return all(not isinstance(v, dict) and (not isinstance(v, list) or _scalar_list(v)) for v in value)


def flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``[(dotted key, leaf value)]`` in document order. Tables recurse; lists of tables get ``[i]``;
    lists of plain values (waypoints, seeds) stay one row; an empty table is one row ``{}``."""
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(flatten(value, f"{name}.") if value else [(name, {})])
        elif isinstance(value, list) and value and not _scalar_list(value):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    rows.extend(flatten(item, f"{name}[{i}].") if item else [(f"{name}[{i}]", {})])
                else:
                    rows.append((f"{name}[{i}]", item))
        else:
            rows.append((name, value))
    return rows


def grouped(parameters: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """``[(group title, [(field, value)])]``: top-level scalars under ``scenario``; each market, asset
    and feed its own group (``markets.ETH-PERP``); every other table one group. Field names are
    relative to the group; ``group + "." + field`` is the scenario's dotted path."""
    groups: dict[str, list[tuple[str, Any]]] = {"scenario": []}
    for key, value in parameters.items():
        if key in _KEYED and isinstance(value, Mapping) and value:
            for sub, table in value.items():
                title = f"{key}.{sub}"
                if isinstance(table, Mapping):
                    groups[title] = flatten(table) if table else [("", {})]
                else:
                    groups.setdefault(key, []).append((str(sub), table))
        elif isinstance(value, Mapping):
            groups[key] = flatten(value) if value else [("", {})]
        elif isinstance(value, list) and value and not _scalar_list(value):
            groups[key] = flatten({key: value})
        else:
            groups["scenario"].append((key, value))
    return [(title, rows) for title, rows in groups.items() if rows]
