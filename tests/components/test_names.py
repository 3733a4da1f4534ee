"""Every public component name is unique across the short-name namespaces (ours, torch's, MONAI's)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

import bundle.components
from bundle.config.locator import ComponentLocator

PACKAGE = Path(bundle.components.__file__).parent


def _public_definitions() -> dict[str, list[str]]:
    """Short name -> full paths of every public top-level class/def in every public module."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = f"bundle.components.{path.stem}"
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            definition = isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            if definition and not node.name.startswith("_"):
                found.setdefault(node.name, []).append(f"{module}.{node.name}")
    return found


DEFINITIONS = _public_definitions()


def test_monai_is_among_the_namespaces_when_installed():
    if importlib.util.find_spec("monai") is None:
        pytest.skip("MONAI is not installed")
    assert ComponentLocator().resolve_name("SupervisedTrainer").startswith("monai.")


def test_the_package_defines_components():
    assert {"TrainingLoop", "EvaluationLoop", "InferenceRunner", "CompactUNet", "DiceScore"} <= set(DEFINITIONS)


def test_names_are_unique_inside_the_package():
    duplicates = {name: paths for name, paths in DEFINITIONS.items() if len(paths) > 1}
    assert not duplicates


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_short_name_resolves_to_our_component_only(name):
    """Checked against every namespace present: torch's always, MONAI's when it is installed."""
    locator = ComponentLocator()
    assert locator.resolve_name(name) == DEFINITIONS[name][0]  # AmbiguousTargetError if anyone else has it
    assert locator.get_component_module_name(name) == DEFINITIONS[name][0].rpartition(".")[0]
