"""The package layout of DESIGN.md: dependencies run one way and there are no import cycles.

cli -> runner -> {gym, train, generate, evaluators, leaderboards} -> {methods, models, data}. The
gym sits above the machinery it uses and nothing below it imports it; objectives never import the
trainer; evaluators never import objectives.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import bench

ROOT = Path(bench.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bench"):
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name.startswith("bench"))
        graph[name] = targets
    modules = set(graph)
    return {name: {t for t in targets if t in modules and t != name} for name, targets in graph.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


FORBIDDEN = {
    "methods": {"train", "runner", "gym", "evaluators", "generate", "leaderboards", "cli", "config"},
    "evaluators": {"methods", "train", "runner", "gym", "cli"},
    "models": {"methods", "train", "runner", "gym", "evaluators", "generate", "cli", "config"},
    "data": {"methods", "train", "runner", "gym", "evaluators", "generate", "models", "cli", "config"},
    "train": {"runner", "gym", "evaluators", "generate", "leaderboards", "cli", "config"},
    "generate": {"runner", "gym", "train", "evaluators", "methods", "cli", "config"},
    "leaderboards": {"runner", "gym", "train", "methods", "cli"},
    "gym": {"runner", "cli", "config"},
}


def test_dependencies_run_one_way():
    violations = []
    for module, targets in _imports().items():
        for target in targets:
            package, target_package = _package(module), _package(target)
            if package != target_package and target_package in FORBIDDEN.get(package, set()):
                violations.append(f"{module} imports {target}")
    assert violations == []


def test_no_import_cycles():
    graph = _imports()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in graph[node]:
            if state.get(target) == 1:
                cycles.append([*path[path.index(target):], target] if target in path else [node, target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # a package __init__ importing its own submodules to register them is not a cycle of logic
    real = [c for c in cycles if not any(a.startswith(b + ".") or b.startswith(a + ".")
                                         for a, b in itertools.pairwise(c))]
    assert real == []
