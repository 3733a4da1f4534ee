"""Workflow properties: the named parts a workflow of each type must (or may) provide, with the
config ids MONAI's property sets give them, and the workflow types they belong to.

The three sets (``TrainProperties``, ``InferProperties``, ``MetaProperties``) have the same names,
ids and meanings as ``monai.bundle.properties``, so applications written against MONAI's
properties find the same things here. Each property is a dict with the keys ``description``,
``required``, ``id`` (the config id) and, for optional ones, ``refer_id`` (the id expected to
refer to it).
"""

from __future__ import annotations

import copy
import os
from typing import Any

from bundle.errors import BundleFileNotFoundError, FormatError, Location, did_you_mean

__all__ = [
    "DESC", "REQUIRED", "ID", "REF_ID", "TRAIN_TYPES", "INFER_TYPES",
    "TrainProperties", "InferProperties", "MetaProperties", "normalize_workflow_type", "load_properties",
]  # fmt: skip

# field names, as MONAI's ``BundleProperty`` / ``BundlePropertyConfig`` string enums spell them
DESC = "description"
REQUIRED = "required"
ID = "id"
REF_ID = "refer_id"

TRAIN_TYPES = ("train", "training")
INFER_TYPES = ("infer", "inference", "eval", "evaluation")


def _prop(desc: str, required: bool, id: str, *ref: str | None) -> dict[str, Any]:
    p: dict[str, Any] = {DESC: desc, REQUIRED: required, ID: id}
    if ref:
        p[REF_ID] = ref[0]
    return p


_COMMON = {
    "bundle_root": _prop("root path of the bundle.", True, "bundle_root"),
    "device": _prop("target device to execute the bundle workflow.", True, "device"),
    "dataset_dir": _prop("directory path of the dataset.", True, "dataset_dir"),
}

TrainProperties: dict[str, dict[str, Any]] = {
    **copy.deepcopy(_COMMON),
    "trainer": _prop("training workflow engine.", True, "train::trainer"),
    "network_def": _prop("network module for the training.", False, "network_def"),
    "max_epochs": _prop("max number of epochs to execute the training.", True, "train::trainer::max_epochs"),
    "train_dataset": _prop("PyTorch dataset object for the training logic.", True, "train::dataset"),
    "train_inferer": _prop(
        "MONAI Inferer object to execute the model computation in training.", True, "train::inferer"
    ),
    "train_dataset_data": _prop("data source for the training dataset.", False, "train::dataset::data", None),
    "train_handlers": _prop(
        "event-handlers for the training logic.", False, "train::handlers", "train::trainer::train_handlers"
    ),
    "train_preprocessing": _prop(
        "preprocessing for the training input data.", False, "train::preprocessing", "train::dataset::transform"
    ),
    "train_postprocessing": _prop(
        "postprocessing for the training model output data.", False, "train::postprocessing",
        "train::trainer::postprocessing",
    ),
    "train_key_metric": _prop(
        "key metric to compute on the training data.", False, "train::key_metric", "train::trainer::key_train_metric"
    ),
    # refer_id of these two is an argument name of the ValidationHandler in train::handlers
    "evaluator": _prop("validation workflow engine.", False, "validate::evaluator", "validator"),
    "val_interval": _prop("validation interval during the training.", False, "val_interval", "interval"),
    "val_handlers": _prop(
        "event-handlers for the validation logic.", False, "validate::handlers", "validate::evaluator::val_handlers"
    ),
    "val_dataset": _prop(
        "PyTorch dataset object for the validation logic.", False, "validate::dataset",
        "validate::dataloader::dataset",
    ),
    "val_dataset_data": _prop("data source for the validation dataset.", False, "validate::dataset::data", None),
    "val_inferer": _prop(
        "MONAI Inferer object to execute the model computation in validation.", False, "validate::inferer",
        "validate::evaluator::inferer",
    ),
    "val_preprocessing": _prop(
        "preprocessing for the validation input data.", False, "validate::preprocessing",
        "validate::dataset::transform",
    ),
    "val_postprocessing": _prop(
        "postprocessing for the validation model output data.", False, "validate::postprocessing",
        "validate::evaluator::postprocessing",
    ),
    "val_key_metric": _prop(
        "key metric to compute on the validation data.", False, "validate::key_metric",
        "validate::evaluator::key_val_metric",
    ),
}

