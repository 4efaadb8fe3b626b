"""The house rules (DESIGN.md, "Layout"), checked on the source: each test reads the modules' syntax
trees, imports inside functions included, and names every module that breaks its rule.

- the domain (emergency/, except the entry points cli.py and __main__.py) never imports Streamlit or
  the dashboard;
- pages and dashboard modules never open a database session, never import SQLAlchemy, and take from
  emergency.core.models only enums and constants, never a mapped class;
- no import circles among the modules of emergency/, dashboard/ and bench/;
- the domain reads neither the environment nor the settings (`load_settings()`) except in the
  configuration entry, emergency/core/config.py; the application layer (emergency/app/) counts as
  domain here: entry points read the configuration and pass what it needs in;
- no module in emergency/ is over 900 lines.
"""

from __future__ import annotations

import ast
import enum
import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_ENTRY_POINTS = {"emergency/cli.py", "emergency/__main__.py"}
CONFIGURATION_ENTRY = "emergency/core/config.py"
MAX_MODULE_LINES = 900
GRAPH_PACKAGES = ("emergency", "dashboard", "bench")


@dataclass(frozen=True)
class Import:
    """One import statement, resolved to absolute module names."""

    line: int
    module: str  # `import a.b` -> a.b; `from a.b import c` -> a.b
    names: tuple[str, ...]  # what a `from` import takes; () for `import a.b`
    type_only: bool  # under `if TYPE_CHECKING:`: never runs


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def syntax(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path) -> Iterator[Import]:
    """Every import in a module, at any depth (functions, classes, try blocks)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]

    def walk(node: ast.AST, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(child.lineno, alias.name, (), type_only)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                yield Import(child.lineno, base, tuple(alias.name for alias in child.names), type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for part in child.body:
                    yield from walk(ast.Module(body=[part], type_ignores=[]), True)
                for part in child.orelse:
                    yield from walk(ast.Module(body=[part], type_ignores=[]), type_only)
            else:
                yield from walk(child, type_only)

    yield from walk(syntax(path), False)


def starts(module: str, *prefixes: str) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def domain_files() -> list[Path]:
    return [path for path in python_files("emergency") if relative(path) not in DOMAIN_ENTRY_POINTS]


def report(broken: Iterable[str]) -> str:
    return "\n".join(sorted(broken))


# --- (a) the domain never imports Streamlit or the dashboard ---------------------------------------


def test_the_domain_never_imports_streamlit_or_the_dashboard() -> None:
    broken = [
        f"{relative(path)}:{found.line} imports {found.module}"
        for path in domain_files()
        for found in imports(path)
        if starts(found.module, "streamlit", "dashboard")
        or (found.module == "" and {"streamlit", "dashboard"} & set(found.names))
    ]
    assert not broken, "the domain imports Streamlit or the dashboard:\n" + report(broken)


# --- (b) pages and the dashboard hold no session and no ORM object -------------------------------


def _opens_a_session(node: ast.AST) -> TypeGuard[ast.With | ast.AsyncWith]:
    """`with <anything>.read()` / `.write()`: how a Database hands out a session (a file's `.read()`
    is a plain call, never a context manager)."""
    if not isinstance(node, ast.With | ast.AsyncWith):
        return False
    return any(
        isinstance(item.context_expr, ast.Call)
        and isinstance(item.context_expr.func, ast.Attribute)
        and item.context_expr.func.attr in ("read", "write")
        for item in node.items
    )


def mapped_classes_among(names: Iterable[str]) -> list[str]:
    """The names, among those emergency.core.models defines, that are classes other than enums: the
    mapped classes (and Base), whose objects are rows of a session."""
    models = importlib.import_module("emergency.core.models")
    mapped = []
    for name in names:
        value = getattr(models, name)
        if isinstance(value, type) and not issubclass(value, enum.Enum):
            mapped.append(name)
    return mapped


def storage_uses(path: Path) -> Iterator[str]:
    for found in imports(path):
        if starts(found.module, "sqlalchemy"):
            yield f"{relative(path)}:{found.line} imports {found.module}"
        elif found.module == "emergency.core.models":
            if not found.names:
                yield f"{relative(path)}:{found.line} imports the whole of emergency.core.models"
            for name in mapped_classes_among(found.names):
                yield f"{relative(path)}:{found.line} imports the mapped class {name}"
        elif found.module == "emergency.core" and "models" in found.names:
            yield f"{relative(path)}:{found.line} imports the whole of emergency.core.models"
    for node in ast.walk(syntax(path)):
        if _opens_a_session(node):
            yield f"{relative(path)}:{node.lineno} opens a database session"


def test_pages_and_the_dashboard_hold_no_session_and_no_orm_object() -> None:
    broken = [use for path in python_files("pages", "dashboard") for use in storage_uses(path)]
    assert not broken, "pages/dashboard reach the database themselves:\n" + report(broken)


def test_the_storage_check_tells_enums_from_mapped_classes() -> None:
    assert mapped_classes_among(["Role", "OutageState", "ACTIVE_OUTAGE_STATES"]) == []
    assert mapped_classes_among(["Outage", "Role", "Warning"]) == ["Outage", "Warning"]


def test_the_storage_check_sees_a_session_and_not_a_file_read(tmp_path: Path) -> None:
    source = tmp_path / "page.py"
    source.write_text(
        "def draw(db, upload):\n"
        "    data = upload.read()\n"
        "    with db.read() as session:\n"
        "        return session, data\n"
    )
    assert [node.lineno for node in ast.walk(syntax(source)) if _opens_a_session(node)] == [3]


# --- (c) no import circles --------------------------------------------------------------------------


def import_graph(folders: Iterable[str] = GRAPH_PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules of these packages it imports, at any depth; `from a import b` counts as
    importing the module a.b when there is one. Type-only imports never run, so they make no edge."""
    files = {module_name(path): path for path in python_files(*folders)}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for found in imports(path):
            if found.type_only:
                continue
            targets = [f"{found.module}.{item}" for item in found.names if f"{found.module}.{item}" in files]
            if len(targets) < len(found.names) or not found.names:
                targets.append(found.module)
            graph[name].update(target for target in targets if target in files and target != name)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; returns the components of more than one module (the circles), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(circles)


