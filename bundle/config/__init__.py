"""The config engine: loading, merging, expanding and resolving bundle configs (no torch needed)."""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Config": "bundle.config.engine",
    "ConfigParser": "bundle.config.parser",
    "ReferenceResolver": "bundle.config.items",
    "ConfigItem": "bundle.config.items",
    "ConfigComponent": "bundle.config.items",
    "ConfigExpression": "bundle.config.items",
    "Instantiable": "bundle.config.items",
    "ComponentLocator": "bundle.config.locator",
    "SafePolicy": "bundle.config.safety",
    "parse_overrides": "bundle.config.overrides",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bundle.config' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
