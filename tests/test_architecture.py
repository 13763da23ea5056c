"""The house's shape: lotf's modules import one another without a circle, and no stage module
imports another stage (they meet through the run directory and the registry)."""

import ast
from pathlib import Path

import lotf

ROOT = Path(lotf.__file__).parent


def _imports() -> dict[str, set[str]]:
    """Each lotf module and the lotf modules it imports (anywhere in it, but for imports under
    `if TYPE_CHECKING:`, which never run)."""
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = {id(node) for branch in ast.walk(tree)
                if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
                for node in ast.walk(branch)}
        targets = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_circle():
    graph = _imports()
    assert len(graph) > 50 and graph["lotf.schema"] >= {"lotf.config", "lotf.crosscheck"}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_stage_imports_another_and_the_core_config_imports_no_stage():
    graph = _imports()
    stages = {name for name in graph if name.startswith("lotf.stages.")} - {
        "lotf.stages.registry"}
    assert len(stages) >= 10
    for stage in stages:
        assert not graph[stage] & stages, f"{stage} imports {graph[stage] & stages}"
    assert not any(target.startswith("lotf.stages") for target in graph["lotf.config"])
