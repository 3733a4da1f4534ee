"""The examples in the package's docstrings run as written, on the zoo's bundles (a copy of zoo/, so
nothing is written into the checkout)."""

from __future__ import annotations

import doctest
import importlib
import shutil

import pytest

from tests.conftest import REPO

MODULES = ["bundle.format.verify", "bundle.workflows.layout", "bundle.workflows.config_workflow", "bundle.export"]


@pytest.fixture
def zoo_copy(tmp_path, monkeypatch):
    shutil.copytree(REPO / "zoo", tmp_path / "zoo")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUNDLE_OUTPUT_DIR", str(tmp_path / "outputs"))
    return tmp_path


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, zoo_copy):
    if name != "bundle.workflows.layout":
        pytest.importorskip("torch")
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    tests = [t for t in finder.find(module, name) if t.examples]
    if name == "bundle.export":  # a package's lazy names: its docstring is the one with the example
        tests = [t for t in tests if t.name == name]
    assert tests, f"{name} has no examples"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} example(s) of {name} failed: see the output above"
