"""The engine's stages import one way (engine/__init__.py): interfaces -> audit -> coding ->
rulelang -> reading -> result, all on terminology, which imports none of them; no circles."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"engine": "medcode.engine", "terminology": "medcode.terminology"}
# A stage may import its own modules and those of the stages below it (a lower rank).
RANKS = {
    "medcode.terminology": 0,
    "medcode.engine.result": 1,
    "medcode.engine.reading": 2,
    "medcode.engine.rulelang": 3,
    "medcode.engine.coding": 4,
    "medcode.engine.audit": 5,
    "medcode.engine.interfaces": 6,
    "medcode.engine.coder": 6,  # the former import path of the Coder, re-exported
}


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every medcode module `name` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets.add(base)
            # `from . import commands` imports a module, not a name of the package
            targets |= {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules}
    return {t for t in targets if t in modules and t != name}


def _graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        graph.add_edges_from((name, target) for target in _imports(name, path, modules))
    return graph


def _rank(module: str) -> int | None:
    stage = next((s for s in RANKS if module == s or module.startswith(s + ".")), None)
    return None if stage is None else RANKS[stage]


def test_every_engine_module_belongs_to_a_stage() -> None:
    unplaced = [m for m in _graph() if m != "medcode.engine" and _rank(m) is None]
    assert unplaced == []


def test_no_module_imports_a_stage_above_its_own() -> None:
    upward = [
        f"{source} -> {target}"
        for source, target in _graph().edges
        if source != "medcode.engine" and _rank(target) > _rank(source)
    ]
    assert upward == []


def test_imports_have_no_circles() -> None:
    assert sorted(sorted(cycle) for cycle in nx.simple_cycles(_graph())) == []


def test_the_checker_sees_lazy_and_relative_imports() -> None:
    graph = _graph()
    # cli imports its command modules inside functions, with `from . import ...`
    assert graph.has_edge("medcode.engine.interfaces.cli", "medcode.engine.interfaces.commands")
    # the Coder reaches the reading stage by absolute import, the walk by a relative one
    assert graph.has_edge("medcode.engine.coding.coder", "medcode.engine.reading.mentions")
    assert graph.has_edge("medcode.engine.coding.coder", "medcode.engine.coding.specificity")
    assert _rank("medcode.engine.coding.llm.values") == RANKS["medcode.engine.coding"]
