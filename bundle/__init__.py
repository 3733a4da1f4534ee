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
    "run": "bundle.workflows.create",
    "TrainProperties": "bundle.workflows.properties",
    "InferProperties": "bundle.workflows.properties",
    "MetaProperties": "bundle.workflows.properties",
    # the rest of monai.bundle's names (bundle.scripts and bundle.utils are its module paths)
    "ckpt_export": "bundle.export.monai",
    "onnx_export": "bundle.export.monai",
    "trt_export": "bundle.export.monai",
    "download": "bundle.registry.monai_api",
    "download_large_files": "bundle.registry.monai_api",
    "push_to_hf_hub": "bundle.registry.monai_api",
    "get_all_bundles_list": "bundle.registry.model_info",
    "get_bundle_versions": "bundle.registry.model_info",
    "get_bundle_info": "bundle.registry.model_info",
    "update_kwargs": "bundle.config.kwargs",
    "load_bundle_config": "bundle.format.bundle_config",
    "EXPR_KEY": "bundle.utils",
    "ID_REF_KEY": "bundle.utils",
    "ID_SEP_KEY": "bundle.utils",
    "MACRO_KEY": "bundle.utils",
    "DEFAULT_EXP_MGMT_SETTINGS": "bundle.workflows.tracking_defaults",
    "DEFAULT_MLFLOW_SETTINGS": "bundle.workflows.tracking_defaults",
    # our own
    "Bundle": "bundle.format.bundle",
    "verify_bundle": "bundle.format.verify",
    "Config": "bundle.config.engine",
    "SafePolicy": "bundle.config.safety",
    "BundleError": "bundle.errors",
    # the zoo: embedding API (MONAI's load is bundle.scripts.load)
    "load": "bundle.registry.load",
}

__all__ = sorted(_LAZY) + ["__version__"]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
