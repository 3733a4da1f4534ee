"""Every bundle in ``zoo/`` meets the zoo's bar: it verifies without errors, its weights are small,
it has a license, a model card and a changelog, the four standard configs, and stated metrics."""

from __future__ import annotations

import numbers

import pytest

from bundle.format import Bundle, verify_bundle
from tests.zoo.conftest import zoo_bundles

MAX_WEIGHTS_BYTES = 2 * 1024 * 1024
REQUIRED_CONFIGS = ("train", "evaluate", "inference", "multi_gpu_train")

BUNDLES = zoo_bundles()
by_name = pytest.mark.parametrize("folder", BUNDLES, ids=[b.name for b in BUNDLES])


def test_the_zoo_has_bundles():
    assert BUNDLES, "zoo/ holds no bundle folder"


@by_name
def test_verifies_without_errors(folder):
    report = verify_bundle(folder)
    assert report.ok, report.format()


@by_name
def test_weights_are_small(folder):
    weights = Bundle(folder).weights_path("model.pt")
    assert weights.is_file(), f"{weights} is missing"
    size = weights.stat().st_size
    assert size <= MAX_WEIGHTS_BYTES, f"{weights} has {size} bytes; the zoo's limit is {MAX_WEIGHTS_BYTES}"


@by_name
def test_license_model_card_and_changelog(folder):
    bundle = Bundle(folder)
    assert bundle.license_path.is_file() and bundle.license_path.read_text(encoding="utf-8").strip()
    assert bundle.readme_path.is_file() and bundle.readme_path.read_text(encoding="utf-8").strip()
    changelog = bundle.metadata.get("changelog", {})
    assert changelog.get(bundle.version, "").strip(), f"changelog has no entry for version {bundle.version}"
    assert bundle.metadata.get("license"), "metadata names no license"


@by_name
def test_standard_configs(folder):
    missing = sorted(set(REQUIRED_CONFIGS) - set(Bundle(folder).config_names()))
    assert not missing, f"configs missing: {missing}"


@by_name
def test_stated_metrics(folder):
    metrics = Bundle(folder).metadata.get("eval_metrics")
    assert isinstance(metrics, dict) and metrics, "metadata has no eval_metrics"
    for name, value in metrics.items():
        assert isinstance(value, numbers.Real) and not isinstance(value, bool), f"eval_metrics '{name}': {value!r}"
