"""Bundle-local code: a bundle's ``scripts/`` package, importable as ``scripts`` only while the
bundle is active, and gone from ``sys.path`` and ``sys.modules`` afterwards.

Inside ``with BundleScripts(bundle_dir):`` a config's ``$import scripts.transforms`` imports the
bundle's own module; after the block ``scripts`` is the module that was there before, or none.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from types import ModuleType

__all__ = ["BundleScripts"]

_PACKAGE = "scripts"
_LOCK = threading.RLock()


def _owned(name: str) -> bool:
    return name == _PACKAGE or name.startswith(_PACKAGE + ".")


class BundleScripts:
    """Puts a bundle folder on ``sys.path`` (so ``import scripts`` finds its ``scripts/``) until
    deactivated; re-entrant, and usable as a context manager or with ``activate``/``deactivate``
    when the active span is not one block (a workflow's ``initialize`` ... ``finalize``).

    Deactivating removes the folder from ``sys.path``, drops the ``scripts`` modules imported
    meanwhile and puts back any ``scripts`` modules that were loaded before.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = str(Path(root).resolve())
        self._depth = 0
        self._saved: dict[str, ModuleType] = {}
        self._added = False

    @property
    def active(self) -> bool:
        return self._depth > 0

    def activate(self) -> None:
        with _LOCK:
            self._depth += 1
            if self._depth > 1:
                return
            self._saved = {n: m for n, m in sys.modules.items() if _owned(n)}
            for name in self._saved:
                del sys.modules[name]
            self._added = self.root not in sys.path
            if self._added:
                # After the script's own folder (sys.path[0]), as MONAI does, so that the bundle's
                # ``scripts`` wins over any other ``scripts`` on the path.
                sys.path.insert(1 if sys.path else 0, self.root)

    def deactivate(self) -> None:
        with _LOCK:
            if self._depth == 0:
                return
            self._depth -= 1
            if self._depth > 0:
                return
            if self._added:
                try:
                    sys.path.remove(self.root)
                except ValueError:
                    pass
                self._added = False
            for name in [n for n in sys.modules if _owned(n)]:
                del sys.modules[name]
            sys.modules.update(self._saved)
            self._saved = {}

    def __enter__(self) -> BundleScripts:
        self.activate()
        return self

    def __exit__(self, *exc) -> None:
        self.deactivate()
