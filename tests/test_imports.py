"""Every `reasoning_core` module imports, and no import points back up: the graph of imports between
the engine's modules (deferred imports inside functions included) has no cycle."""
from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import networkx as nx
import pytest

import reasoning_core


def modules() -> dict[str, Path]:
    """Every module and package of reasoning_core, by dotted name, with its source file."""
    found = {reasoning_core.__name__: Path(reasoning_core.__file__)}
    for info in pkgutil.walk_packages(reasoning_core.__path__, prefix="reasoning_core."):
        spec = importlib.util.find_spec(info.name)
        found[info.name] = Path(spec.origin)
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The reasoning_core modules that `name` imports anywhere in its source (functions included);
    `from P import x` counts as importing P.x when that is a module, else P."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` where only a.b is ours
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_graph() -> nx.DiGraph:
    found = modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(found)
    for name, path in found.items():
        graph.add_edges_from((name, target) for target in imported(name, path, set(found)))
    return graph


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_imports(name):
    importlib.import_module(name)


def test_imports_point_down():
    graph = import_graph()
    cycles = [" -> ".join(c + [c[0]]) for c in sorted(nx.simple_cycles(graph))]
    assert not cycles, "import cycles among reasoning_core modules:\n" + "\n".join(cycles)


def test_the_graph_sees_deferred_and_relative_imports():
    """The graph would miss cycles if it read only top-level or absolute imports."""
    graph = import_graph()
    assert graph.has_edge("reasoning_core.backends", "reasoning_core.backends.transformers_lm")  # in a function
    assert graph.has_edge("reasoning_core.rewards.step_format", "reasoning_core.checkpoints")  # relative, level 2
    assert graph.has_edge("reasoning_core.tasks", "reasoning_core.tasks.arith")  # from . import arith


def test_no_strategy_module_imports_another():
    """Strategies share only search/base.py (and puct.py, the MCTS machinery): each reads on its own."""
    from reasoning_core.search import STRATEGIES

    graph = import_graph()
    names = {f"reasoning_core.search.{name}" for name in STRATEGIES}
    crossing = [(a, b) for a in names for b in graph.successors(a) if b in names]
    assert not crossing, crossing
