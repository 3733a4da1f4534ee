"""The import path of ``monai.bundle.scripts``: code written ``from monai.bundle.scripts import run,
load, ckpt_export`` works as ``from bundle.scripts import ...``.

Nothing is defined here; each name comes from the module that owns it. ``load`` is MONAI's ``load``
(``bundle.registry.monai_api``), not our ``bundle.load``. See docs/monai.md for the differences.
"""

from __future__ import annotations

from bundle.config.kwargs import update_kwargs
from bundle.export.monai import ckpt_export, onnx_export, trt_export
from bundle.format.init import init_bundle
from bundle.format.monai_verify import verify_metadata, verify_net_in_out
from bundle.registry.model_info import get_all_bundles_list, get_bundle_info, get_bundle_versions
from bundle.registry.monai_api import download, download_large_files, load, push_to_hf_hub
from bundle.workflows.create import create_workflow, run, run_workflow

__all__ = [
    "ckpt_export", "create_workflow", "download", "download_large_files", "get_all_bundles_list", "get_bundle_info",
    "get_bundle_versions", "init_bundle", "load", "onnx_export", "push_to_hf_hub", "run", "run_workflow",
    "trt_export", "update_kwargs", "verify_metadata", "verify_net_in_out",
]  # fmt: skip
