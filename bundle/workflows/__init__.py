"""Workflows: bundles that run. ``ConfigWorkflow`` (configs), ``PythonicWorkflow`` (Python classes),
their properties, and ``create_workflow`` / ``run_workflow`` / ``run`` (MONAI's names and meanings).

Importing this package is cheap; each name is imported on first use, and nothing imports torch
before a config asks for it.
"""

from __future__ import annotations

from bundle.lazy import lazy_attributes

_LAZY = {
    "BundleWorkflow": "bundle.workflows.base",
    "BundleFileNotFoundError": "bundle.workflows.base",
    "MissingPropertyError": "bundle.workflows.base",
    "WorkflowError": "bundle.workflows.base",
    "ConfigWorkflow": "bundle.workflows.config_workflow",
    "PythonicWorkflow": "bundle.workflows.pythonic",
    "TrainProperties": "bundle.workflows.properties",
    "InferProperties": "bundle.workflows.properties",
    "MetaProperties": "bundle.workflows.properties",
    "normalize_workflow_type": "bundle.workflows.properties",
    "create_workflow": "bundle.workflows.create",
    "run_workflow": "bundle.workflows.create",
    "run": "bundle.workflows.create",
    "bundle_config_files": "bundle.workflows.layout",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
