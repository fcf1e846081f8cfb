"""The package's import layering, checked: every import points downward and no modules import
each other in a cycle (the README's "Layout" states the layers)."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "signavatar"

# lower numbers are lower layers; a module may import its own layer or any layer below
LAYERS: dict[str, int] = {
    "storage": 0, "config": 0, "commands": 0, "devices": 0, "seeding": 0, "cluster": 0,
    "body": 1, "motion": 1,
    "data": 2, "model": 2,
    "client": 3, "extraction": 3, "training": 3, "rendering": 3, "avatar": 3, "judge": 3,
    "evaluation": 4, "tuning": 4, "serving": 4,
    "cli": 5,
}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports(root: Path = PACKAGE) -> dict[str, set[str]]:
    """``{module: {signavatar modules it imports}}`` for every module under ``root`` (lazy imports
    inside functions included)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
                imported.update(f"{node.module}.{a.name}" for a in node.names)
        graph[name] = {m for m in imported if m.startswith("signavatar.")}
    modules = set(graph)
    # "from signavatar.x import name": keep the module, drop names that are not modules
    return {name: {m for m in targets if m in modules} - {name} for name, targets in graph.items()}


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in LAYERS:
        raise KeyError(f"{module}: no layer for 'signavatar.{parts[1] if len(parts) > 1 else ''}' in LAYERS")
    return LAYERS[parts[1]]


def upward_imports(graph: Mapping[str, set[str]]) -> list[str]:
    return sorted(f"{m} -> {t}" for m, targets in graph.items() if m != "signavatar"
                  for t in targets if layer(t) > layer(m))


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_import_points_downward_and_no_module_cycle():
    graph = package_imports()
    assert len(graph) > 50
    assert upward_imports(graph) == []
    assert cycles(graph) == []


def test_every_package_has_a_layer():
    for module in package_imports():
        if module != "signavatar":
            layer(module)


def test_the_check_fails_on_an_upward_import_and_on_a_cycle(tmp_path):
    """The checker itself: a model module importing training, and two modules importing each other."""
    root = tmp_path / "signavatar"
    (root / "model").mkdir(parents=True)
    (root / "training").mkdir()
    for init in (root / "__init__.py", root / "model" / "__init__.py", root / "training" / "__init__.py"):
        init.write_text("")
    (root / "model" / "a.py").write_text("from signavatar.training.b import f\n")
    (root / "training" / "b.py").write_text("import signavatar.training.c\n")
    (root / "training" / "c.py").write_text("def g():\n    from signavatar.training import b\n")
    graph = package_imports(root)
    assert upward_imports(graph) == ["signavatar.model.a -> signavatar.training.b"]
    assert cycles(graph) == [["signavatar.training.b", "signavatar.training.c"]]
    with pytest.raises(KeyError, match="no layer"):
        layer("signavatar.unknown.x")
