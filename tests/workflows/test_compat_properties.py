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