def test_there_are_no_import_circles() -> None:
    circles = strongly_connected(import_graph())
    assert not circles, "import circles (function-level imports included):\n" + report(
        " <-> ".join(circle) for circle in circles
    )


def test_the_circle_finder_finds_a_circle_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_counts_function_level_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("def f():\n    from pkg import two\n    return two\n")
    (package / "two.py").write_text("from pkg.one import f\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert strongly_connected(import_graph(["pkg"])) == [["pkg.one", "pkg.two"]]


# --- (d) the domain reads neither the environment nor the settings --------------------------------


def environment_reads(path: Path) -> Iterator[str]:
    for node in ast.walk(syntax(path)):
        where = f"{relative(path)}:{getattr(node, 'lineno', 0)}"
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in ("environ", "getenv", "environb", "putenv")
        ):
            yield f"{where} reads os.{node.attr}"
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in ("environ", "getenv", "environb"):
                    yield f"{where} imports os.{alias.name}"
        elif isinstance(node, ast.Call):
            called = node.func
            name = called.id if isinstance(called, ast.Name) else getattr(called, "attr", None)
            if name == "load_settings":
                yield f"{where} calls load_settings()"


def test_the_domain_reads_neither_the_environment_nor_the_settings() -> None:
    broken = [
        read
        for path in domain_files()
        if relative(path) != CONFIGURATION_ENTRY
        for read in environment_reads(path)
    ]
    assert not broken, "the domain reads the environment (take the value as a parameter):\n" + report(broken)


# --- (e) no module over 900 lines ---------------------------------------------------------------------


def test_no_module_in_emergency_is_over_900_lines() -> None:
    sizes = {
        relative(path): len(path.read_text(encoding="utf-8").splitlines())
        for path in python_files("emergency")
    }
    broken = [f"{path}: {lines} lines" for path, lines in sizes.items() if lines > MAX_MODULE_LINES]
    assert not broken, f"modules over {MAX_MODULE_LINES} lines (cut them by job):\n" + report(broken)


@pytest.mark.parametrize("folder", ["emergency", "dashboard", "bench", "pages"])
def test_every_module_checked_parses(folder: str) -> None:
    assert python_files(folder), f"no Python files under {folder}/: the checks above would pass vacuously"
    for path in python_files(folder):
        syntax(path)
