"""``BundleAlgo``: a bundle's train config as a federated client, with MONAI FL's client-algorithm
interface and meaning (``initialize``, ``train``, ``get_weights``, ``evaluate``, ``abort``, ``finalize``).

The client is driven through the workflow's properties (``trainer``, ``evaluator``,
``max_epochs``, ``train_dataset``), so a bundle on our ``TrainingLoop`` and one on MONAI's
``SupervisedTrainer`` are handled alike: the trainer's ``network``, ``state.epoch``,
``state.max_epochs``, ``state.iteration`` and ``data_loader``, and the evaluator's ``run()`` and
``state.metrics``.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from bundle.fl.exchange import ExchangeObject, FederatedLearningError, Statistics, WeightType
from bundle.fl.partition import dataset_labels, parse_partition, partition_indices

__all__ = ["ClientAlgorithm", "BundleAlgo", "DROPPED_HANDLERS"]  # noqa: F822 (BundleAlgo: made by __getattr__)

logger = logging.getLogger(__name__)

# handlers that make no sense on a federated client: they write the bundle's checkpoints and logs
# (shared by every simulated site), stop training early or validate inside local training
DROPPED_HANDLERS = (
    "CheckpointWriter", "CheckpointSaver", "CheckpointLoader", "MetricsLogger", "EarlyStopping",
    "EarlyStopHandler", "PeriodicValidation", "ValidationHandler", "TensorBoardStatsHandler", "MLFlowHandler",
)  # fmt: skip


def client_config_file(root: Path, config: str) -> Path:
    """The file of the bundle's ``config`` (``train``, ``train.json``...) that a federated client trains with.

    Raises:
        FederatedLearningError: the bundle has no such config (the message lists those it has).
    """
    for suffix in ("", ".json", ".yaml", ".yml"):
        path = root / "configs" / f"{config}{suffix}"
        if path.is_file():
            return path
    there = sorted(p.name for p in (root / "configs").glob("*")) if (root / "configs").is_dir() else []
    raise FederatedLearningError(
        f"bundle '{root}' has no '{config}' config, so it cannot train as a federated client",
        hint=f"a federated client needs configs/{config}.json with a trainer (configs there: "
        f"{', '.join(there) or 'none'})",
    )


class ClientAlgorithm:
    """A bundle's training as a federated client (see ``BundleAlgo``, which adds MONAI's base class)."""

    def __init__(
        self,
        bundle: str | os.PathLike,
        config: str = "train",
        local_epochs: int = 1,
        *,
        partition: str | tuple[int, int] | None = None,
        partition_mode: str = "iid",
        seed: int = 0,
        send_weight_diff: bool = False,
        dropped_handlers: Sequence[str] = DROPPED_HANDLERS,
        overrides: Mapping[str, Any] | None = None,
        device: str | None = None,
        client_name: str | None = None,
        proximal_mu: float = 0.0,
        trusted: bool | None = None,
    ) -> None:
        if not isinstance(local_epochs, int) or local_epochs < 1:
            raise FederatedLearningError(f"local_epochs must be a positive integer, not {local_epochs!r}")
        self.bundle_root = Path(bundle)
        self.config_file = client_config_file(self.bundle_root, config)
        self.local_epochs = local_epochs
        self.partition = parse_partition(partition) if isinstance(partition, str) else partition
        self.partition_mode = partition_mode
        self.seed = seed
        self.send_weight_diff = send_weight_diff
        self.dropped_handlers = tuple(dropped_handlers)
        self.overrides = dict(overrides or {})
        self.device = device
        self.client_name = client_name or (f"site-{self.partition[0]}" if self.partition else "site")
        self.trusted = trusted
        self.proximal_mu = proximal_mu
        self.workflow: Any = None
        self.trainer: Any = None
        self.evaluator: Any = None
        self._global: dict[str, Any] | None = None
        self._stats: dict[str, int] = {}

    # --- life cycle ----------------------------------------------------------------------------

    def initialize(self, extra: dict | None = None) -> None:
        """Build the train workflow: local epochs, the site's shard, no checkpoint/log handlers.

        Raises:
            FederatedLearningError: the bundle has no trainer, or its dataset cannot be split.
        """
        from bundle.workflows import ConfigWorkflow

        extra = extra or {}
        self.client_name = str(extra.get("fl_client_name", self.client_name))
        overrides = {"bundle_root": str(self.bundle_root), **self.overrides}
        if self.device is not None:
            overrides["device"] = f"$torch.device('{self.device}')"
        wf = ConfigWorkflow(
            str(self.config_file), workflow_type="train", trusted=self.trusted, bundle_root=str(self.bundle_root)
        )
        wf.override(overrides)
        self._drop_handlers(wf)
        if "train::trainer::max_epochs" in wf.parser:
            wf.override({"train::trainer::max_epochs": self.local_epochs})
        wf.initialize()
        if self.partition is not None:
            self._use_shard(wf, self.partition)
        self.workflow = wf
        self.trainer = wf.trainer
        if self.trainer is None:
            raise FederatedLearningError(f"'{self.config_file}' defines no trainer (train::trainer)")
        self.evaluator = wf.evaluator if "validate::evaluator" in wf.parser else None
        # MONAI's trainer starts at max_epochs from the config; each train() adds local_epochs
        self.trainer.state.max_epochs = self.trainer.state.epoch

    def _drop_handlers(self, wf: Any) -> None:
        for list_id in ("train::handlers", "train::trainer::train_handlers"):
            handlers = wf.parser.get(list_id, None)
            if not isinstance(handlers, list):
                continue
            kept = [h for h in handlers if not (isinstance(h, dict)
                    and str(h.get("_target_", "")).rsplit(".", 1)[-1] in self.dropped_handlers)]
            if len(kept) != len(handlers):
                wf.override({list_id: kept})

    def _use_shard(self, wf: Any, partition: tuple[int, int]) -> None:
        from torch.utils.data import Subset

        index, count = partition
        dataset = wf.train_dataset
        labels = dataset_labels(dataset) if self.partition_mode == "label" else len(dataset)
        keep = partition_indices(labels, index, count, mode=self.partition_mode, seed=self.seed)
        wf.train_dataset = Subset(dataset, keep)
        wf.initialize()
        logger.info("%s: training on shard %d/%d (%s): %d samples", self.client_name, index, count,
                    self.partition_mode, len(keep))

    def abort(self, extra: dict | None = None) -> None:
        """Stop local training after the current iteration."""
        if self.trainer is not None:
            self.trainer.terminate()

    def finalize(self, extra: dict | None = None) -> None:
        """End the workflow (its ``finalize`` id); the algorithm must be initialized again to train."""
        if self.workflow is not None:
            self.workflow.finalize()
        self.workflow = self.trainer = self.evaluator = None

    # --- the work ------------------------------------------------------------------------------

    def _require(self) -> None:
        if self.trainer is None:
            raise FederatedLearningError("the client algorithm was used before initialize()",
                                         hint="call initialize() first")

    def _load(self, data: Any) -> None:
        """Put the global weights (full, or a difference from ours) into the network."""
        import torch

        ex = ExchangeObject.from_any(data)
        if not ex.is_valid_weights() or ex.weights is None:
            return
        network = self.trainer.network
        current = network.state_dict()
        incoming = {k: torch.as_tensor(v) for k, v in ex.weights.items()}
        if ex.weight_type == WeightType.WEIGHT_DIFF:
            incoming = {k: current[k] + incoming[k].to(current[k].dtype) for k in incoming}
        unknown = sorted(set(incoming) - set(current))
        missing = sorted(set(current) - set(incoming))
        if unknown or missing:
            raise FederatedLearningError(
                f"{self.client_name}: global weights do not fit the bundle's network "
                f"(unexpected: {unknown[:5]}, missing: {missing[:5]})",
                hint="the server and this site must run the same bundle",
            )
        network.load_state_dict(incoming)

    def train(self, data: Any, extra: dict | None = None) -> None:
        """Load the global weights, train ``local_epochs`` epochs on the local data."""
        self._require()
        self._load(data)
        self._global = {k: v.detach().clone() for k, v in self.trainer.network.state_dict().items()}
        mu = float((extra or {}).get("proximal_mu", self.proximal_mu) or 0.0)
        loss_function = self.trainer.loss_function
        if mu > 0:
            self.trainer.loss_function = _ProximalLoss(loss_function, self.trainer.network, mu)
        state = self.trainer.state
        epoch0, iteration0 = state.epoch, state.iteration
        state.max_epochs = state.epoch + self.local_epochs
        try:
            self.trainer.run()
        finally:
            self.trainer.loss_function = loss_function
        epochs = state.epoch - epoch0
        examples = len(self.trainer.data_loader.dataset)
        self._stats = {
            Statistics.NUM_EXECUTED_ITERATIONS: int(state.iteration - iteration0),
            Statistics.NUM_EXECUTED_EXAMPLES: int(examples * epochs),
            Statistics.NUM_EXAMPLES: int(examples),
        }
        loss = getattr(state, "epoch_loss", None)
        if loss is None:
            loss = getattr(state, "output", None)
            loss = loss.get("loss") if isinstance(loss, dict) else None
        self._train_metrics = {"train_loss": float(loss)} if loss is not None else {}

    def get_weights(self, extra: dict | None = None) -> ExchangeObject:
        """The local model (full weights, or the difference from the last global weights), on the CPU."""
        self._require()
        weights = {k: v.detach().cpu().clone() for k, v in self.trainer.network.state_dict().items()}
        kind = WeightType.WEIGHTS
        if self.send_weight_diff and self._global is not None:
            weights = {k: v - self._global[k].cpu() for k, v in weights.items()}
            kind = WeightType.WEIGHT_DIFF
        return ExchangeObject(weights=weights, weight_type=kind, metrics=dict(getattr(self, "_train_metrics", {})),
                              statistics=dict(self._stats))

    def evaluate(self, data: Any, extra: dict | None = None) -> ExchangeObject:
        """Score the given weights with the bundle's evaluator on the local validation data.

        Raises:
            FederatedLearningError: the bundle has no ``validate::evaluator``.
        """
        self._require()
        if self.evaluator is None:
            raise FederatedLearningError(f"'{self.config_file}' has no validate::evaluator to evaluate with")
        self._load(data)
        self.evaluator.run()
        metrics = {k: float(v) for k, v in self.evaluator.state.metrics.items()
                   if isinstance(v, (int, float)) or getattr(v, "numel", lambda: 0)() == 1}
        loader = getattr(self.evaluator, "data_loader", None)
        count = len(loader.dataset) if loader is not None and hasattr(loader, "dataset") else 0
        return ExchangeObject(metrics={k: v for k, v in metrics.items() if not math.isnan(v)},
                              statistics={Statistics.NUM_EXAMPLES: count})

    def get_data_stats(self, extra: dict | None = None) -> ExchangeObject:
        """The local data's size (MONAI's ``ClientAlgoStats``; no histograms)."""
        self._require()
        return ExchangeObject(statistics={"data_count": len(self.trainer.data_loader.dataset)})


class _ProximalLoss:
    """FedProx's local objective: the bundle's loss plus ``mu / 2 * ||w - w_global||^2``."""

    def __init__(self, loss_function: Any, network: Any, mu: float) -> None:
        self.loss_function, self.network, self.mu = loss_function, network, mu
        self.anchor = [p.detach().clone() for p in network.parameters()]

    def __call__(self, pred: Any, target: Any) -> Any:
        penalty = sum(((p - a) ** 2).sum() for p, a in zip(self.network.parameters(), self.anchor))
        return self.loss_function(pred, target) + 0.5 * self.mu * penalty


def _with_monai_base() -> type:
    try:
        from monai.fl.client.client_algo import ClientAlgo
    except ImportError:
        return ClientAlgorithm

    class BundleAlgo(ClientAlgorithm, ClientAlgo):
        """``ClientAlgorithm`` that is also a ``monai.fl.client.ClientAlgo``, so MONAI FL drivers take it.

        It receives and returns MONAI's ``ExchangeObject`` where one is passed in.
        """

        def train(self, data: Any, extra: dict | None = None) -> None:
            ClientAlgorithm.train(self, data, extra)

        def get_weights(self, extra: dict | None = None) -> Any:
            return ClientAlgorithm.get_weights(self, extra).to_monai()

        def evaluate(self, data: Any, extra: dict | None = None) -> Any:
            return ClientAlgorithm.evaluate(self, data, extra).to_monai()

        def get_data_stats(self, extra: dict | None = None) -> Any:
            return ClientAlgorithm.get_data_stats(self, extra).to_monai()

    return BundleAlgo


def __getattr__(name: str) -> Any:
    # MONAI is imported only when BundleAlgo is asked for: the Flower client uses ClientAlgorithm
    if name == "BundleAlgo":
        cls = _with_monai_base()
        cls.__module__ = __name__
        globals()["BundleAlgo"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


