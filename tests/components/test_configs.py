"""The components used the way bundles use them: JSON/YAML configs with short ``_target_`` names."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from bundle.config.engine import Config

TRAIN = {
    "bundle_root": ".",
    "device": "$torch.device('cpu')",
    "dataset_dir": "@bundle_root",
    "ckpt_dir": "$@bundle_root + '/models'",
    "network_def": {
        "_target_": "CompactUNet", "spatial_dims": 3, "in_channels": 1, "out_channels": 2, "channels": [4, 8],
    },
    "network": "$@network_def.to(@device)",
    "loss": {"_target_": "DiceCrossEntropyLoss"},
    "optimizer": {"_target_": "Adam", "params": "$@network.parameters()", "lr": 0.01},
    "lr_scheduler": {"_target_": "StepLR", "optimizer": "@optimizer", "step_size": 1, "gamma": 0.5},
    "val_interval": 1,
    "train": {
        "dataset": {"_target_": "SyntheticEllipsoids", "split": "train", "num_samples": 4, "size": 8, "seed": 3},
        "dataloader": {"_target_": "build_data_loader", "dataset": "@train::dataset", "batch_size": 2, "shuffle": True},
        "inferer": {"_target_": "ForwardInferer"},
        "handlers": [
            {"_target_": "PeriodicValidation", "validator": "@validate::evaluator", "interval": "@val_interval"},
            {"_target_": "SchedulerStepper", "lr_scheduler": "@lr_scheduler"},
            {"_target_": "EarlyStopping", "patience": 5},
            {"_target_": "MetricsLogger", "log_file": "$@bundle_root + '/logs/metrics.jsonl'"},
            {"_target_": "CheckpointWriter", "save_dir": "@ckpt_dir", "save_dict": {"model": "@network"},
             "save_key_metric": True, "final_filename": "model_final.pt"},
        ],
        "trainer": {
            "_target_": "TrainingLoop", "network": "@network", "optimizer": "@optimizer", "loss_function": "@loss",
            "train_data_loader": "@train::dataloader", "max_epochs": 2, "device": "@device",
            "inferer": "@train::inferer", "train_handlers": "@train::handlers", "amp": True,
        },
    },
    "validate": {
        "dataset": {"_target_": "SyntheticEllipsoids", "split": "val", "num_samples": 2, "size": 8, "seed": 3},
        "dataloader": {"_target_": "build_data_loader", "dataset": "@validate::dataset"},
        "inferer": {"_target_": "TiledInferer", "roi_size": [8, 8, 4]},
        "postprocessing": {"_target_": "ChannelArgmax"},
        "key_metric": {"val_dice": {"_target_": "DiceScore", "num_classes": 2}},
        "handlers": [],
        "evaluator": {
            "_target_": "EvaluationLoop", "network": "@network", "val_data_loader": "@validate::dataloader",
            "device": "@device", "inferer": "@validate::inferer", "postprocessing": "@validate::postprocessing",
            "key_val_metric": "@validate::key_metric", "val_handlers": "@validate::handlers",
        },
    },
    "initialize": [{"_target_": "seed_everything", "seed": 0}, {"_target_": "init_distributed"}],
    "run": ["$@train::trainer.run()"],
    "finalize": [{"_target_": "shutdown_distributed"}],
}  # fmt: skip

INFER = {
    "bundle_root": ".",
    "device": {"_target_": "distributed_device"},
    "dataset_dir": "@bundle_root",
    "output_dir": "$@bundle_root + '/eval'",
    "network_def": TRAIN["network_def"],
    "network": "$@network_def.to(@device)",
    "dataset": {"_target_": "SyntheticEllipsoids", "split": "test", "num_samples": 3, "size": 8},
    "inferer": {"_target_": "TiledInferer", "roi_size": [8, 4, 8], "overlap": 0.5},
    "postprocessing": [{"_target_": "torch.nn.Softmax", "dim": 1}, {"_target_": "ChannelArgmax"}],
    "handlers": [],
    "key_metric": {"dice": {"_target_": "DiceScore", "num_classes": 2}},
    "evaluator": {
        "_target_": "InferenceRunner", "network": "@network", "dataset": "@dataset", "device": "@device",
        "inferer": "@inferer", "postprocessing": "@postprocessing", "val_handlers": "@handlers",
        "key_val_metric": "@key_metric",
        "writer": {"_target_": "TensorWriter", "output_dir": "@output_dir", "dtype": "uint8"},
    },
    "checkpoint_reader": {
        "_target_": "CheckpointReader", "load_path": "$@bundle_root + '/models/model.pt'",
        "load_dict": {"model": "@network"},
    },
    "initialize": ["$@checkpoint_reader(@evaluator)"],
    "run": ["$@evaluator.run()"],
}  # fmt: skip


def _bundle(tmp_path, name: str, config: dict, as_yaml: bool = False):
    configs = tmp_path / "configs"
    configs.mkdir(exist_ok=True)
    path = configs / f"{name}.{'yaml' if as_yaml else 'json'}"
    text = yaml.safe_dump(config) if as_yaml else json.dumps(config, indent=1)
    path.write_text(text, encoding="utf-8")
    return path


def _run(config: Config) -> list:
    config.resolve("initialize")
    result = config.resolve("run")
    if "finalize" in config:
        config.resolve("finalize")
    return result


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "safe-mode"])
def test_train_then_infer_from_configs(tmp_path, trusted):
    train = _bundle(tmp_path, "train", TRAIN)
    config = Config.load(train, overrides={"bundle_root": str(tmp_path)}, trusted=trusted)
    assert config.get("train::trainer::max_epochs") == 2
    (state,) = _run(config)
    assert state.epoch == 2 and "val_dice" in state.metrics
    assert config.resolve("optimizer").param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**2)
    weights = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    assert sum(v.numel() for v in weights.values()) < 20_000
    assert (tmp_path / "models" / "model_final.pt").is_file()
    records = [json.loads(line) for line in (tmp_path / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records] == ["metrics", "epoch", "metrics", "epoch"]

    infer = _bundle(tmp_path, "inference", INFER, as_yaml=True)
    config = Config.load(infer, overrides={"bundle_root": str(tmp_path)}, trusted=trusted)
    (metrics,) = _run(config)
    assert set(metrics) == {"dice"}
    outputs = sorted(p.name for p in (tmp_path / "eval").iterdir())
    assert outputs == ["test_0000.pt", "test_0001.pt", "test_0002.pt"]
    assert torch.load(tmp_path / "eval" / "test_0000.pt", weights_only=True).shape == (1, 8, 8, 8)


def test_max_epochs_override(tmp_path):
    train = _bundle(tmp_path, "train", TRAIN)
    overrides = {"bundle_root": str(tmp_path), "train::trainer::max_epochs": 1, "val_interval": 2}
    (state,) = _run(Config.load(train, overrides=overrides))
    assert state.epoch == 1 and state.metrics == {}  # validation every 2 epochs: none ran
    assert not (tmp_path / "models" / "model.pt").exists() and (tmp_path / "models" / "model_final.pt").exists()


CLASSIFY = {
    "bundle_root": ".",
    "device": "cpu",
    "table": "$@bundle_root + '/data/table.csv'",
    "network_def": {"_target_": "CompactCNN", "in_channels": 1, "num_classes": 2, "channels": [4]},
    "network": "@network_def",
    "train": {
        "dataset": {"_target_": "ImageTableDataset", "path": "@table", "split": "train", "value_range": [0, 16]},
        "dataloader": {"_target_": "build_data_loader", "dataset": "@train::dataset", "batch_size": 4, "shuffle": True},
        "trainer": {
            "_target_": "TrainingLoop", "network": "@network", "loss_function": {"_target_": "CrossEntropyLoss"},
            "optimizer": {"_target_": "SGD", "params": "$@network.parameters()", "lr": 0.1},
            "train_data_loader": "@train::dataloader", "max_epochs": 3, "device": "@device",
        },
    },
    "dataset": {"_target_": "ImageTableDataset", "path": "@table", "split": "test", "value_range": [0, 16]},
    "evaluator": {
        "_target_": "InferenceRunner", "network": "@network", "dataset": "@dataset", "device": "@device",
        "key_val_metric": {"accuracy": {"_target_": "ClassificationAccuracy"}},
        "writer": {"_target_": "ClassPredictionWriter", "output_dir": "$@bundle_root + '/eval'",
                   "class_names": ["dark", "bright"]},
    },
    "run": ["$@train::trainer.run()", "$@evaluator.run()"],
}  # fmt: skip


def test_classification_from_a_shipped_table_in_safe_mode(tmp_path):
    rows = ["split,label," + ",".join(f"p{i}" for i in range(16))]
    generator = torch.Generator().manual_seed(0)
    for i in range(24):
        label = i % 2
        pixels = (torch.rand(16, generator=generator) * 4 + 12 * label).round().int().tolist()
        rows.append(f"{'train' if i < 16 else 'test'},{label}," + ",".join(map(str, pixels)))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "table.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    path = _bundle(tmp_path, "train", CLASSIFY, as_yaml=True)
    state, metrics = Config.load(path, overrides={"bundle_root": str(tmp_path)}, trusted=False).resolve("run")
    assert state.epoch == 3 and metrics == {"accuracy": pytest.approx(metrics["accuracy"])}
    lines = (tmp_path / "eval" / "predictions.csv").read_text().splitlines()
    assert lines[0] == "name,label,class_name" and len(lines) == 9
