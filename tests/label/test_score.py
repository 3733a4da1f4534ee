"""Active learning: ``entropy`` ranks a featureless volume above clear ones, ``epistemic`` (Monte-Carlo
dropout) needs a network with dropout and says so otherwise, ``random`` is a seeded permutation."""

from __future__ import annotations

import numpy as np
import pytest

from bundle.errors import LabelError
from bundle.label import InferTask, score
from tests.label.conftest import SEGMENTATION, generated_volumes

DROPOUT = {"+network_def::dropout": 0.3}  # CompactUNet's dropout adds no weights: the zoo's still fit


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Two clear generated volumes and a blank one: constant, at an intensity between two classes."""
    folder = tmp_path_factory.mktemp("unlabeled")
    paths = []
    for volume in generated_volumes("test", 2, seed=5):
        paths.append(folder / f"{volume['name']}.npy")
        np.save(paths[-1], volume["image"])
    blank = folder / "blank.npy"
    np.save(blank, np.full((16, 16, 16), 0.25, np.float32))
    return [str(paths[0]), str(blank), str(paths[1])]


def test_entropy_ranks_a_blank_volume_above_clear_ones(images):
    ranked = score(SEGMENTATION, images, strategy="entropy")
    assert ranked[0]["image"] == images[1] and ranked[0]["rank"] == 1
    assert [r["rank"] for r in ranked] == [1, 2, 3]
    assert all(0 <= r["score"] <= 1 for r in ranked)
    assert ranked[0]["score"] > 2 * ranked[1]["score"]


def test_epistemic_by_monte_carlo_dropout(images):
    task = InferTask(SEGMENTATION, overrides=DROPOUT)
    ranked = score(task, images, strategy="epistemic", samples=4)
    assert ranked[0]["image"] == images[1]
    assert all(r["score"] >= 0 for r in ranked) and ranked[0]["score"] > 0
    assert score(task, images, strategy="epistemic", samples=4) == ranked  # seeded masks
    assert not task.network().training  # the task's own network is left in eval mode


def test_epistemic_without_dropout_is_a_clear_error(images):
    with pytest.raises(LabelError, match="has no dropout layer") as info:
        score(SEGMENTATION, images, strategy="epistemic")
    assert "entropy" in info.value.hint and "+network_def::dropout" in info.value.hint
    with pytest.raises(LabelError, match="at least 2 samples"):
        score(InferTask(SEGMENTATION, overrides=DROPOUT), images, strategy="epistemic", samples=1)


def test_random_is_a_seeded_permutation(images):
    first = score(SEGMENTATION, images, strategy="random", seed=3)
    assert sorted(r["image"] for r in first) == sorted(images)
    assert score(SEGMENTATION, images, strategy="random", seed=3) == first
    orders = {tuple(r["image"] for r in score(SEGMENTATION, images, strategy="random", seed=s)) for s in range(8)}
    assert len(orders) > 1


def test_an_unknown_strategy_is_named(images):
    with pytest.raises(LabelError, match="unknown strategy 'entropie'") as info:
        score(SEGMENTATION, images, strategy="entropie")
    assert "entropy" in info.value.hint
