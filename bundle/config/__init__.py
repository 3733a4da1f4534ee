"""The config engine: loading, merging, expanding and resolving bundle configs (no torch needed)."""

from __future__ import annotations

from bundle.lazy import lazy_attributes

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


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
