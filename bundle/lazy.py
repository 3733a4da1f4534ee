"""Lazy public names for packages: each is imported from its module on first use."""

from __future__ import annotations

import importlib

# typing, collections.abc and pathlib are imported for annotations only: at start-up (`bundle --help`)
# they would cost more than the rest of the package (typing.TYPE_CHECKING itself needs typing)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


def lazy_attributes(package: str, names: Mapping[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """``__getattr__`` and ``__dir__`` for a package whose public ``names`` map to modules.

    Example:
        >>> __getattr__, __dir__ = lazy_attributes(__name__, {"Config": "bundle.config.engine"}, globals())
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | {k for k in namespace if not k.startswith("_")})

    return __getattr__, __dir__
