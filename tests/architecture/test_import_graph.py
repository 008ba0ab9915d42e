"""The code's layers: every module imports, no import cycles, no oversized modules.

The graph is read from the source with `ast`, so it holds every import a module
can run: top-level ones, those inside functions (lazy imports) and those under
`TYPE_CHECKING`. An edge goes to the module a statement names; importing a
package's `__init__` counts as an edge to it, because running that `__init__`
imports what it re-exports. The implicit import of parent packages does not
count, as in every import linter: it happens for any submodule and says nothing
about the design.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Each group must be free of cycles on its own and together.
PACKAGES = ("custom_components/tasmota_tls", "tasmota_tls_tool", "virtual_tasmota")
INTEGRATION = REPO / "custom_components/tasmota_tls"
MAX_LINES = 400
# The Home-Assistant-free core the CLI and the simulator share with the integration.
CORE_PACKAGES = ("custom_components.tasmota_tls.pki", "custom_components.tasmota_tls.broker")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The project modules one import statement runs."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names if alias.name in MODULES)
        return
    if node.level:
        is_package = MODULES[module].name == "__init__.py"
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        named = ".".join([*base, node.module] if node.module else base)
    else:
        named = node.module or ""
    for alias in node.names:
        submodule = f"{named}.{alias.name}"
        if submodule in MODULES:
            yield submodule
        elif named in MODULES:
            yield named


def import_graph() -> dict[str, set[str]]:
    """Module name -> the project modules it imports."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(_targets(module, node))
        edges.discard(module)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start, edges in graph.items():
        if start in index:
            continue
        work = [(start, iter(sorted(edges)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
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


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module: str) -> None:
    """Each module imports on its own, in a process where others may not have run."""
    importlib.import_module(module)


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_cycle_finder_finds_cycles() -> None:
    """The checker itself can fail: a two-module and a three-module loop are found."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert sorted(cycles(graph)) == [["a", "b"], ["c", "d", "e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_pki_core_imports_nothing_from_home_assistant() -> None:
    graph_sources = [
        path
        for module, path in MODULES.items()
        if any(module == core or module.startswith(f"{core}.") for core in CORE_PACKAGES)
    ]
    offenders = [
        str(path.relative_to(REPO))
        for path in graph_sources
        if any(
            isinstance(node, (ast.Import, ast.ImportFrom))
            and any(
                name.startswith("homeassistant")
                for name in (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
            )
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert not offenders


def test_no_integration_module_over_the_limit() -> None:
    too_long = {
        str(path.relative_to(REPO)): lines
        for path in INTEGRATION.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"
