"""Shared by the labeling tests: the zoo's segmentation bundle (copied where a test trains it), generated
volumes in MONAI Label's dataset layout (images/ + labels/), and the zoo bundle served from a local index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO

SEGMENTATION = REPO / "zoo" / "ellipsoid_segmentation"
CLASSIFICATION = REPO / "zoo" / "digits_classification"


def generated_volumes(split: str, count: int, *, size: int = 16, seed: int = 7) -> list[dict]:
    """Volumes of the segmentation bundle's kind: ``{"image": (D, H, W) float32, "label": uint8, "name"}``."""
    from bundle.components.synthetic import SyntheticEllipsoids

    data = SyntheticEllipsoids(split, count, size=size, num_classes=3, noise=0.2, seed=seed)
    return [{"image": s["image"][0].numpy(), "label": s["label"][0].numpy().astype("uint8"), "name": s["name"]}
            for s in (data[i] for i in range(count))]


def write_dataset(root: Path, volumes: list[dict], *, labeled: int | None = None, suffix: str = ".npy") -> Path:
    """``root/images/NAME.npy`` for every volume and ``root/labels/NAME.npy`` for the first ``labeled``."""
    from bundle.components.volumes import write_volume

    for n, volume in enumerate(volumes):
        write_volume(root / "images" / f"{volume['name']}{suffix}", volume["image"])
        if labeled is None or n < labeled:
            write_volume(root / "labels" / f"{volume['name']}{suffix}", volume["label"])
    return root


@pytest.fixture
def segmentation_copy(tmp_path) -> Path:
    """A copy of the zoo's segmentation bundle that a test may train (the zoo's weights stay as they are)."""
    return Path(shutil.copytree(SEGMENTATION, tmp_path / "ellipsoid_segmentation"))


@pytest.fixture(scope="module")
def volumes() -> list[dict]:
    return generated_volumes("train", 6)


@pytest.fixture
def dataset(tmp_path, volumes) -> Path:
    """Six labeled volumes in MONAI Label's layout."""
    return write_dataset(tmp_path / "data", volumes)


@pytest.fixture
def zoo_name(tmp_path_factory, local_server, monkeypatch) -> str:
    """``ellipsoid_segmentation`` as a zoo name: an index on 127.0.0.1 whose archive is the zoo's bundle."""
    from bundle.registry.archive import pack
    from tests.registry.conftest import write_index

    archive = pack(SEGMENTATION, tmp_path_factory.mktemp("dist"))
    url = local_server.add("/ellipsoid.zip", archive.path.read_bytes())
    version = archive.path.name[len("ellipsoid_segmentation") + 2:-len(".zip")]
    index = write_index(tmp_path_factory.mktemp("index") / "index.json", {"ellipsoid_segmentation": {version: {
        "sha256": archive.sha256, "size": archive.size, "published": "2026-12-01", "sources": [{"url": url}]}}})
    monkeypatch.setenv("BUNDLE_INDEX", str(index))
    return "ellipsoid_segmentation"
