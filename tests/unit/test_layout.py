"""The house's walls: what `core/` may import, and no import cycle among its modules.

Read from the source (every import statement, at module level or inside a function), so a
lazy import that hides a cycle counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The pure core runs per event in the worker and in replay: no I/O, no Faust, no lab.
FORBIDDEN_IN_CORE = ("sim", "streams", "agents", "sources", "faust", "confluent_kafka", "aiokafka", "redis")


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            # `from core import labels` imports the module core.labels
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def core_graph() -> dict[str, set[str]]:
    modules = {f"core.{p.stem}": p for p in (ROOT / "core").glob("*.py") if p.stem != "__init__"}
    return {name: {m for m in imports_of(path) if m in modules} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for nxt in sorted(graph[node]):
            cycle = visit(nxt, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_core_imports_nothing_from_the_lab_the_drivers_or_io():
    bad = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "core").glob("*.py")
        for name in imports_of(path)
        if name.split(".")[0] in FORBIDDEN_IN_CORE
    }
    assert not bad


def test_no_import_cycle_among_core_modules():
    graph = core_graph()
    assert {"core.processing", "core.engine", "core.admission"} <= graph.keys()
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
