"""bundle: a model zoo and bundle packaging system for PyTorch, compatible with MONAI bundles.

Importing ``bundle`` is cheap: every public name is imported on first use.
"""

from __future__ import annotations

from bundle.lazy import lazy_attributes

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
    # MONAI-compatible bundles, verification and workflows
    "verify_metadata": "bundle.format.monai_verify",
    "verify_net_in_out": "bundle.format.monai_verify",
    "init_bundle": "bundle.format.init",
    "BundleWorkflow": "bundle.workflows.base",
    "ConfigWorkflow": "bundle.workflows.config_workflow",
    "PythonicWorkflow": "bundle.workflows.pythonic",
    "create_workflow": "bundle.workflows.create",
    "run_workflow": "bundle.workflows.create",
    # our own
    "Bundle": "bundle.format.bundle",
    "verify_bundle": "bundle.format.verify",
    "Config": "bundle.config.engine",
    "SafePolicy": "bundle.config.safety",
    "BundleError": "bundle.errors",
    # the zoo: embedding API
    "load": "bundle.registry.load",
}

__all__ = sorted(_LAZY) + ["__version__"]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
