"""The bundle format: a folder's layout, metadata, configs, weights and bundle-local code, the
schemas that describe them, and ``verify``.

Importing this package is cheap (no torch): every public name is imported on first use.
"""

from __future__ import annotations

from bundle.lazy import lazy_attributes

_LAZY = {
    "Bundle": "bundle.format.bundle",
    "BundleScripts": "bundle.format.scripts",
    "LargeFile": "bundle.format.large_files",
    "Problem": "bundle.format.report",
    "VerifyReport": "bundle.format.report",
    "VerificationError": "bundle.format.report",
    "verify_bundle": "bundle.format.verify",
    "verify_metadata": "bundle.format.monai_verify",
    "verify_net_in_out": "bundle.format.monai_verify",
    "init_bundle": "bundle.format.init",
    "list_templates": "bundle.format.init",
    "load_schema": "bundle.format.schemas",
    "schema_for_url": "bundle.format.schemas",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
