"""bundle: a model zoo and bundle packaging system for PyTorch, compatible with MONAI bundles.

Importing ``bundle`` is cheap: every public name is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    # MONAI-compatible config API
    "ConfigParser": "bundle.config.parser",
    "ReferenceResolver": "bundle.config.items",
    "ConfigItem": "bundle.config.items",
    "ConfigComponent": "bundle.config.items",
    "ConfigExpression": "bundle.config.items",
    "Instantiable": "bundle.config.items",
    "ComponentLocator": "bundle.config.locator",
    # our own
    "Config": "bundle.config.engine",
    "SafePolicy": "bundle.config.safety",
    "BundleError": "bundle.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bundle' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