InferProperties: dict[str, dict[str, Any]] = {
    **copy.deepcopy(_COMMON),
    "dataset": _prop("PyTorch dataset object for the inference / evaluation logic.", True, "dataset"),
    "evaluator": _prop("inference / evaluation workflow engine.", True, "evaluator"),
    "network_def": _prop("network module for the inference.", True, "network_def"),
    "inferer": _prop("MONAI Inferer object to execute the model computation in inference.", True, "inferer"),
    "dataset_data": _prop("data source for the inference / evaluation dataset.", False, "dataset::data", None),
    "handlers": _prop(
        "event-handlers for the inference / evaluation logic.", False, "handlers", "evaluator::val_handlers"
    ),
    "preprocessing": _prop("preprocessing for the input data.", False, "preprocessing", "dataset::transform"),
    "postprocessing": _prop(
        "postprocessing for the model output data.", False, "postprocessing", "evaluator::postprocessing"
    ),
    "key_metric": _prop("the key metric during evaluation.", False, "key_metric", "evaluator::key_val_metric"),
}

MetaProperties: dict[str, dict[str, Any]] = {
    "version": _prop("bundle version", True, "_meta_::version"),
    # optional here, required by MONAI: a bundle built on torch alone needs neither MONAI nor numpy
    "monai_version": _prop("required monai version used for bundle", False, "_meta_::monai_version"),
    "pytorch_version": _prop("required pytorch version used for bundle", True, "_meta_::pytorch_version"),
    "numpy_version": _prop("required numpy version used for bundle", False, "_meta_::numpy_version"),
    "description": _prop("description for bundle", False, "_meta_::description"),
    "spatial_shape": _prop(
        "spatial shape for the inputs", False, "_meta_::network_data_format::inputs::image::spatial_shape"
    ),
    "channel_def": _prop(
        "channel definition for the prediction", False, "_meta_::network_data_format::outputs::pred::channel_def"
    ),
}


def normalize_workflow_type(workflow_type: str | None) -> str | None:
    """``train``/``training`` -> ``"train"``; ``infer``/``inference``/``eval``/``evaluation`` -> ``"infer"``.

    Raises:
        FormatError: any other value (a ``ValueError``, as MONAI raises).

    Example:
        >>> normalize_workflow_type("Training"), normalize_workflow_type("eval"), normalize_workflow_type(None)
        ('train', 'infer', None)
    """
    if workflow_type is None:
        return None
    word = str(workflow_type).lower()
    if word in TRAIN_TYPES:
        return "train"
    if word in INFER_TYPES:
        return "infer"
    known = TRAIN_TYPES + INFER_TYPES
    raise FormatError(
        f"unsupported workflow type '{workflow_type}'",
        hint=did_you_mean(word, known) or f"use one of {', '.join(known)} (or None for metadata properties only)",
    )


def load_properties(workflow_type: str | None, properties_path: str | os.PathLike | None = None) -> dict:
    """The properties of a workflow type: MONAI's sets, or those of a properties file.

    Args:
        workflow_type: ``"train"``, ``"infer"`` (already normalised) or None.
        properties_path: a JSON or YAML file ``{"train": {...}, "infer": {...}, "meta": {...}}``;
            the section of ``workflow_type`` plus ``meta`` are used (``meta`` alone for None).

    Returns:
        A new dict ``{name: {description, required, id[, refer_id]}}`` the caller may change.

    Raises:
        FormatError: the file is missing, not a mapping, lacks the section asked for, or a
            property is not a mapping with a boolean ``required``.
    """
    if properties_path is None:
        chosen = {"train": TrainProperties, "infer": InferProperties, None: {}}[workflow_type]
        return copy.deepcopy({**chosen, **MetaProperties})
    path = os.fspath(properties_path)
    if not os.path.isfile(path):
        raise BundleFileNotFoundError(f"properties file '{path}' does not exist", hint="check the path")
    from bundle.config.loader import load_file

    data = load_file(path)
    if not isinstance(data, dict):
        raise FormatError(
            f"properties file '{path}' holds a {type(data).__name__}, not a mapping",
            hint='write {"train": {...}, "infer": {...}, "meta": {...}}',
        )
    if workflow_type is not None and workflow_type not in data:
        raise FormatError(
            f"properties file '{path}' has no '{workflow_type}' section",
            hint=f"add a '{workflow_type}' section; it has: {', '.join(map(str, data)) or 'nothing'}",
        )
    props: dict = {}
    for section in ([workflow_type] if workflow_type is not None else []) + ["meta"]:
        for name, prop in (data.get(section) or {}).items():
            if not isinstance(prop, dict) or not isinstance(prop.get(REQUIRED, False), bool):
                raise FormatError(
                    f"property '{name}' in section '{section}' must be a mapping with a true/false 'required'",
                    location=Location(path),
                    hint='e.g. "network_def": {"description": "...", "required": true, "id": "network_def"}',
                )
            props[name] = copy.deepcopy(prop)
    return props

