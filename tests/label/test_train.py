"""``TrainTask``: a short training on generated volumes in MONAI Label's layout improves the Dice of the
model trained from scratch, ``pretrained`` starts from the previous weights, new weights appear only
when training ends (a failed training leaves them as they were), and bad datasets and requests are
clear errors."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil

import numpy as np
import pytest
import torch

from bundle.errors import LabelError
from bundle.label import InferTask, TrainTask
from bundle.label.train import DEFAULT_REQUEST
from tests.label.conftest import CLASSIFICATION, generated_volumes, write_dataset


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mean_dice(network, volumes) -> float:
    """Mean Dice of the two foreground classes over ``volumes`` (present classes only)."""
    scores = []
    with torch.no_grad():
        for volume in volumes:
            pred = network(torch.from_numpy(volume["image"])[None, None]).argmax(1)[0].numpy()
            for k in (1, 2):
                truth = volume["label"] == k
                if truth.any():
                    scores.append(2 * (truth & (pred == k)).sum() / (truth.sum() + (pred == k).sum()))
    return float(np.mean(scores))


def _first_epoch_loss(text: str) -> float:
    return float(re.search(r"epoch 1/\d+: loss (\d+\.\d+)", text).group(1))


def test_training_from_scratch_improves_dice_and_writes_weights_when_done(segmentation_copy, dataset, caplog):
    weights = segmentation_copy / "models" / "model.pt"
    before = _digest(weights)
    held_out = generated_volumes("val", 3, seed=11)
    task = TrainTask(segmentation_copy)
    from bundle.format import Bundle

    scratch = Bundle(segmentation_copy).build_network(weights=None)  # the pretrained=false starting point
    torch.manual_seed(0)
    with caplog.at_level(logging.INFO):
        stats = task({"dataset": str(dataset), "max_epochs": 4, "val_split": 0.2, "pretrained": False})
    assert stats["model"] == str(weights) and _digest(weights) != before
    assert (stats["train_size"], stats["val_size"], stats["pretrained"]) == (5, 1, None)
    assert stats["best_metric"] is not None and stats["processes"] == 1
    trained = InferTask(segmentation_copy).network()
    assert _mean_dice(trained, held_out) > _mean_dice(scratch, held_out) + 0.2
    assert not list(segmentation_copy.rglob("*.tmp")) and not (segmentation_copy / "eval").exists()
    assert task.stats() == stats


def test_pretrained_starts_from_the_previous_weights(segmentation_copy, dataset, caplog):
    task = TrainTask(segmentation_copy)
    with caplog.at_level(logging.INFO):
        stats = task({"dataset": str(dataset), "max_epochs": 1, "pretrained": True})
    assert stats["pretrained"] == str(segmentation_copy / "models" / "model.pt")
    assert f"loaded checkpoint '{segmentation_copy / 'models' / 'model.pt'}'" in caplog.text
    pretrained_loss = _first_epoch_loss(caplog.text)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        task({"dataset": str(dataset), "max_epochs": 1, "pretrained": False})
    assert "loaded checkpoint" not in caplog.text
    assert pretrained_loss < 0.5 * _first_epoch_loss(caplog.text)  # the trained model starts far ahead


def test_a_failed_training_leaves_the_weights_as_they_were(segmentation_copy, tmp_path, volumes):
    broken = [dict(v) for v in volumes]
    broken[0]["label"] = np.full_like(broken[0]["label"], 7)  # class 7 of a 3-class network: the loss fails
    broken[1]["label"] = np.full_like(broken[1]["label"], 7)
    data = write_dataset(tmp_path / "broken", broken)
    weights = segmentation_copy / "models" / "model.pt"
    before = _digest(weights)
    with pytest.raises(LabelError, match="training 'ellipsoid_segmentation' failed") as info:
        TrainTask(segmentation_copy)({"dataset": str(data), "max_epochs": 1, "pretrained": False, "seed": 1})
    assert "left as it was" in info.value.hint
    assert _digest(weights) == before
    assert sorted(p.name for p in weights.parent.iterdir()) == ["model.pt"]


@pytest.mark.parametrize("val_split", [0, 1, 1.5, -0.2], ids=["zero", "one", "above", "negative"])
def test_val_split_outside_0_1_is_refused(segmentation_copy, dataset, val_split):
    with pytest.raises(LabelError, match="val_split must be between 0 and 1"):
        TrainTask(segmentation_copy)({"dataset": str(dataset), "val_split": val_split})


def test_dataset_problems_are_listed(segmentation_copy, tmp_path, volumes):
    task = TrainTask(segmentation_copy)
    orphan = write_dataset(tmp_path / "orphan", volumes[:3])
    for name in ("stray_1.npy", "stray_2.npy"):
        shutil.copy(orphan / "labels" / f"{volumes[0]['name']}.npy", orphan / "labels" / name)
    with pytest.raises(LabelError, match=r"2 labels .* match no image: stray_1.npy, stray_2.npy"):
        task({"dataset": str(orphan)})

    mismatch = write_dataset(tmp_path / "mismatch", volumes[:3])
    np.save(mismatch / "labels" / f"{volumes[1]['name']}.npy", np.zeros((8, 8, 8), np.uint8))
    with pytest.raises(LabelError, match=rf"{volumes[1]['name']}.npy is \(8, 8, 8\), its image is \(16, 16, 16\)"):
        task({"dataset": str(mismatch)})

    one = write_dataset(tmp_path / "one", volumes[:3], labeled=1)
    with pytest.raises(LabelError, match="at least 2 labeled images"):
        task({"dataset": str(one)})
    with pytest.raises(LabelError, match="has no images/ folder"):
        task({"dataset": str(tmp_path / "nowhere")})


def test_a_bundle_without_a_train_config(tmp_path):
    copy = shutil.copytree(CLASSIFICATION, tmp_path / "digits")
    (copy / "configs" / "train.json").unlink()
    with pytest.raises(LabelError, match="no train.json config, which training needs"):
        TrainTask(copy)


def test_request_keys_and_defaults_are_monai_labels(segmentation_copy):
    config = TrainTask(segmentation_copy).config()
    assert {k: config[k] for k in ("max_epochs", "val_split", "pretrained", "multi_gpu", "gpus", "model_filename")} \
        == {"max_epochs": 50, "val_split": 0.2, "pretrained": True, "multi_gpu": True, "gpus": "all",
            "model_filename": "model.pt"}
    assert DEFAULT_REQUEST["max_epochs"] == 50


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="torchrun training needs two CUDA devices")
def test_multi_gpu_training_runs_under_torchrun(segmentation_copy, dataset):
    stats = TrainTask(segmentation_copy)({"dataset": str(dataset), "max_epochs": 2, "pretrained": False})
    assert stats["processes"] == torch.cuda.device_count()
