"""Every third-party module the package imports at run time is a declared dependency."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    """The distributions named in ``[project].dependencies``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = set()
    for spec in project["dependencies"]:
        match = re.match(r"[A-Za-z0-9._-]+", spec)
        assert match is not None, spec
        found.add(_normal(match.group()))
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(node: ast.AST) -> Iterator[str]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield from _runtime_imports(other)
            continue
        if isinstance(child, ast.Import):
            yield from (alias.name.split(".")[0] for alias in child.names)
        elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
            yield child.module.split(".")[0]
        yield from _runtime_imports(child)


def third_party_imports() -> set[str]:
    """Top-level modules imported at run time by ``src/flychat``, outside the stdlib."""
    modules = set()
    for path in (ROOT / "src" / "flychat").rglob("*.py"):
        modules.update(_runtime_imports(ast.parse(path.read_text(), str(path))))
    return modules - set(sys.stdlib_module_names) - {"flychat", "__future__"}


def test_every_imported_distribution_is_declared() -> None:
    owners = packages_distributions()
    wanted = declared()
    undeclared = {
        module: owners.get(module, ["(not installed)"])
        for module in third_party_imports()
        if not {_normal(d) for d in owners.get(module, [])} & wanted
    }
    assert undeclared == {}


def test_the_scan_sees_the_imports_it_must() -> None:
    assert {"litestar", "sqlalchemy", "alembic", "jwt", "httpx"} <= third_party_imports()
    assert "mypy_boto3_dynamodb" not in third_party_imports()
