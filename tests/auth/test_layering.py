"""clearhouse.auth stays a leaf: it may use only the ledger's errors, fixed point and command types (so the
engine can import it without a cycle), and nothing in it reads a clock."""

from __future__ import annotations

import ast
from pathlib import Path

import clearhouse.auth

ALLOWED = {"clearhouse.ledger.errors", "clearhouse.ledger.fixedpoint", "clearhouse.ledger.commands"}
PACKAGE = Path(clearhouse.auth.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            mod = node.module
            names.add(mod if mod != "clearhouse.ledger" else f"clearhouse.ledger.{node.names[0].name}")
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_auth_imports_only_the_allowed_ledger_modules_and_no_clock() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) >= 10
    for path in files:
        for mod in _imports(path):
            if mod.startswith("clearhouse.") and not mod.startswith("clearhouse.auth"):
                assert mod in ALLOWED, f"{path.name} imports {mod}"
            assert mod not in {"time", "datetime", "random", "socket"}, f"{path.name} imports {mod}"
