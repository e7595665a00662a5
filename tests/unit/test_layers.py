"""The layers stay apart: ``phases`` is plain Python and numpy, ``store`` imports nothing above it,
and only the Dagster layer (with the two entry points that launch its job) imports Dagster."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "consolidation_assets"
# What each layer may import from the package itself.
ALLOWED = {
    "phases": {"phases"},
    "store": {"store", "phases"},
    "services": {"services", "store", "phases"},
    "defs": {"defs", "services", "store", "phases"},
}
ENTRY_POINTS = {"engine.py", "cli.py"}
THIRD_PARTY_OF_PHASES = {"numpy", "scipy", "sklearn", "sknetwork"}


def imports(path: Path) -> set[str]:
    """Every module a file imports, lazily or not."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer: str) -> None:
    wrong = {}
    for path in modules(layer):
        inside = {m.split(".")[1] for m in imports(path) if m.startswith("consolidation_assets.")}
        if inside - ALLOWED[layer]:
            wrong[str(path.relative_to(REPO))] = sorted(inside - ALLOWED[layer])
    assert not wrong, f"imports from layers above: {wrong}"


def test_only_the_dagster_layer_and_the_entry_points_import_dagster() -> None:
    outside = [p for p in PACKAGE.rglob("*.py") if "defs" not in p.parts]
    offenders = sorted(
        str(p.relative_to(REPO))
        for p in outside
        if p.name not in ENTRY_POINTS or p.parent != PACKAGE
        if any(m == "dagster" or m.startswith(("dagster.", "dagster_")) for m in imports(p))
    )
    assert offenders == []


def test_phases_use_only_numpy_scipy_and_scikit_learn_and_network() -> None:
    allowed_roots = THIRD_PARTY_OF_PHASES | {"consolidation_assets", "__future__"}
    offenders = {}
    for path in modules("phases"):
        foreign = {
            m.split(".")[0]
            for m in imports(path)
            if m.split(".")[0] not in allowed_roots | sys.stdlib_module_names
        }
        if foreign:
            offenders[path.name] = sorted(foreign)
    assert offenders == {}
