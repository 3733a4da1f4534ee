"""BundleAlgo, partitions, the server's check of client weights, and the CLI's clear errors."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

DIGITS = REPO / "zoo" / "digits_classification"


def test_partitions_cover_every_sample_once_and_are_deterministic():
    from bundle.fl.exchange import FederatedLearningError
    from bundle.fl.partition import parse_partition, partition_indices

    labels = [i % 10 for i in range(103)]
    for mode in ("iid", "label"):
        shards = [partition_indices(labels, i, 3, mode=mode, seed=1) for i in range(3)]
        assert sorted(sum(shards, [])) == list(range(103))
        assert shards == [partition_indices(labels, i, 3, mode=mode, seed=1) for i in range(3)]
    label_shards = [partition_indices(labels, i, 3, mode="label") for i in range(3)]
    assert [sorted({labels[j] for j in s}) for s in label_shards] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert parse_partition("2/3") == (2, 3)
    for bad in ("3/3", "a/b", "1"):
        with pytest.raises(FederatedLearningError, match="partition"):
            parse_partition(bad)


def test_check_client_weights_names_the_client_and_the_problem():
    torch = pytest.importorskip("torch")
    pytest.importorskip("flwr")
    from bundle.fl.flower import check_client_weights

    ref = {"w": torch.zeros(3), "b": torch.zeros(1)}
    assert check_client_weights("site-1", {"w": torch.ones(3), "b": torch.ones(1)}, ref) == []
    assert check_client_weights("site-1", {"w": torch.ones(2), "b": torch.ones(1)}, ref) == [
        "site-1: 'w' has shape (2,), the global model (3,)"]
    assert check_client_weights("site-2", {"w": torch.ones(3), "x": torch.ones(1)}, ref) == [
        "site-2: unexpected weights ['x']", "site-2: missing weights ['b']"]
    nan = check_client_weights("site-3", {"w": torch.tensor([0.0, float("nan"), 1.0]), "b": torch.ones(1)}, ref)
    assert nan == ["site-3: 'w' holds NaN or infinite values"]


@pytest.fixture(scope="module")
def algo():
    pytest.importorskip("torch")
    from bundle.fl.algo import BundleAlgo

    a = BundleAlgo(DIGITS, local_epochs=2, partition="0/3", partition_mode="label", device="cpu")
    a.initialize()
    return a


def test_bundle_algo_is_a_monai_client_algo_and_speaks_its_exchange_object(algo):
    pytest.importorskip("monai")
    from monai.fl.client import ClientAlgo
    from monai.fl.utils.constants import WeightType
    from monai.fl.utils.exchange_object import ExchangeObject

    assert isinstance(algo, ClientAlgo)
    start = ExchangeObject(weights=algo.get_weights().weights, weight_type=WeightType.WEIGHTS)
    algo.train(start)
    out = algo.get_weights()
    assert isinstance(out, ExchangeObject) and out.is_valid_weights()
    assert out.weight_type == WeightType.WEIGHTS
    shard = len(algo.trainer.data_loader.dataset)
    assert out.statistics["num_executed_iterations"] == -(-shard // 32) * 2
    assert out.statistics["num_executed_examples"] == shard * 2
    changed = [k for k in start.weights if not (start.weights[k] == out.weights[k]).all()]
    assert changed  # it trained
    scores = algo.evaluate(out)
    assert 0.0 <= scores.metrics["val_accuracy"] <= 1.0


def test_weight_diff_and_fedprox(algo):
    torch = pytest.importorskip("torch")
    from bundle.fl.exchange import ExchangeObject, WeightType

    start = {k: v.clone() for k, v in algo.trainer.network.state_dict().items()}
    algo.send_weight_diff = True
    try:
        algo.train(ExchangeObject(weights=start, weight_type=WeightType.WEIGHTS), extra={"proximal_mu": 0.5})
        diff = algo.get_weights()
    finally:
        algo.send_weight_diff = False
    assert diff.weight_type.value == "fl_weight_diff"
    now = algo.trainer.network.state_dict()
    key = next(k for k, v in start.items() if v.is_floating_point())
    torch.testing.assert_close(start[key] + diff.weights[key], now[key])
    assert type(algo.trainer.loss_function).__name__ != "_ProximalLoss"  # restored after the round


def test_bundle_without_train_config_is_a_clear_error(tmp_path):
    from bundle.fl.algo import ClientAlgorithm
    from bundle.fl.exchange import FederatedLearningError

    (tmp_path / "configs").mkdir()
    shutil.copy(DIGITS / "configs" / "inference.json", tmp_path / "configs")
    with pytest.raises(FederatedLearningError, match="has no 'train' config") as err:
        ClientAlgorithm(tmp_path)
    assert "configs/train.json" in err.value.hint
    done = subprocess.run([sys.executable, "-m", "bundle", "fl", "run", str(tmp_path), "--clients", "2"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "has no 'train' config" in done.stderr


def test_unreachable_superlink_is_a_clear_error_within_the_timeout():
    pytest.importorskip("flwr")
    done = subprocess.run(
        [sys.executable, "-m", "bundle", "fl", "client", str(DIGITS), "--superlink", "127.0.0.1:1", "--insecure",
         "--connect_timeout", "2"], capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert "SuperLink at 127.0.0.1:1 was not reachable within 2 s" in done.stderr
