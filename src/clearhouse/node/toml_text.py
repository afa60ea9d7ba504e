"""TOML text for the value types node.toml holds (the standard library reads TOML, it does not write it)."""

from __future__ import annotations


def toml_value(value: object) -> str:
    """A bool, string, number or list of them as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)
