"""The model-zoo corpus: our property checks find the same missing required properties as MONAI's
property sets do, for every bundle's train and inference config (nothing is built)."""

from __future__ import annotations

import logging

import pytest

from bundle.workflows import ConfigWorkflow
from bundle.workflows.base import MissingPropertyError

from tests.conftest import COMPAT

BUNDLES = COMPAT / "bundles"
CASES = sorted(
    (b.name, config.name, kind)
    for b in (BUNDLES.iterdir() if BUNDLES.is_dir() else [])
    for kind, stem in (("train", "train"), ("infer", "inference"))
    for config in b.glob(f"configs/{stem}.*")
)

pytestmark = [
    pytest.mark.monai,
    pytest.mark.filterwarnings("ignore:Detected deprecated name:UserWarning"),  # MONAI reading old metadata
    pytest.mark.skipif(not CASES, reason=f"no model-zoo corpus at {BUNDLES}"),
]


def monai_missing(config: str, meta: str, kind: str) -> list[str]:
    monai_bundle = pytest.importorskip("monai.bundle")
    from monai.bundle.properties import InferProperties, MetaProperties, TrainProperties

    parser = monai_bundle.ConfigParser()
    parser.read_config(config)
    parser.read_meta(meta)
    props = {**(TrainProperties if kind == "train" else InferProperties), **MetaProperties}
    return [n for n, p in props.items() if p["required"] and p["id"] not in parser]


@pytest.mark.parametrize("bundle, config, kind", CASES, ids=[f"{b}-{c}" for b, c, _ in CASES])
def test_missing_required_properties_match_monai(bundle, config, kind):
    folder = BUNDLES / bundle
    path, meta = str(folder / "configs" / config), str(folder / "configs" / "metadata.json")
    expected = monai_missing(path, meta, kind)
    logging.disable(logging.WARNING)  # MONAI's import warnings are not what this test is about
    try:
        wf = ConfigWorkflow(path, meta_file=meta, logging_file=False, workflow_type=kind)
        wf.parser.parse()
        try:
            wf.require_properties()
            found: list[str] = []
        except MissingPropertyError as err:
            found = [name for name, _ in err.missing]
    finally:
        logging.disable(logging.NOTSET)
    assert found == expected


def _property_kinds(workflow) -> dict[str, str]:
    """Each property's type (or value, for plain data), or "error" when reading it fails."""
    kinds = {}
    for name in workflow.properties:
        try:
            value = getattr(workflow, name)
        except Exception:  # noqa: BLE001  (compared with MONAI's outcome, whatever it raises)
            kinds[name] = "error"
            continue
        kinds[name] = _describe(value)
    return kinds


def _describe(value):
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, dict):
        return {k: _describe(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    return f"{type(value).__module__}.{type(value).__qualname__}"


@pytest.mark.parametrize(
    "bundle, config, kind",
    [
        ("spleen_ct_segmentation", "inference.json", "infer"),
        ("spleen_ct_segmentation", "train.json", "train"),
        ("ventricular_short_axis_3label", "inference.json", "infer"),
    ],
)
def test_properties_read_as_monais_do(bundle, config, kind):
    """MONAI's ConfigWorkflow and ours, given the same bundle and overrides, read every train /
    inference / metadata property to objects of the same types (and fail on the same ones)."""
    monai_bundle = pytest.importorskip("monai.bundle")
    pytest.importorskip("ignite")
    folder = BUNDLES / bundle
    if not folder.is_dir():
        pytest.skip(f"no {bundle} in the corpus")
    args = dict(
        meta_file=str(folder / "configs" / "metadata.json"), logging_file=False, workflow_type=kind,
        bundle_root=str(folder), device="$torch.device('cpu')", dataset_dir=str(folder / "no-data"),
    )  # fmt: skip
    if bundle.startswith("spleen"):
        args["load_pretrain"] = False  # the corpus has no weights
    logging.disable(logging.WARNING)
    try:
        kinds = []
        for cls in (monai_bundle.ConfigWorkflow, ConfigWorkflow):
            workflow = cls(str(folder / "configs" / config), **args)
            workflow.initialize()
            kinds.append(_property_kinds(workflow))
    finally:
        logging.disable(logging.NOTSET)
    theirs, ours = kinds
    assert ours == theirs
    assert sum(v != "error" for v in ours.values()) >= 15  # most properties were really built
