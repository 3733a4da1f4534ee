"""Fixtures of the registry tests: index files written the way the zoo's ci/ writes them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bundle.registry.index import add_version, canonical_index


def release(payload: bytes = b"archive", **extra) -> dict:
    """An index entry for an archive with these bytes."""
    entry = {"sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload), "published": "2026-11-01",
             "sources": [{"url": "archives/x.zip"}]}
    entry.update(extra)
    return entry


def write_index(path: Path, bundles: dict[str, dict[str, dict]], **described) -> Path:
    """Write an index: name -> {version: entry}; descriptions default to a summary naming the bundle."""
    data: dict = {}
    for name, versions in bundles.items():
        for version, entry in versions.items():
            data = add_version(data, name, version, entry, summary=described.get("summary", f"the {name} model"),
                               license=described.get("license", "Apache-2.0"), tags=described.get("tags", ()))
    path.write_text(json.dumps(canonical_index(data), indent=2))
    return path


@pytest.fixture
def zoo_index(tmp_path) -> Path:
    """An index of three bundles; spleen has versions where string order and version order disagree."""
    path = tmp_path / "index.json"
    write_index(path, {
        "spleen_ct_segmentation": {"0.9.0": release(b"a"), "0.10.0": release(b"b", changelog="bigger patches"),
                                   "0.2.0": release(b"c"), "1.0.0rc1": release(b"d")},
        "spleen_deepedit_annotation": {"0.1.0": release(b"e")},
        "brats_mri_segmentation": {"0.4.0": release(b"f", yanked="wrong weights"), "0.3.0": release(b"g")},
    }, tags=("ct", "segmentation"))
    return path
