"""The layering rules import-linter cannot see (it knows `sqlalchemy`, not which of its names a
module uses), checked on every router and service module, present and to come."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import app

APP_DIR = Path(app.__file__).parent
SESSION_QUERIES = {"execute", "scalars", "scalar", "get", "get_one", "query", "add", "add_all", "delete", "merge"}
# What a service may take from SQLAlchemy: the Session type it is handed, and its exceptions.
SERVICE_SQLALCHEMY_NAMES = {("sqlalchemy.orm", "Session")}
SERVICE_SQLALCHEMY_MODULES = {"sqlalchemy.exc"}
# moved by the registry/ops parts: remove these once their SQL lives in repositories.
KNOWN_SERVICE_SQL: set[tuple[str, str]] = set()


def modules(name: str) -> list[Path]:
    return sorted(APP_DIR.rglob(name))


def relative(path: Path) -> str:
    return path.relative_to(APP_DIR).as_posix()


def session_queries(tree: ast.AST) -> Iterator[str]:
    """`session.execute(...)` and the like: a query written outside a repository."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "session"
            and node.func.attr in SESSION_QUERIES
        ):
            yield node.func.attr


def sqlalchemy_imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            module = node.module or ""
            if module in SERVICE_SQLALCHEMY_MODULES:
                continue
            for alias in node.names:
                if (module, alias.name) not in SERVICE_SQLALCHEMY_NAMES:
                    yield f"{module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.split(".")[0] == "sqlalchemy")


def test_the_checks_see_the_domains() -> None:
    assert {relative(p) for p in modules("router.py")} >= {"jobs/router.py", "ops/router.py", "tracking/router.py"}
    assert {relative(p) for p in modules("service.py")} >= {"registry/service.py", "jobs/service.py"}


@pytest.mark.parametrize("path", modules("service.py"), ids=relative)
def test_services_leave_sql_to_repositories(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = {(relative(path), name) for name in [*session_queries(tree), *sqlalchemy_imports(tree)]}
    assert found == KNOWN_SERVICE_SQL, f"SQL in a service, move it to its repository: {sorted(found)}"


@pytest.mark.parametrize("path", modules("router.py"), ids=relative)
def test_routers_take_app_state_through_dependencies(path: Path) -> None:
    """A router that reads `request.app.state` hides what it needs; app.deps names it instead."""
    tree = ast.parse(path.read_text(), filename=str(path))
    reads = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "state"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "app"
    ]
    assert not reads, f"{relative(path)} reads app.state on lines {reads}; add a dependency to app/deps.py"
