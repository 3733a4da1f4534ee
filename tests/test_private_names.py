"""No module of ``bundle`` uses another module's private names.

The rule, checked on the source (nothing is imported):

* ``from bundle.x import _name`` is refused anywhere but in ``bundle.x`` itself; a package's
  ``__init__`` gets no exception (none needs one today).
* ``obj._name`` is refused when ``_name`` is defined (a ``def``, a ``class``, or an assignment to a
  name or an attribute) in another module of ``bundle`` and not in the module that reads it. ``self``,
  ``cls`` and ``super()`` are the module's own, and a module may use its own private names on any
  object of its own classes.
* Dunder names (``__version__``, ``__init__``) are not private.

What a module needs from another is public there: a documented name, part of that module's API.
Names reached through ``getattr(obj, "_name")`` are not seen.

``KNOWN`` lists uses that wait on work in other parts of the tree; an entry that no longer occurs
fails the test too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import bundle

PACKAGE = Path(bundle.__file__).parent

# Each waits on the refactor of its module (issue 15): export/ takes one options type (item 3),
# and the exported files' loaders move with registry/load.py.
KNOWN = {
    "bundle.export.monai: from bundle.format.monai_verify import _merged_args",
    "bundle.export.monai: from bundle.format.monai_verify import _files",
    "bundle.serve.model: from bundle.registry.load import _torchscript",
    "bundle.serve.model: from bundle.registry.load import _onnx",
}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _modules(package: Path) -> dict[str, ast.Module]:
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return found


def _defined_private_names(module: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(module):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {n for n in names if _is_private(n)}


def _is_own_object(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls")
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


@functools.lru_cache(maxsize=None)
def private_uses(package: Path = PACKAGE) -> frozenset[str]:
    """``"module: what it uses"`` for every use of another module's private name in ``package``."""
    modules = _modules(package)
    defined = {name: _defined_private_names(tree) for name, tree in modules.items()}
    uses = set()
    for name, tree in modules.items():
        others = set().union(*(d for m, d in defined.items() if m != name)) - defined[name]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module != name:
                if node.module == "bundle" or node.module.startswith("bundle."):
                    for alias in node.names:
                        if _is_private(alias.name):
                            uses.add(f"{name}: from {node.module} import {alias.name}")
            elif isinstance(node, ast.Attribute) and node.attr in others and not _is_own_object(node.value):
                uses.add(f"{name}: {ast.unparse(node)} (line {node.lineno})")
    return frozenset(uses)


def test_no_module_uses_another_modules_private_names():
    found = private_uses()
    new = sorted(found - KNOWN)
    assert not new, "private names of other modules used (make them public there, or move the code):\n" + "\n".join(new)


def test_known_exceptions_still_occur():
    gone = sorted(KNOWN - private_uses())
    assert not gone, "fixed: remove from KNOWN in tests/test_private_names.py:\n" + "\n".join(gone)


def test_the_check_sees_a_private_use(tmp_path):
    """The check itself: a module reading another's private function and attribute is reported."""
    package = tmp_path / "bundle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("_hidden = 1\nclass A:\n    def __init__(self):\n        self._state = 0\n")
    (package / "b.py").write_text(
        "from bundle.a import _hidden\nfrom bundle import a\n\n"
        "def f(obj):\n    return obj._state, a.__name__, super()._state\n"
    )
    assert private_uses(package) == {"bundle.b: from bundle.a import _hidden", "bundle.b: obj._state (line 5)"}
