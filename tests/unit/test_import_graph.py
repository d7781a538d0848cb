"""Imports flow one way: contract <- simulators <- reference_app <- conformance, loadtests <- command line.

Every import statement counts, also the ones inside functions (a lazy import is still an arrow). The test
reads the source with ``ast``, so it needs no package to be importable and catches an arrow before it runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

#: Each package and the project packages it may import (besides itself). Nothing may import sse_harness.
ALLOWED: dict[str, frozenset[str]] = {
    "sse_contract": frozenset(),
    "sse_client": frozenset({"sse_contract"}),
    "simulators": frozenset({"sse_contract", "sse_client"}),
    "reference_app": frozenset({"sse_contract", "sse_client", "simulators"}),
    "conformance": frozenset({"sse_contract", "sse_client", "simulators", "reference_app"}),
    "loadtests": frozenset({"sse_contract", "sse_client", "simulators", "reference_app"}),
    "sse_harness": frozenset({"sse_contract", "sse_client", "simulators", "reference_app", "conformance",
                              "loadtests"}),
}


def imported_packages(source: str) -> set[str]:
    """Top-level project packages named by any import in ``source``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


def import_graph(root: Path) -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the files with that arrow."""
    graph: dict[str, dict[str, list[str]]] = {}
    for package in ALLOWED:
        for path in sorted((root / package).rglob("*.py")):
            for target in imported_packages(path.read_text(encoding="utf-8")) - {package}:
                graph.setdefault(package, {}).setdefault(target, []).append(str(path.relative_to(root)))
    return graph


def wrong_way(graph: dict[str, dict[str, list[str]]]) -> list[str]:
    return [
        f"{package} -> {target} ({', '.join(files)})"
        for package, targets in graph.items()
        for target, files in targets.items()
        if target not in ALLOWED[package]
    ]


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in graph.get(node, {}):
            if nxt in path:
                found.append([*path[path.index(nxt):], nxt])
            else:
                visit(nxt, [*path, nxt])

    for start in graph:
        visit(start, [start])
    return found


def test_imports_flow_one_way() -> None:
    graph = import_graph(ROOT)
    assert wrong_way(graph) == []
    assert cycles(graph) == []


def test_nothing_imports_the_command_line() -> None:
    graph = import_graph(ROOT)
    assert [p for p, targets in graph.items() if "sse_harness" in targets] == []


def test_the_checker_catches_a_wrong_way_import(tmp_path: Path) -> None:
    """The same graph, with one upward arrow added, fails: the test is not vacuous."""
    for package in ALLOWED:
        (tmp_path / package).mkdir()
    (tmp_path / "sse_contract" / "wire.py").write_text("def f():\n    from reference_app.app import create_app\n")
    (tmp_path / "simulators" / "a.py").write_text("import sse_contract.wire\n")
    graph = import_graph(tmp_path)
    assert wrong_way(graph) == ["sse_contract -> reference_app (sse_contract/wire.py)"]
    (tmp_path / "reference_app" / "b.py").write_text("from sse_contract import wire\n")
    assert cycles(import_graph(tmp_path)) != []


def test_every_project_package_is_layered() -> None:
    """A new top-level package must take its place in ALLOWED, or its imports go unchecked."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - set(ALLOWED) <= {"tests", "e2e"}


def test_the_reader_package_needs_only_httpx_and_the_contract() -> None:
    """``sse_client`` is copied along with the app and used by every Python client: no other dependency."""
    import sys

    names: set[str] = set()
    for path in (ROOT / "sse_client").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    assert names - set(sys.stdlib_module_names) - {"__future__"} <= {"httpx", "sse_contract", "sse_client"}
