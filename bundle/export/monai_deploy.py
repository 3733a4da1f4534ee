"""A MONAI Deploy application folder from a bundle, in the App SDK's layout:

    OUTPUT/app.py            the application: NIfTI in, the bundle inference operator, NIfTI out
    OUTPUT/__main__.py       ``python OUTPUT -i INPUT -o OUTPUT -m MODEL``
    OUTPUT/app.yaml          the App SDK packager's description (resources, inputs/outputs)
    OUTPUT/requirements.txt  what the app imports
    OUTPUT/model/model.ts    the TorchScript model (parity-checked); its ``extra/metadata.json`` and
                             ``extra/inference.json`` are what ``MonaiBundleInferenceOperator`` reads

Our zoo configs name our own components (``CompactUNet``, ``TiledInferer``, ``ChannelArgmax``); the SDK
resolves configs with MONAI's ``ConfigParser`` and wants ``preprocessing``/``postprocessing`` to be
``Compose`` objects. So the packaged ``inference.json`` is rewritten: only the ids the operator reads
(``device``, ``inferer``, ``preprocessing``, ``postprocessing``), in MONAI's own classes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

from bundle.atomic import write_atomic
from bundle.config.loader import load_file
from bundle.errors import ExportError
from bundle.export.core import export_bundle
from bundle.format.bundle import Bundle

__all__ = ["monai_inference_config", "package_monai_deploy"]



def _target(node: Any) -> str:
    target = node.get("_target_", "") if isinstance(node, Mapping) else ""
    for prefix in ("bundle.components.inference.", "bundle.components."):
        target = target.removeprefix(prefix)
    return target


def _inferer(node: Any, where: str) -> dict:
    target = _target(node)
    if node is None or target in ("ForwardInferer", "SimpleInferer", "monai.inferers.SimpleInferer"):
        return {"_target_": "SimpleInferer"}
    if target == "TiledInferer":
        return {"_target_": "SlidingWindowInferer", "roi_size": node["roi_size"],
                "sw_batch_size": node.get("sw_batch_size", 1), "overlap": node.get("overlap", 0.25), "mode": "constant"}
    if target.removeprefix("monai.inferers.") == "SlidingWindowInferer":
        return {**node, "_target_": "SlidingWindowInferer"}
    raise ExportError(f"{where}: the inferer '{target}' has no MONAI equivalent the App SDK could read",
                      config_id="inferer", hint="use ForwardInferer or TiledInferer, or write the packaged "
                                                "inference.json's inferer by hand")


def _postprocessing(node: Any, key: str, where: str) -> dict:
    target = _target(node)
    # the operator applies postprocessing to the batched network output (B, C, ...): channels are dim 1
    if node is None:
        return {"_target_": "Compose", "transforms": []}
    if target == "ChannelArgmax":
        dim, keep = node.get("dim", 1), node.get("keepdim", True)
        func = f"$lambda x: torch.argmax(x, dim={int(dim)}, keepdim={bool(keep)})"
    elif target in ("torch.nn.Softmax", "Softmax"):
        func = f"$lambda x: torch.softmax(x, dim={int(node.get('dim', 1))})"
    elif target in ("torch.nn.Sigmoid", "Sigmoid"):
        func = "$lambda x: torch.sigmoid(x)"
    elif target.endswith("Compose"):
        return {**node, "_target_": "Compose"}
    else:
        raise ExportError(f"{where}: the postprocessing '{target}' has no MONAI form the App SDK could read",
                          config_id="postprocessing",
                          hint="use ChannelArgmax, torch.nn.Softmax or a MONAI Compose, or write the packaged "
                               "inference.json's postprocessing by hand")
    return {"_target_": "Compose", "transforms": [{"_target_": "Lambdad", "keys": [key], "func": func}]}


def monai_inference_config(config: Mapping[str, Any], metadata: Mapping[str, Any], *, where: str = "inference.json") -> dict:
    """The ``inference.json`` the App SDK's ``MonaiBundleInferenceOperator`` reads, from ours.

    Raises:
        ExportError: the config's inferer or postprocessing has no MONAI form (named, with a hint).
    """
    fmt = metadata.get("network_data_format") or {}
    inputs, outputs = list((fmt.get("inputs") or {}).items()), list((fmt.get("outputs") or {}).items())
    if not inputs or not outputs:
        raise ExportError(f"{where}: the metadata's network_data_format has no inputs or outputs",
                          hint="the operator maps its ports to those names")
    (in_key, in_entry), (out_key, _) = inputs[0], outputs[0]
    preprocessing = [{"_target_": "EnsureTyped", "keys": [in_key], "dtype": "$torch.float32"}]
    if in_entry.get("num_channels") == 1:  # images arrive without a channel dim
        preprocessing.insert(0, {"_target_": "EnsureChannelFirstd", "keys": [in_key], "channel_dim": "no_channel"})
    if "preprocessing" in config and _target(config["preprocessing"]).endswith("Compose"):
        preprocessing = config["preprocessing"]["transforms"]
    return {
        "imports": ["$import torch"],
        "device": "$torch.device('cuda' if torch.cuda.is_available() else 'cpu')",
        "preprocessing": {"_target_": "Compose", "transforms": preprocessing},
        "inferer": _inferer(config.get("inferer"), where),
        "postprocessing": _postprocessing(config.get("postprocessing"), out_key, where),
    }


_APP = '''"""MONAI Deploy application for the bundle '{name}' {version}, written by `bundle package`.

