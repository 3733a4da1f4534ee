"""Saving and loading checkpoints: plain state dicts, weights_only, strict errors that say what differs."""

from __future__ import annotations

import torch
from torch import nn

import pytest

from bundle.components.checkpoints import CheckpointReader, CheckpointWriter, load_checkpoint, save_checkpoint
from bundle.components.engine import EngineEvent
from bundle.components.evaluation import EvaluationLoop
from bundle.errors import FormatError


def _net(width: int = 3) -> nn.Module:
    return nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, 1))


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_one_object_is_saved_as_a_plain_state_dict(tmp_path):
    net = _net()
    path = save_checkpoint(tmp_path / "sub" / "model.pt", {"model": net})
    state = torch.load(path, weights_only=True)
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    fresh = _net()
    load_checkpoint(path, {"model": fresh})
    assert _same(fresh, net)
    assert not list(path.parent.glob(".*.tmp"))


def test_several_objects_round_trip(tmp_path):
    net = _net()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.5)
    net(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "ckpt.pt", {"model": net, "optimizer": optimizer})
    assert set(torch.load(path, weights_only=True)) == {"model", "optimizer"}
    fresh, fresh_opt = _net(), torch.optim.Adam(_net().parameters(), lr=0.1)
    load_checkpoint(path, {"model": fresh, "optimizer": fresh_opt})
    assert _same(fresh, net) and fresh_opt.param_groups[0]["lr"] == 0.5
    only_model = _net()
    load_checkpoint(path, {"model": only_model})  # an entry of a larger checkpoint
    assert _same(only_model, net)


def test_strict_mismatch_lists_every_problem_and_names_the_file(tmp_path):
    path = save_checkpoint(tmp_path / "model.pt", {"model": _net(3)})
    other = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1), nn.Linear(1, 1))
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(FormatError) as info:
        load_checkpoint(path, {"model": other})
    message = str(info.value)
    assert str(path) in message
    assert "missing keys (2): '3.weight', '3.bias'" in message
    assert "shape mismatches" in message and "'0.weight' (3, 2) vs (4, 2)" in message
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())  # nothing half-loaded
    extra = nn.Sequential(nn.Linear(2, 3))
    with pytest.raises(FormatError, match=r"unexpected keys \(2\): '2.weight', '2.bias'"):
        load_checkpoint(path, {"model": extra})


def test_not_strict_loads_what_matches(tmp_path, caplog):
    source = _net(3)
    path = save_checkpoint(tmp_path / "model.pt", {"model": source})
    extra = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1), nn.Linear(1, 1))
    load_checkpoint(path, {"model": extra}, strict=False)
    assert torch.equal(extra[0].weight, source[0].weight)
    assert "missing keys" in caplog.text
    with pytest.raises(FormatError, match="shape"):  # shapes never load, strict or not
        load_checkpoint(path, {"model": _net(5)}, strict=False)


def test_data_parallel_prefix_is_dropped(tmp_path):
    net = _net()
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, tmp_path / "ddp.pt")
    fresh = _net()
    load_checkpoint(tmp_path / "ddp.pt", {"model": fresh})
    assert _same(fresh, net)


class _Payload:
    pass


@pytest.mark.parametrize(
    "content, match",
    [
        pytest.param(None, "does not exist", id="missing"),
        pytest.param(b"not a zip", "cannot read", id="garbage"),
        pytest.param({"model": _Payload()}, "cannot read", id="pickled-object"),
        pytest.param([1, 2], "not a state dict", id="list"),
    ],
)
def test_unreadable_checkpoints(tmp_path, content, match):
    path = tmp_path / "model.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(FormatError, match=match) as info:
        load_checkpoint(path, {"model": _net()})
    assert str(path) in str(info.value)


def test_missing_entry(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"model": _net(), "optimizer": torch.optim.SGD(_net().parameters(), 1)})
    with pytest.raises(FormatError, match="no entry for 'ema'"):
        load_checkpoint(path, {"model": _net(), "ema": _net()})


def test_reader_loads_on_start_or_when_called(tmp_path):
    source = _net()
    path = save_checkpoint(tmp_path / "model.pt", {"model": source})
    target = _net()
    reader = CheckpointReader(path, {"model": target})
    evaluator = EvaluationLoop(target, [], device="cpu", val_handlers=[reader])
    assert not _same(target, source)
    evaluator.run()
    assert _same(target, source)
    again = _net()
    CheckpointReader(path, {"model": again})(evaluator)  # MONAI style: "$@loader(@evaluator)"
    assert _same(again, source)


def test_writer_arguments(tmp_path):
    with pytest.raises(ValueError, match="saves nothing"):
        CheckpointWriter(tmp_path, {"model": _net()}, save_final=False)
    with pytest.raises(ValueError, match="folders"):
        CheckpointWriter(tmp_path, {"model": _net()}, final_filename="../x.pt")
    with pytest.raises(TypeError, match="state_dict"):
        CheckpointWriter(tmp_path, {"model": object()})
    with pytest.raises(ValueError, match="non-empty"):
        CheckpointWriter(tmp_path, {})


def test_writer_on_an_evaluator_saves_best_and_latest(tmp_path):
    net = _net()
    writer = CheckpointWriter(tmp_path, {"model": net}, save_key_metric=True)
    evaluator = EvaluationLoop(net, [], device="cpu", val_handlers=[writer])
    evaluator.state.record_metrics({"m": 0.5}, "m")
    evaluator.fire(EngineEvent.METRICS_COMPUTED)
    evaluator.fire(EngineEvent.COMPLETED)
    assert (tmp_path / "model.pt").is_file() and (tmp_path / "model_final.pt").is_file()


def test_optimizer_mismatch_names_the_file(tmp_path):
    net = _net()
    path = save_checkpoint(tmp_path / "c.pt", {"model": net, "optimizer": torch.optim.SGD(net.parameters(), 0.1)})
    other = torch.optim.SGD([torch.zeros(1, requires_grad=True)], 0.1)
    fresh = _net()
    with pytest.raises(FormatError, match="cannot load 'optimizer'") as info:
        load_checkpoint(path, {"model": fresh, "optimizer": other})
    assert str(path) in str(info.value)
    assert not _same(fresh, net)  # nothing was loaded
