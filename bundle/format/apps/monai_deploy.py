"""``verify --app monai-deploy``: ``package --target monai-deploy`` can build an application the App
SDK's ``MonaiBundleInferenceOperator`` reads: inputs/outputs described, an ``inference`` config whose
inferer and postprocessing have MONAI forms, and a network that compiles to TorchScript."""

from __future__ import annotations

from typing import Any

from bundle.config.loader import load_file
from bundle.errors import BundleError, Location
from bundle.export.monai_deploy import monai_inference_config
from bundle.format.apps.common import check_io, check_torchscript

CHECK = "app:monai-deploy"


def check(ctx: Any) -> None:
    if not check_io(ctx, CHECK):
        return
    if "inference" not in ctx.bundle.config_names():
        ctx.problem(CHECK, "the bundle has no inference config", hint="the operator reads configs/inference.json")
        return

    path = ctx.bundle.config_path("inference")
    try:
        monai_inference_config(load_file(path), ctx.bundle.metadata, where=str(path))
    except BundleError as err:
        ctx.error(CHECK, err, location=_where(path))
        return
    check_torchscript(ctx, CHECK)


def _where(path: Any) -> Any:
    return Location(str(path))