NIfTI volumes in the input folder -> MonaiBundleInferenceOperator (model/model.ts with its
extra/metadata.json and extra/inference.json) -> NIfTI label volumes in the output folder.
"""

import logging
from pathlib import Path

from monai.deploy.conditions import CountCondition
from monai.deploy.core import AppContext, Application, Fragment, Image, IOType, Operator, OperatorSpec
from monai.deploy.operators.monai_bundle_inference_operator import BundleConfigNames, IOMapping, MonaiBundleInferenceOperator
from monai.deploy.operators.nii_data_loader_operator import NiftiDataLoader


class NiftiWriter(Operator):
    """Writes the operator's output image as OUTPUT/{{input name}}_label.nii.gz."""

    def __init__(self, fragment: Fragment, *args, output_folder: Path, **kwargs):
        self.output_folder = Path(output_folder)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec):
        spec.input("{out_key}")

    def compute(self, op_input, op_output, context):
        import nibabel
        import numpy as np

        image = op_input.receive("{out_key}")
        array = np.asarray(image.asnumpy() if hasattr(image, "asnumpy") else image)
        array = np.squeeze(array).astype(np.uint8)
        self.output_folder.mkdir(parents=True, exist_ok=True)
        nibabel.save(nibabel.Nifti1Image(array, np.eye(4)), str(self.output_folder / "{name}_label.nii.gz"))


class BundleApp(Application):
    """{task}"""

    def compose(self):
        context: AppContext = AppContext(self.kwargs)
        inputs = Path(context.input_path)
        files = sorted(inputs.glob("*.nii*")) if inputs.is_dir() else [inputs]
        loader = NiftiDataLoader(self, CountCondition(self, 1), input_path=files[0], name="nifti_loader")
        infer = MonaiBundleInferenceOperator(
            self, app_context=context, bundle_config_names=BundleConfigNames(config_names=["inference"]),
            input_mapping=[IOMapping("{in_key}", Image, IOType.IN_MEMORY)],
            output_mapping=[IOMapping("{out_key}", Image, IOType.IN_MEMORY)], name="bundle_inference")
        writer = NiftiWriter(self, output_folder=context.output_path, name="nifti_writer")
        self.add_flow(loader, infer, {{("image", "{in_key}")}})
        self.add_flow(infer, writer, {{("{out_key}", "{out_key}")}})


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    BundleApp().run()
'''

_MAIN = '''from app import BundleApp

if __name__ == "__main__":
    BundleApp().run()
'''

_YAML = '''application:
  title: {name}
  version: {version}
  inputFormats: ["file"]
  outputFormats: ["file"]
resources:
  cpu: 1
  gpu: 0
  memory: 2Gi
'''


def package_monai_deploy(bundle_dir: str | os.PathLike, output: str | os.PathLike, *, config: str = "inference",
                         **export_options: Any) -> Path:
    """Write the MONAI Deploy application folder ``output`` (replaced whole if it exists).

    Returns:
        The folder.

    Raises:
        ExportError: the TorchScript export or its parity check failed, or the config has an inferer or
            postprocessing with no MONAI form; nothing is left at ``output`` then.
    """
    import torch

    bundle = Bundle(bundle_dir)
    cfg_path = bundle.config_path(config)
    raw = load_file(cfg_path)
    metadata = bundle.metadata
    inference = monai_inference_config(raw, metadata, where=str(cfg_path))  # before any export work
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        app = work / "app"
        (app / "model").mkdir(parents=True)
        model = app / "model" / "model.ts"
        export_bundle(bundle.root, format="torchscript", output=model, config=config, **export_options)
        module = torch.jit.load(str(model))
        torch.jit.save(module, str(model), _extra_files={"metadata.json": json.dumps(metadata, indent=2),
                                                         "inference.json": json.dumps(inference, indent=2)})
        fmt = metadata["network_data_format"]
        fields = {"name": bundle.name, "version": metadata.get("version", "0.0.0"),
                  "task": str(metadata.get("task", bundle.name)).replace('"', "'"),
                  "in_key": next(iter(fmt["inputs"])), "out_key": next(iter(fmt["outputs"]))}
        write_atomic(app / "app.py", _APP.format(**fields))
        write_atomic(app / "__main__.py", _MAIN)
        write_atomic(app / "app.yaml", _YAML.format(**fields))
        torch_version = torch.__version__.split("+")[0]
        write_atomic(app / "requirements.txt", f"monai-deploy-app-sdk>=2.0\nmonai>=1.3\ntorch>={torch_version}\n"
                                               "nibabel>=3.2\nnumpy\n")
        if out.exists():
            os.replace(out, work / "previous")
        os.replace(app, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
