"""The code's shape, enforced in ``make test``: short functions, no import cycle of any kind (ruff: ``C901``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "airflow_provider_quo"
#: Where the function-length rule holds.
CHECKED = [PACKAGE, REPO / "example_dags", REPO / "scripts", REPO / "benchmarks"]
MAX_FUNCTION_LINES = 50


def _literal_lines(statement: ast.stmt) -> int:
    """Lines of a statement that only returns or assigns a data literal (a table): they do not count."""
    value = getattr(statement, "value", None)
    if isinstance(statement, (ast.Return, ast.Assign, ast.AnnAssign)) and isinstance(
        value, (ast.Dict, ast.List, ast.Tuple, ast.Set)
    ):
        return (statement.end_lineno or statement.lineno) - statement.lineno + 1
    return 0


def _code_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return 0
    lines = (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1
    return lines - sum(_literal_lines(statement) for statement in body)


def _python_files(*roots: Path) -> list[Path]:
    return sorted(path for root in roots for path in root.rglob("*.py"))


def test_no_function_is_longer_than_50_lines() -> None:
    long = []
    for path in _python_files(*CHECKED):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(node) > MAX_FUNCTION_LINES:
                long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({_code_lines(node)} lines)")
    assert long == [], f"functions over {MAX_FUNCTION_LINES} lines (docstrings and data literals aside): {long}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(source: str, package: str) -> set[str]:
    """Every module name ``source`` (a module of ``package``) imports, anywhere in it: a function-level import
    and an import under ``if TYPE_CHECKING:`` are edges too (no cycle of any kind, not even one only the type
    checker follows)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules ``path`` imports."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    return {name for name in _imported(path.read_text(), package) if name in modules}


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports."""
    paths = _python_files(PACKAGE)
    modules = {_module_name(path) for path in paths}
    return {_module_name(path): _imports(path, modules) - {_module_name(path)} for path in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as the modules along it), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == 1:
                return [*path[path.index(imported) :], imported]
            if imported not in state and (cycle := visit(imported)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 30, "every module was read"
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"


def test_an_import_under_type_checking_is_an_edge() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from airflow_provider_quo.hooks.quo import QuoHook\n"
        "    from . import api\n"
    )
    assert {"airflow_provider_quo.hooks.quo", "airflow_provider_quo.hooks.api"} <= _imported(
        source, "airflow_provider_quo.hooks"
    )
    graph = import_graph()
    assert "airflow_provider_quo.testing.simulator" in graph["airflow_provider_quo.testing.pytest_plugin"]


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"a"}}, ["a", "a"]),
    ],
)
def test_the_cycle_check_finds_cycles(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert find_cycle(graph) == cycle
