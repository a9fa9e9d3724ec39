"""The package declares what it imports, and nothing else."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "qa", "indexer", "web")
# Declared, needed at run time, and never imported by name.
NOT_IMPORTED = {"jinja2": "FastAPI's Jinja2Templates imports it for the chat page"}


def _name(requirement: str) -> str:
    """``"uvicorn[standard]>=0.30"`` -> ``"uvicorn"`` (normalised as PyPI does)."""
    bare = re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", bare).lower()


def _imported_modules() -> set[str]:
    modules: set[str] = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - set(PACKAGES) - {"__future__"}


def test_dependencies_are_what_the_code_imports() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_name(r) for r in project["dependencies"]}
    owners = importlib.metadata.packages_distributions()
    imported: set[str] = set()
    for module in _imported_modules():
        assert module in owners, f"{module} is imported but no installed distribution has it"
        imported.update(_name(d) for d in owners[module])
    assert imported - declared == set(), "imported, not declared in pyproject.toml"
    assert declared - imported - set(NOT_IMPORTED) == set(), "declared, never imported"
