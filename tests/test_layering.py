"""The package's layers and the absence of import cycles, read from the source with ``ast``.

Every import counts: top-level, inside functions (lazy) and under ``TYPE_CHECKING``. Importing
``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``, so those packages count as imported too (except
the importer's own parents, which Python has always finished loading first).

Layers:

* ``citytally.transport`` (how events travel) reaches only ``events``, ``errors`` and ``salvage``;
* the leaves (``events``, ``errors``, ``arrays``, ``redaction``, ``sumo``, ``salvage``,
  ``hub.db_metadata``) reach nothing else;
* ``citytally.edge`` never reaches the hub or the signals package;
* ``citytally.signals`` never reaches the hub or the edge;
* no module imports itself through others (no cycles).
"""

from __future__ import annotations

import ast
from collections.abc import Container, Iterable
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

Graph = dict[str, set[str]]


def _modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, is a package) for every ``.py`` file under ``root``."""
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def _imported(node: ast.AST, module: str, package: bool, modules: Container[str]) -> Iterable[str]:
    """The dotted names one import statement loads: ``from a import b`` loads the module ``a.b`` if there is
    one, else reads the name ``b`` from ``a``."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: resolved against the importing module's package
            parts = module.split(".") if package else module.split(".")[:-1]
            parts = parts[: len(parts) - node.level + 1]
            base = ".".join([*parts, base] if base else parts)
        for alias in node.names:
            yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(root: Path, top: str) -> Graph:
    """Module → the modules of package ``top`` that importing it runs (see the module docstring)."""
    modules = _modules(root)
    graph: Graph = {}
    for module, (path, package) in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for name in _imported(node, module, package, modules):
                if name == top or name.startswith(top + "."):
                    while name not in modules:  # ``from a import b`` where b is a name, not a module
                        name = name.rpartition(".")[0]
                    targets.add(name)
        own = set(_parents(module))
        targets |= {parent for target in targets for parent in _parents(target) if parent not in own}
        targets.discard(module)
        graph[module] = targets
    return graph


def reachable(graph: Graph, start: str) -> set[str]:
    """Every module importing ``start`` runs, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


GRAPH = import_graph(SRC, "citytally")


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


@pytest.mark.parametrize(
    ("layer", "may_reach"),
    [
        (
            "citytally.transport",
            ("citytally.transport", "citytally.events", "citytally.errors", "citytally.salvage"),
        ),
        # leaves everything may import without pulling in a layer
        ("citytally.events", ("citytally.events", "citytally.errors")),
        ("citytally.errors", ("citytally.errors",)),
        ("citytally.arrays", ("citytally.arrays",)),
        ("citytally.redaction", ("citytally.redaction",)),
        ("citytally.sumo", ("citytally.sumo", "citytally.errors")),
        ("citytally.salvage", ("citytally.salvage", "citytally.errors")),
        ("citytally.hub.db_metadata", ("citytally.hub.db_metadata",)),
    ],
)
def test_a_layer_reaches_only_what_it_may(layer: str, may_reach: tuple[str, ...]) -> None:
    members = [m for m in GRAPH if _in(m, layer)]
    assert members, f"no modules in {layer}"
    # ``citytally`` itself (its __init__) runs before any of its modules, whoever imports them
    reached = {m: reachable(GRAPH, m) - {"citytally"} for m in members}
    bad = {m: sorted(t for t in found if not _in(t, *may_reach)) for m, found in reached.items()}
    assert not {m: t for m, t in bad.items() if t}, f"{layer} reaches beyond {may_reach}"


@pytest.mark.parametrize(
    ("layer", "never"),
    [
        ("citytally.edge", ("citytally.hub", "citytally.signals")),
        ("citytally.signals", ("citytally.hub", "citytally.edge")),
    ],
)
def test_a_layer_never_reaches_the_forbidden(layer: str, never: tuple[str, ...]) -> None:
    members = [m for m in GRAPH if _in(m, layer)]
    assert members, f"no modules in {layer}"
    bad = {m: sorted(t for t in reachable(GRAPH, m) if _in(t, *never)) for m in members}
    assert not {m: t for m, t in bad.items() if t}, f"{layer} reaches {never}"


def test_no_import_cycles() -> None:
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n".join(
        "  " + ", ".join(f"{m} -> {sorted(GRAPH[m] & set(group))}" for m in group) for group in found
    )


def test_the_graph_sees_lazy_and_package_imports() -> None:
    """The walker itself, on the real tree: a function-level import and a package's ``__init__`` count."""
    assert "citytally.transport.publisher" in GRAPH["citytally.edge.pipeline"]
    assert "citytally.hub.web" in GRAPH["citytally.hub.dashboard.server"], "imported inside serve()"
    assert "citytally.hub.store" in GRAPH["citytally.hub.cli"], "from citytally.hub.store import ..."


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # a lazy import closes a cycle
        (
            {"p/__init__.py": "", "p/a.py": "from p import b\n", "p/b.py": "def f():\n    from p.a import x"},
            [["p.a", "p.b"]],
        ),
        # importing p.sub.c runs p/sub/__init__, which imports p.a back
        (
            {
                "p/__init__.py": "",
                "p/a.py": "import p.sub.c\n",
                "p/sub/__init__.py": "from p.a import thing\n",
                "p/sub/c.py": "",
            },
            [["p.a", "p.sub"]],
        ),
        # relative imports resolve; a module importing its own package's sibling is no cycle
        ({"p/__init__.py": "from .a import x\n", "p/a.py": "from . import b\n", "p/b.py": ""}, []),
        # a TYPE_CHECKING-only import still counts
        (
            {
                "p/__init__.py": "",
                "p/a.py": "from p.b import y\n",
                "p/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.a import z\n",
            },
            [["p.a", "p.b"]],
        ),
    ],
)
def test_cycles_are_found_and_only_cycles(
    tmp_path: Path, files: dict[str, str], expected: list[list[str]]
) -> None:
    graph = import_graph(_package(tmp_path, files), "p")
    assert cycles(graph) == expected
