"""The layout keeps its shape: no import cycle, no upward import, no private name imported across modules.

Every module of ``src/clearhouse`` is parsed (imports at module level, inside functions and under
``TYPE_CHECKING`` all count) and checked against the layers of docs/concepts.md:

    L0 core            L1 oracle, liquidation, options, steward (pure)     L2 ledger (the kernel)
    L3 mechanisms, auth     L4 engine, risk, book, controller     L5 journal, proofs
    L6 lab, demo, cli, node, replication, client (drivers)

A module may import only modules of its own layer or below. The one allow-listed upward edge is the
``clearhouse.ledger.engine`` re-export shim (kept for a release: docs and tests import it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: Mapping[str, int] = {
    "clearhouse": 0,
    "clearhouse.core": 0,
    "clearhouse.oracle": 1,
    "clearhouse.liquidation": 1,
    "clearhouse.options": 1,
    "clearhouse.steward": 1,
    "clearhouse.ledger": 2,
    "clearhouse.mechanisms": 3,
    "clearhouse.auth": 3,
    "clearhouse.engine": 4,
    "clearhouse.risk": 4,
    "clearhouse.book": 4,
    "clearhouse.controller": 4,
    "clearhouse.journal": 5,
    "clearhouse.proofs": 5,
    "clearhouse.lab": 6,
    "clearhouse.demo": 6,
    "clearhouse.cli": 6,
    "clearhouse.node": 6,
    "clearhouse.replication": 6,
    "clearhouse.client": 6,
}
#: (importer, imported) edges allowed to point upward.
ALLOWED_UPWARD = frozenset({("clearhouse.ledger.engine", "clearhouse.engine.engine")})


def modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root/package``."""
    out: dict[str, Path] = {}
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: Mapping[str, Path]) -> Iterator[tuple[str, str, int]]:
    """``(imported module, imported name or "", line)`` for every import in the file."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                yield (sub, "", node.lineno) if sub in known else (module, alias.name, node.lineno)


def layer(module: str) -> int | None:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        found = LAYERS.get(".".join(parts[:i]))
        if found is not None:
            return found
    return None


def graph(root: Path, package: str) -> tuple[dict[str, set[str]], list[str], list[str]]:
    """The module import graph, the upward imports and the private-name imports found."""
    known = modules(root, package)
    edges: dict[str, set[str]] = {m: set() for m in known}
    upward: list[str] = []
    private: list[str] = []
    for name, path in known.items():
        for module, imported, line in imports(name, path, known):
            if module not in known:
                continue
            if module != name:
                edges[name].add(module)
            low, high = layer(name), layer(module)
            if low is not None and high is not None and high > low and (name, module) not in ALLOWED_UPWARD:
                upward.append(f"{path}:{line}: {name} (L{low}) imports {module} (L{high})")
            if imported.startswith("_") and not imported.startswith("__") and module != name:
                private.append(f"{path}:{line}: {name} imports private {module}.{imported}")
    return edges, upward, private


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in modules(SRC, "clearhouse") if layer(m) is None]
    assert not unplaced


def test_no_import_cycle() -> None:
    edges, _, _ = graph(SRC, "clearhouse")
    assert cycles(edges) == []


def test_no_upward_import() -> None:
    _, upward, _ = graph(SRC, "clearhouse")
    assert upward == []


def test_no_private_name_imported_across_modules() -> None:
    _, _, private = graph(SRC, "clearhouse")
    assert private == []


def engine_privates() -> set[str]:
    """Private attributes and methods of ``Engine`` (from its class body and ``self._x = ...``)."""
    tree = ast.parse((SRC / "clearhouse/engine/engine.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Engine")
    names = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    names |= {n.attr for n in ast.walk(cls) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
              and n.value.id == "self"}  # fmt: skip
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_nothing_outside_the_engine_reads_an_engine_private() -> None:
    privates = engine_privates()
    assert {"_hasher", "_unscanned", "_prev_hash", "_enforce"} <= privates
    root = SRC.parent
    found = []
    files = [*SRC.rglob("*.py"), *(root / "tests").rglob("*.py"), *(root / "benchmarks").rglob("*.py")]
    for path in sorted(files):
        if path.is_relative_to(SRC / "clearhouse/engine") or path == Path(__file__).resolve():
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in privates:
                found.append(f"{path}:{node.lineno}: .{node.attr}")
    assert found == []


# -- the checks catch what they should ----------------------------------------------------------------


def plant(tmp_path: Path, files: Mapping[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_planted_cycle_is_detected(tmp_path: Path) -> None:
    root = plant(tmp_path, {
        "clearhouse/__init__.py": "",
        "clearhouse/core/__init__.py": "",
        "clearhouse/core/a.py": "from clearhouse.core import b\n",
        "clearhouse/core/b.py": "def f() -> None:\n    from clearhouse.core.c import g\n",
        "clearhouse/core/c.py": "from clearhouse.core.a import x\n",
        "clearhouse/core/d.py": "import clearhouse.core.a\n",
    })  # fmt: skip
    edges, _, _ = graph(root, "clearhouse")
    assert cycles(edges) == [["clearhouse.core.a", "clearhouse.core.b", "clearhouse.core.c"]]


@pytest.mark.parametrize("source", ["from clearhouse.engine.x import run\n", "import clearhouse.engine.x\n",
                                    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                    "    from clearhouse.engine import x\n"])  # fmt: skip
def test_a_planted_upward_import_is_detected(tmp_path: Path, source: str) -> None:
    root = plant(tmp_path, {
        "clearhouse/__init__.py": "",
        "clearhouse/engine/__init__.py": "",
        "clearhouse/engine/x.py": "def run() -> None: ...\n",
        "clearhouse/ledger/__init__.py": "",
        "clearhouse/ledger/y.py": source,
    })  # fmt: skip
    _, upward, _ = graph(root, "clearhouse")
    assert len(upward) == 1 and "clearhouse.ledger.y (L2) imports clearhouse.engine.x (L4)" in upward[0]


def test_a_planted_private_import_is_detected(tmp_path: Path) -> None:
    root = plant(tmp_path, {
        "clearhouse/__init__.py": "",
        "clearhouse/ledger/__init__.py": "",
        "clearhouse/ledger/x.py": "def _helper() -> None: ...\n",
        "clearhouse/ledger/y.py": "from clearhouse.ledger.x import _helper\nfrom .x import _helper as h\n",
    })  # fmt: skip
    _, _, private = graph(root, "clearhouse")
    assert len(private) == 2 and all("private clearhouse.ledger.x._helper" in p for p in private)
