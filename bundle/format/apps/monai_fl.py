"""``verify --app monai-fl``: what a federated client needs of a bundle (``bundle.fl.BundleAlgo``,
MONAI FL's ``MonaiAlgo``): a train config with a trainer, its max_epochs, network and train dataset,
a dataloader that reads that dataset (so a site's shard replaces it), and an evaluator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bundle.config.parser import ConfigParser
from bundle.errors import Location
from bundle.format.report import ERROR, WARNING, Problem

CHECK = "app:monai-fl"

# (config id, required, why a federated client needs it)
NEEDED = (
    ("train::trainer", True, "the trainer each round runs for the local epochs"),
    ("train::trainer::max_epochs", True, "set to the local epochs of a round"),
    ("train::dataset", True, "the site's training data (replaced by its shard with --partition)"),
    ("train::trainer::network", True, "the network whose weights are exchanged"),
    ("validate::evaluator", False, "scores the global model each round (without it sites only train)"),
)


def check(ctx: Any) -> None:
    """Add a problem for each id of ``NEEDED`` the train config lacks (nothing is built or run)."""
    root: Path = ctx.bundle.root
    report = ctx.report

    train = next((root / "configs" / f"train{s}" for s in (".json", ".yaml", ".yml")
                  if (root / "configs" / f"train{s}").is_file()), None)
    if train is None:
        report.add(Problem(CHECK, "no train config: a federated client trains with configs/train.json",
                           location=Location("configs"), hint="add configs/train.json with train::trainer"))
        return
    parser = ConfigParser(trusted=False)
    parser.read_config([str(train)])
    where = Location(str(train.relative_to(root)))
    for config_id, required, why in NEEDED:
        if config_id not in parser:
            report.add(Problem(CHECK, f"'{config_id}' is missing: {why}", location=where, config_id=config_id,
                               hint=f"define {config_id} in {train.name}", severity=ERROR if required else WARNING))
    loader = parser.get("train::trainer::train_data_loader", None)
    if isinstance(loader, str) and loader.startswith("@"):
        loader = parser.get(loader[1:], None)
    dataset = loader.get("dataset") if isinstance(loader, dict) else None
    if loader is not None and dataset != "@train::dataset":
        report.add(Problem(CHECK, "the trainer's dataloader does not read '@train::dataset', so a site's shard "
                           "would not replace its data", location=where, config_id="train::dataloader::dataset",
                           hint='write "dataset": "@train::dataset" in the train dataloader', severity=WARNING))
