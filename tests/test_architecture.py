"""The code's shape (docs/architecture.md): no import cycle among auditor's modules, no module
over 400 lines, no function body over 80, no line over 100 characters, and the terminal
libraries only where they belong.

Every import counts: at module level, inside functions and under TYPE_CHECKING; ``from pkg
import name`` is an edge to the submodule ``name`` where one exists, else to the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "auditor"
MAX_MODULE_LINES = 400
MAX_BODY_LINES = 80
TERMINAL = {"typer": ("auditor.cli",), "rich": ("auditor.cli", "auditor.progress")}
MAX_LINE_LENGTH = 100  # pyproject.toml's [tool.ruff] line-length


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = [PACKAGE.name, *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _target(node: ast.ImportFrom, current: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(name: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(the package's modules ``name`` imports, the top-level names of everything it imports)."""
    edges, external = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                external.add(alias.name.split(".")[0])
                target = alias.name
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target:
                    edges.add(target)
        elif isinstance(node, ast.ImportFrom):
            target = _target(node, name, path.name == "__init__.py")
            external.add(target.split(".")[0])
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    edges.add(sub)
                elif target in known:
                    edges.add(target)
    edges.discard(name)
    return edges, external


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module."""
    reach = {}
    for start in graph:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        reach[start] = seen
    components = {frozenset({a} | {b for b in reach[a] if a in reach[b]}) for a in graph}
    return [set(c) for c in components if len(c) > 1]


def test_no_import_cycle():
    found = modules()
    graph = {name: imports(name, path, set(found))[0] for name, path in found.items()}
    assert cycles(graph) == []


def test_no_long_module_or_function():
    long_modules, long_bodies = [], []
    for name, path in modules().items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long_modules.append(f"{path.relative_to(PACKAGE.parent)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                if (len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                        and isinstance(body[0].value.value, str)):
                    body = body[1:]
                lines = body[-1].end_lineno - body[0].lineno + 1
                if lines > MAX_BODY_LINES:
                    long_bodies.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}: {lines}")
    assert long_modules == [] and long_bodies == []


def test_no_line_over_the_line_length():
    long_lines = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE.parent).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if len(line) > MAX_LINE_LENGTH:
                long_lines.append(f"{where}:{number}: {len(line)} characters")
    assert long_lines == []


def test_only_the_cli_and_the_progress_bar_use_the_terminal_libraries():
    found = modules()
    misplaced = []
    for name, path in found.items():
        external = imports(name, path, set(found))[1]
        for library, homes in TERMINAL.items():
            if library in external and not any(name == h or name.startswith(h + ".") for h in homes):
                misplaced.append(f"{name} imports {library}")
    assert misplaced == []


def test_the_check_sees_a_cycle(tmp_path):
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []
