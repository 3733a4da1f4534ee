"""Datasets and loaders: synthetic volumes (determinism, disjoint splits, exact labels), image tables."""

from __future__ import annotations

import hashlib
import itertools

import pytest
import torch

from bundle.components.images import ImageTableDataset
from bundle.components.loaders import _ShardSampler, build_data_loader
from bundle.components.synthetic import SyntheticEllipsoids
from bundle.errors import FormatError

# --- synthetic ellipsoids -------------------------------------------------------------------------


def _digest(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.numpy().tobytes()).hexdigest()


def test_same_seed_same_data_in_any_order():
    a = SyntheticEllipsoids("train", num_samples=4, size=10, seed=7)
    b = SyntheticEllipsoids("train", num_samples=4, size=10, seed=7)
    late = b[3]  # drawn first here, last above: each sample has its own generator
    items = [a[i] for i in range(4)]
    assert torch.equal(items[3]["image"], late["image"]) and torch.equal(items[3]["label"], late["label"])
    for i in range(3):
        assert torch.equal(items[i]["image"], b[i]["image"])
    other = SyntheticEllipsoids("train", num_samples=4, size=10, seed=8)
    assert not torch.equal(items[0]["image"], other[0]["image"])


def test_splits_never_share_a_sample():
    digests = {}
    for split in ("train", "val", "test"):
        data = SyntheticEllipsoids(split, num_samples=12, size=8, seed=0)
        digests[split] = {_digest(data[i]["image"]) for i in range(len(data))}
        assert len(digests[split]) == 12
    for a, b in itertools.combinations(digests.values(), 2):
        assert not a & b


def _render(objects: list[dict], size: tuple[int, ...]) -> torch.Tensor:
    """The label map, voxel by voxel, straight from the ellipsoid equation."""
    label = torch.zeros(size, dtype=torch.long)
    for voxel in itertools.product(*(range(s) for s in size)):
        for obj in objects:
            if sum(((x - c) / r) ** 2 for x, c, r in zip(voxel, obj["center"], obj["radii"])) <= 1.0:
                label[voxel] = obj["label"]
    return label


@pytest.mark.parametrize("size", [pytest.param(9, id="3d"), pytest.param((12, 10), id="2d")])
def test_ground_truth_is_exact(size):
    data = SyntheticEllipsoids("val", num_samples=3, size=size, num_classes=3, max_objects=3, noise=0.0, seed=1)
    shape = (size,) * 3 if isinstance(size, int) else size
    for i in range(len(data)):
        item = data[i]
        assert item["image"].shape == item["label"].shape == (1, *shape)
        assert item["image"].dtype == torch.float32 and item["label"].dtype == torch.long
        assert torch.equal(item["label"][0], _render(data.objects(i), shape))
        # without noise the image is exactly each class's intensity
        assert torch.equal(item["image"], item["label"].float() / 2)
        assert item["name"] == f"val_{i:04d}"
        assert item["label"].max() > 0


def test_noise_has_the_requested_spread():
    data = SyntheticEllipsoids("train", num_samples=1, size=24, noise=0.3, seed=2)
    item = data[0]
    residual = item["image"] - item["label"].float()
    assert residual.std().item() == pytest.approx(0.3, rel=0.05)


def test_transform_and_indexing():
    data = SyntheticEllipsoids("test", num_samples=2, size=6, transform=lambda item: item["name"])
    assert data[-1] == "test_0001"
    with pytest.raises(IndexError):
        data[2]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"split": "validation"}, "split"),
        ({"size": 2}, "size"),
        ({"size": (8, 8, 8, 8)}, "size"),
        ({"num_classes": 1}, "num_classes"),
        ({"radius": (0.3, 0.1)}, "radius"),
        ({"noise": -1}, "noise"),
        ({"max_objects": 0}, "max_objects"),
    ],
)
def test_synthetic_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticEllipsoids(**kwargs)


# --- image tables -----------------------------------------------------------------------------------


def _write_csv(path, rows, header="split,label,p0,p1,p2,p3"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_csv_table_with_splits_and_range(tmp_path):
    path = _write_csv(tmp_path / "t.csv", ["train,1,0,16,8,4", "test,0,16,16,0,0", "train,2,0,0,0,16"])
    data = ImageTableDataset(path, split="train", value_range=[0, 16])
    assert len(data) == 2 and data.num_classes == 3
    item = data[0]
    assert item["image"].shape == (1, 2, 2)
    assert torch.allclose(item["image"].flatten(), torch.tensor([0.0, 1.0, 0.5, 0.25]))
    assert item["label"].item() == 1 and item["name"] == "train_00000"
    everything = ImageTableDataset(path, mean=8.0, std=4.0)
    assert len(everything) == 3
    assert len(ImageTableDataset(path, split="*")) == 3  # '*' keeps every row (--split '*' on a command line)
    assert torch.allclose(everything[1]["image"].flatten(), torch.tensor([2.0, 2.0, -2.0, -2.0]))


def test_csv_names_and_shapes(tmp_path):
    path = _write_csv(tmp_path / "t.csv", ["a,1,1,2,3,4,5,6"], header="name,label,p0,p1,p2,p3,p4,p5")
    data = ImageTableDataset(path, image_shape=[2, 3])
    assert data[0]["image"].shape == (1, 2, 3) and data[0]["name"] == "a"
    with pytest.raises(FormatError, match="not a square"):
        ImageTableDataset(path)


def test_csv_without_labels_is_unlabelled(tmp_path):
    path = _write_csv(tmp_path / "t.csv", ["a,0,16,8,4", "b,16,16,0,0"], header="name,p0,p1,p2,p3")
    data = ImageTableDataset(path, value_range=[0, 16])
    assert len(data) == 2 and data.num_classes == 0 and data.labels is None
    assert set(data[1]) == {"image", "name"} and data[1]["name"] == "b"
    pt = tmp_path / "t.pt"
    torch.save({"images": torch.zeros(3, 2, 2)}, pt)
    assert len(ImageTableDataset(pt)) == 3 and "label" not in ImageTableDataset(pt)[0]
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(FormatError, match="no header row"):
        ImageTableDataset(tmp_path / "empty.csv")


@pytest.mark.parametrize(
    "rows, header, kwargs, match",
    [
        pytest.param(["train,1,0,0"], None, {}, "values, but the header", id="short-row"),
        pytest.param(["train,x,0,0,0,0"], None, {}, "line 2", id="not-a-number"),
        pytest.param(["train,1,0,0,0,0"], None, {"split": "val"}, r"splits: \['train'\]", id="unknown-split"),
        pytest.param(["1,0,0,0,0"], "label,p0,p1,p2,p3", {"split": "train"}, "names no splits", id="no-splits"),
    ],
)
def test_csv_errors(tmp_path, rows, header, kwargs, match):
    path = _write_csv(tmp_path / "t.csv", rows, **({"header": header} if header else {}))
    with pytest.raises(FormatError, match=match) as info:
        ImageTableDataset(path, **kwargs)
    assert "t.csv" in str(info.value)


def test_pt_table_flat_and_per_split(tmp_path):
    images = torch.arange(3 * 4 * 4, dtype=torch.uint8).reshape(3, 4, 4)
    flat = tmp_path / "flat.pt"
    torch.save({"images": images, "labels": torch.tensor([0, 1, 1]), "splits": ["train", "val", "train"]}, flat)
    data = ImageTableDataset(flat, split="train", value_range=[0, 255])
    assert len(data) == 2 and data[1]["image"].shape == (1, 4, 4)
    assert torch.allclose(data[1]["image"], images[2].float().unsqueeze(0) / 255)
    per_split = tmp_path / "split.pt"
    parts = {
        "train": {"images": images[:2].unsqueeze(1), "labels": [3, 4]},
        "test": {"images": images[2:], "labels": [5]},
    }
    torch.save(parts, per_split)
    train = ImageTableDataset(per_split, split="train")
    assert [int(train[i]["label"]) for i in range(2)] == [3, 4] and train[0]["image"].shape == (1, 4, 4)


class _Payload:
    pass


def test_pt_table_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"images": torch.zeros(1, 2, 2), "labels": torch.zeros(1), "extra": _Payload()}, path)
    with pytest.raises(FormatError, match="cannot read"):
        ImageTableDataset(path)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        ImageTableDataset(tmp_path / "nope.csv")
    (tmp_path / "t.npz").write_bytes(b"")
    with pytest.raises(FormatError, match="unknown image table format"):
        ImageTableDataset(tmp_path / "t.npz")


# --- loaders ----------------------------------------------------------------------------------------


def _order(loader) -> list[int]:
    return [int(i) for batch in loader for i in batch]


def test_loader_shuffles_reproducibly():
    data = list(range(10))
    first = _order(build_data_loader(data, batch_size=3, shuffle=True, seed=4))
    again = _order(build_data_loader(data, batch_size=3, shuffle=True, seed=4))
    assert first == again and sorted(first) == data and first != data
    assert _order(build_data_loader(data, batch_size=4)) == data


def test_shards_cover_every_sample_once():
    data = list(range(10))
    shards = [list(_ShardSampler(data, rank, 3)) for rank in range(3)]
    assert [len(s) for s in shards] == [len(_ShardSampler(data, r, 3)) for r in range(3)] == [4, 3, 3]
    assert sorted(itertools.chain(*shards)) == data


def test_loader_batches_dict_samples():
    data = SyntheticEllipsoids("train", num_samples=3, size=6)
    batch = next(iter(build_data_loader(data, batch_size=2)))
    assert batch["image"].shape == (2, 1, 6, 6, 6) and batch["name"] == ["train_0000", "train_0001"]
    with pytest.raises(ValueError, match="batch_size"):
        build_data_loader(data, batch_size=0)
