"""Inferers and the inference runner: tiled prediction, one output per input, nothing half-written."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from bundle.components.inference import ChannelArgmax, ForwardInferer, InferenceRunner, TiledInferer
from bundle.components.metrics import ClassificationAccuracy, DiceScore
from bundle.components.synthetic import SyntheticEllipsoids
from bundle.components.writers import ClassPredictionWriter, TensorWriter


class _Pointwise(nn.Module):
    """Each output voxel depends on its input voxel only, so tiles agree exactly with the whole."""

    def __init__(self, spatial_dims: int = 3):
        super().__init__()
        conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
        self.conv = conv(1, 2, 1)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.conv(x)


@pytest.mark.parametrize(
    "shape, roi, overlap, sw_batch_size",
    [
        pytest.param((2, 1, 19, 16, 11), [8, 8, 8], 0.25, 1, id="3d-larger"),
        pytest.param((1, 1, 19, 16, 11), 8, 0.5, 3, id="3d-overlap-batched"),
        pytest.param((1, 1, 5, 16, 6), [8, 8, 8], 0.0, 2, id="3d-smaller-padded"),
        pytest.param((2, 1, 30, 7), [10, 10], 0.3, 4, id="2d"),
    ],
)
def test_tiles_agree_with_one_forward_pass(shape, roi, overlap, sw_batch_size):
    torch.manual_seed(0)
    net = _Pointwise(len(shape) - 2)
    x = torch.randn(shape)
    with torch.no_grad():
        tiled = TiledInferer(roi, sw_batch_size=sw_batch_size, overlap=overlap)(x, net)
        whole = ForwardInferer()(x, net)
    assert tiled.shape == whole.shape
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_tiles_cover_the_volume_with_few_passes():
    net = _Pointwise()
    TiledInferer([8, 8, 8], sw_batch_size=4, overlap=0.0)(torch.zeros(1, 1, 16, 16, 16), net)
    assert net.calls == 2  # 8 windows, 4 per pass


def test_tiled_inferer_errors():
    with pytest.raises(ValueError, match="roi_size"):
        TiledInferer([8, 0])
    with pytest.raises(ValueError, match="overlap"):
        TiledInferer(8, overlap=1.0)
    with pytest.raises(ValueError, match="spatial dims"):
        TiledInferer([8, 8])(torch.zeros(1, 1, 8, 8, 8), _Pointwise())
    with pytest.raises(ValueError, match="window's size"):
        TiledInferer(8)(torch.zeros(1, 1, 8, 8), nn.Sequential(nn.Conv2d(1, 1, 3)))


def _segmentation_runner(tmp_path, **kwargs):
    torch.manual_seed(0)
    data = SyntheticEllipsoids("test", num_samples=3, size=8, noise=0.0)
    kwargs.setdefault("writer", TensorWriter(tmp_path / "out", dtype="uint8"))
    return InferenceRunner(_Pointwise(), dataset=data, device="cpu", postprocessing=ChannelArgmax(), **kwargs), data


def test_runner_writes_one_tensor_per_input_and_scores(tmp_path, caplog):
    runner, data = _segmentation_runner(
        tmp_path, inferer=TiledInferer(4), key_val_metric={"dice": DiceScore(2, include_background=True)}
    )
    with caplog.at_level(logging.INFO, logger="bundle.components"):
        metrics = runner.run()
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["test_0000.pt", "test_0001.pt", "test_0002.pt"]
    written = torch.load(tmp_path / "out" / "test_0001.pt", weights_only=True)
    expected = runner.network(data[1]["image"].unsqueeze(0)).argmax(1)[0].to(torch.uint8)
    assert written.dtype == torch.uint8 and torch.equal(written, expected.unsqueeze(0))
    assert set(metrics) == {"dice"} and 0.0 <= metrics["dice"] <= 1.0
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("inference:")]
    assert len(summary) == 1 and "3 outputs" in summary[0] and "dice" in summary[0]


def test_runner_without_labels_returns_no_metrics(tmp_path):
    data = SyntheticEllipsoids("test", num_samples=2, size=8, transform=lambda item: {
        "image": item["image"], "name": item["name"]})  # fmt: skip
    runner = InferenceRunner(
        _Pointwise(), dataset=data, writer=TensorWriter(tmp_path), device="cpu", key_val_metric={"d": DiceScore(2)}
    )
    assert runner.run() == {}
    assert len(list(tmp_path.glob("*.pt"))) == 2


def _classifier_runner(writer, count=5, fail_at=None):
    torch.manual_seed(0)
    x = torch.randn(count, 3)
    net = nn.Linear(3, 2)
    y = net(x).argmax(1)
    calls = []

    def inferer(inputs, network):
        calls.append(1)
        if fail_at is not None and len(calls) == fail_at:
            raise RuntimeError("the network failed")
        return network(inputs)

    runner = InferenceRunner(
        net, dataset=TensorDataset(x, y), writer=writer, batch_size=2, device="cpu", inferer=inferer,
        key_val_metric={"accuracy": ClassificationAccuracy()},
    )  # fmt: skip
    return runner, y


@pytest.mark.parametrize("filename", ["predictions.csv", "predictions.json"])
def test_class_predictions_table(tmp_path, filename):
    runner, y = _classifier_runner(ClassPredictionWriter(tmp_path / "eval", filename, class_names=["no", "yes"]))
    assert runner.run() == {"accuracy": 1.0}
    text = (tmp_path / "eval" / filename).read_text()
    if filename.endswith(".json"):
        rows = json.loads(text)
    else:
        header, *lines = text.splitlines()
        assert header == "name,label,class_name"
        rows = [dict(zip(["name", "label", "class_name"], line.split(","))) for line in lines]
    assert [r["name"] for r in rows] == ["00000", "00001", "00002", "00003", "00004"]
    assert [int(r["label"]) for r in rows] == y.tolist()
    assert [r["class_name"] for r in rows] == [["no", "yes"][i] for i in y.tolist()]


def test_failure_leaves_no_half_written_files(tmp_path):
    tensors = TensorWriter(tmp_path / "tensors")
    runner, _ = _classifier_runner(tensors, count=6, fail_at=2)
    with pytest.raises(RuntimeError, match="network failed"):
        runner.run()
    written = sorted(p.name for p in (tmp_path / "tensors").iterdir())
    assert written == ["00000.pt", "00001.pt"]  # the first batch, whole; no temporary files
    assert all(torch.load(tmp_path / "tensors" / name, weights_only=True).shape == (2,) for name in written)
    table = ClassPredictionWriter(tmp_path / "table")
    runner, _ = _classifier_runner(table, count=6, fail_at=3)
    with pytest.raises(RuntimeError):
        runner.run()
    assert not (tmp_path / "table").exists() or not any((tmp_path / "table").iterdir())


def test_output_names_stay_inside_the_output_dir(tmp_path):
    writer = TensorWriter(tmp_path / "out")
    writer.begin()
    assert writer.write("../../evil", torch.zeros(1)).parent == tmp_path / "out"
    assert writer.write("/data/case 7.nii.gz", torch.zeros(1)).name == "case_7.nii.gz.pt"
    assert writer.write("..", torch.zeros(1)).parent == tmp_path / "out"
    with pytest.raises(ValueError, match="two inputs"):
        writer.write("/other/case 7.nii.gz", torch.zeros(1))


def test_runner_and_writer_arguments(tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        InferenceRunner(nn.Linear(1, 1), device="cpu")
    with pytest.raises(ValueError, match="dtype"):
        TensorWriter(tmp_path, dtype="os")
    with pytest.raises(ValueError, match="csv or .json"):
        ClassPredictionWriter(tmp_path, filename="p.txt")
    with pytest.raises(ValueError, match="plain file name"):
        ClassPredictionWriter(tmp_path, filename="../p.csv")


def test_channel_argmax():
    pred = torch.tensor([[[0.1, 0.9], [0.8, 0.2]]])  # (B=1, C=2, N=2)
    assert ChannelArgmax()(pred).tolist() == [[[1, 0]]]
    assert ChannelArgmax(keepdim=False)(pred).tolist() == [[1, 0]]
