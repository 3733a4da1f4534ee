"""Flower apps built from a bundle: ``client_app`` trains the site's data with ``ClientAlgorithm``;
``server_app`` runs FedAvg (example-weighted), uniform FedAvg or FedProx, checks every client's
weights before they are averaged, scores the global model each round and writes it into a bundle
(``models/model.pt``, atomically).

Both read the run config (``[tool.flwr.app.config]``, see ``RUN_CONFIG``); a SuperNode's node
config gives the site: ``partition-id``/``num-partitions`` (a shard of the bundle's own data) or
``data-dir`` (the site's dataset folder, set as ``dataset_dir``), and optionally ``bundle``.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from bundle.atomic import write_atomic
from bundle.fl.algo import ClientAlgorithm
from bundle.fl.exchange import ExchangeObject, FederatedLearningError, Statistics, WeightType

__all__ = ["RUN_CONFIG", "STRATEGIES", "client_app", "server_app", "check_client_weights", "make_strategy",
           "PromptGrid"]

logger = logging.getLogger(__name__)

STRATEGIES = ("fedavg", "fedavg-uniform", "fedprox")

# what clients report about the work rather than the model
BOOKKEEPING = frozenset({"num-examples", "num-iterations", "num-executed-examples", "unit-weight", "train-seconds",
                         "bytes-sent", "bytes-received", "pid", "startup-seconds", "build-seconds", "replied-at"})

# the run config keys and their defaults (``flwr run --run-config 'num-rounds=3 ...'``)
RUN_CONFIG: dict[str, Any] = {
    "bundle": "",  # the bundle folder (the server's; a SuperNode may name its own with node config)
    "config": "train",
    "num-rounds": 2,
    "local-epochs": 1,
    "strategy": "fedavg",
    "proximal-mu": 0.01,
    "partition-mode": "iid",
    "seed": 0,
    "min-clients": 2,
    "output": "",  # the folder the global model is written to as a bundle ("" : no checkpoint)
    "summary": "",  # a JSON file with each round's metrics and failures
    "record-clients": "",  # a folder to keep each client's reported weights (inspection, tests)
    "round-timeout": 600.0,
    "device": "",
    "reply-poll-interval": 0.1,  # seconds between the server's checks for the clients' replies (Flower's: 3)
}


def _config(context: Context) -> dict[str, Any]:
    return {**RUN_CONFIG, **dict(context.run_config)}


# --- the client --------------------------------------------------------------------------------

client_app = ClientApp()


def _client_algo(context: Context) -> ClientAlgorithm:
    rc, node = _config(context), dict(context.node_config)
    bundle = str(node.get("bundle") or rc["bundle"])
    overrides = {"dataset_dir": str(node["data-dir"])} if node.get("data-dir") else {}
    partition = None
    if "partition-id" in node and "num-partitions" in node:
        partition = (int(node["partition-id"]), int(node["num-partitions"]))
    name = str(node.get("name") or (f"site-{partition[0]}" if partition else f"node-{context.node_id}"))
    algo = ClientAlgorithm(
        bundle, config=str(rc["config"]), local_epochs=int(rc["local-epochs"]), partition=partition,
        partition_mode=str(rc["partition-mode"]), seed=int(rc["seed"]), overrides=overrides,
        device=str(rc["device"]) or None, client_name=name,
    )
    algo.initialize()
    return algo


def _process_age() -> float:
    """Seconds since this process started (Linux; -1.0 where ``/proc`` does not tell)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: start time in clock ticks
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return uptime - started / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return -1.0


def _weights_in(msg: Message) -> ExchangeObject:
    arrays = msg.content.array_records["arrays"]
    return ExchangeObject(weights=arrays.to_torch_state_dict(), weight_type=WeightType.WEIGHTS)


@client_app.train()
def client_train(msg: Message, context: Context) -> Message:
    """One round of local training: the global weights in, the local weights and counts out."""
    startup = _process_age()  # Flower starts a ClientApp process per message: its start-up is part of the round
    started = time.perf_counter()
    algo = _client_algo(context)
    build = time.perf_counter() - started
    config = msg.content.config_records.get("config", ConfigRecord())
    started = time.perf_counter()
    mu = config.get("proximal-mu", 0.0)
    if not isinstance(mu, (int, float)):
        raise FederatedLearningError(f"the run config's proximal-mu must be a number, not {mu!r}")
    algo.train(_weights_in(msg), extra={"proximal_mu": float(mu)})
    seconds = time.perf_counter() - started
    out = algo.get_weights()
    if out.weights is None:
        raise FederatedLearningError(f"client {algo.client_name} returned no weights")
    metrics: dict[str, Any] = {
        "num-examples": out.statistics[Statistics.NUM_EXAMPLES],
        "num-iterations": out.statistics[Statistics.NUM_EXECUTED_ITERATIONS],
        "num-executed-examples": out.statistics[Statistics.NUM_EXECUTED_EXAMPLES],
        "unit-weight": 1,
        "train-seconds": seconds,
        "pid": os.getpid(),
        "startup-seconds": startup,
        "build-seconds": build,
        "bytes-received": msg.content.array_records["arrays"].count_bytes(),
        **out.metrics,
    }
    arrays = ArrayRecord(out.weights)
    metrics["bytes-sent"] = arrays.count_bytes()
    metrics["replied-at"] = time.time()
    content = RecordDict({
        "arrays": arrays, "metrics": MetricRecord(metrics),
        "client": ConfigRecord({"name": algo.client_name}),
    })
    return Message(content=content, reply_to=msg)


@client_app.evaluate()
def client_evaluate(msg: Message, context: Context) -> Message:
    """Score the global weights on the site's validation data."""
    algo = _client_algo(context)
    out = algo.evaluate(_weights_in(msg))
    metrics: dict[str, Any] = {"num-examples": out.statistics.get(Statistics.NUM_EXAMPLES, 0), "unit-weight": 1,
                               **out.metrics}
    content = RecordDict({"metrics": MetricRecord(metrics), "client": ConfigRecord({"name": algo.client_name})})
    return Message(content=content, reply_to=msg)


# --- checking a client's weights ---------------------------------------------------------------

def check_client_weights(name: str, weights: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """Why ``weights`` from client ``name`` cannot be averaged into ``reference`` (empty: they can).

    Checks the names, the shapes and that every floating-point value is finite.

    Example:
        >>> check_client_weights("site-1", {"w": torch.ones(2)}, {"w": torch.zeros(3)})
        ["site-1: 'w' has shape (2,), the global model (3,)"]
    """
    import torch

    problems = []
    unexpected, missing = sorted(set(weights) - set(reference)), sorted(set(reference) - set(weights))
    if unexpected:
        problems.append(f"{name}: unexpected weights {unexpected[:5]}")
    if missing:
        problems.append(f"{name}: missing weights {missing[:5]}")
    for key in sorted(set(weights) & set(reference)):
        value, ref = torch.as_tensor(weights[key]), torch.as_tensor(reference[key])
        if tuple(value.shape) != tuple(ref.shape):
            problems.append(f"{name}: '{key}' has shape {tuple(value.shape)}, the global model {tuple(ref.shape)}")
        elif value.is_floating_point() and not bool(torch.isfinite(value).all()):
            problems.append(f"{name}: '{key}' holds NaN or infinite values")
    return problems


# --- the server --------------------------------------------------------------------------------

class PromptGrid(Grid):
    """Flower's ``Grid`` with shorter waits for the clients' replies; every other call is the wrapped grid's.

    Flower's HTTP grid (``flwr/superlink/grid/http_grid.py``) sleeps 3 s between pulls in
    ``send_and_receive``, so a round ends up to 3 s after its last reply arrived; this one pulls every
    ``poll_interval`` seconds. And a reply is listed as soon as its SuperNode announced it, while the
    SuperNode still uploads its arrays: the grid's ``pull_objects`` then waits 1, 2, 4, 8... s
    (``PULL_INITIAL_BACKOFF``, ``PULL_BACKOFF_CAP`` in ``flwr/supercore/constant.py``) between tries,
    which cost rounds of three clients 20 s on a busy machine. While this grid pulls, the grid
    module's ``pull_objects`` is Flower's own function with ``poll_interval`` as its first wait and
    1 s as its longest.
    """

    def __init__(self, grid: Grid, poll_interval: float, on_unanswered: Any = None) -> None:
        self.grid = grid
        self.poll_interval = poll_interval
        self.on_unanswered = on_unanswered  # called with the messages no reply came for, and the timeout

    def set_run(self, run: Any) -> None:
        self.grid.set_run(run)

    @property
    def run(self) -> Any:
        return self.grid.run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return self.grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Any:
        return self.grid.get_node_ids()

    def get_nodes(self) -> Any:
        return self.grid.get_nodes()

    def push_messages(self, messages: Any) -> Any:
        return self.grid.push_messages(messages)

    def pull_messages(self, message_ids: Any) -> Any:
        module = sys.modules.get(type(self.grid).__module__)
        pull_objects = getattr(module, "pull_objects", None)
        if pull_objects is None:  # not Flower's HTTP grid (or a Flower that pulls otherwise)
            return list(self.grid.pull_messages(message_ids))
        module.pull_objects = functools.partial(  # type: ignore[union-attr]
            pull_objects, initial_backoff=self.poll_interval, backoff_cap=1.0)
        try:
            return list(self.grid.pull_messages(message_ids))
        finally:
            module.pull_objects = pull_objects  # type: ignore[union-attr]

    def send_and_receive(self, messages: Any, *, timeout: float | None = None) -> list[Message]:
        """Push ``messages``, then pull their replies until all came or ``timeout`` seconds passed."""
        messages = list(messages)
        sent = dict(zip(self.push_messages(messages), messages))
        waiting = set(sent)
        end = time.time() + (timeout if timeout is not None else 0.0)
        replies: list[Message] = []
        while waiting and (timeout is None or time.time() < end):
            pulled = list(self.pull_messages(waiting))
            replies.extend(pulled)
            waiting.difference_update(m.metadata.reply_to_message_id for m in pulled)
            if waiting:
                time.sleep(self.poll_interval)
        if waiting and self.on_unanswered is not None:
            self.on_unanswered([sent[i] for i in waiting], timeout)
        return replies


def make_strategy(name: str, *, min_clients: int, proximal_mu: float, evaluate_clients: bool, record: Any) -> Any:
    """A Flower strategy whose ``aggregate_train`` drops (and records) failed or bad replies.

    Args:
        name: ``fedavg`` (weighted by each client's examples), ``fedavg-uniform`` or ``fedprox``.
        min_clients: clients needed to start a round.
        proximal_mu: FedProx's ``mu``.
        evaluate_clients: also score the global model on every client's validation data.
        record: the ``_Rounds`` that collects what each round did.
    """
    from flwr.serverapp.strategy import FedAvg, FedProx

    if name not in STRATEGIES:
        raise FederatedLearningError(f"unknown strategy '{name}'", hint=f"use one of {', '.join(STRATEGIES)}")
    base = FedProx if name == "fedprox" else FedAvg
    options: dict[str, Any] = {
        "min_train_nodes": min_clients, "min_available_nodes": min_clients,
        "min_evaluate_nodes": min_clients if evaluate_clients else 0,
        "fraction_evaluate": 1.0 if evaluate_clients else 0.0,
        "weighted_by_key": "unit-weight" if name == "fedavg-uniform" else "num-examples",
    }
    if name == "fedprox":
        options["proximal_mu"] = proximal_mu

    class CheckedStrategy(base):  # type: ignore[misc, valid-type]
        def aggregate_train(self, server_round: int, replies: Any) -> Any:
            good = record.screen(server_round, list(replies))
            if not good:
                logger.warning("round %d: no client returned usable weights; the global model is unchanged",
                               server_round)
                return None, None
            return super().aggregate_train(server_round, good)

    return CheckedStrategy(**options)


def _client_name(msg: Message, names: dict[int, str]) -> str:
    node = msg.metadata.src_node_id
    if not msg.has_error() and "client" in msg.content.config_records:
        names[node] = str(msg.content.config_records["client"]["name"])
    return names.get(node, f"node-{node}")


class _Rounds:
    """What each round did: clients used, clients rejected or failed, metrics; written as the summary."""

    def __init__(self, reference: dict[str, Any], record_dir: str, summary: str) -> None:
        self.reference = reference
        self.record_dir = Path(record_dir) if record_dir else None
        self.summary = Path(summary) if summary else None
        self.names: dict[int, str] = {}
        self.rounds: dict[int, dict[str, Any]] = {}

    def entry(self, server_round: int) -> dict[str, Any]:
        return self.rounds.setdefault(server_round, {"round": server_round, "metrics": {}, "clients": {},
                                                     "failed": [], "rejected": []})

    def unanswered(self, messages: list[Message], seconds: float) -> None:
        """Name the clients whose reply did not come within the round's timeout as failed."""
        for msg in messages:
            config = msg.content.config_records.get("config", ConfigRecord())
            server_round = int(config.get("server-round", 0))  # type: ignore[arg-type]
            name = self.names.get(msg.metadata.dst_node_id, f"node-{msg.metadata.dst_node_id}")
            reason = f"no {msg.metadata.message_type} reply within {seconds:g} s (run config round-timeout)"
            self.entry(server_round)["failed"].append({"client": name, "reason": reason})
            logger.warning("round %d: %s failed: %s", server_round, name, reason)
        self.write()

    def screen(self, server_round: int, replies: list[Message]) -> list[Message]:
        import torch

        entry, good = self.entry(server_round), []
        entry["replies-time"] = time.time()  # when the last reply came (or the round timed out)
        for msg in replies:
            name = _client_name(msg, self.names)
            if msg.has_error():
                entry["failed"].append({"client": name, "reason": str(msg.error.reason)})
                logger.warning("round %d: %s failed: %s", server_round, name, msg.error.reason)
                continue
            arrays = msg.content.array_records.get("arrays")
            weights = arrays.to_torch_state_dict() if arrays is not None else {}
            problems = check_client_weights(name, weights, self.reference) if weights else [f"{name}: no weights"]
            if problems:
                entry["rejected"].append({"client": name, "problems": problems})
                logger.warning("round %d: rejected the weights of %s: %s", server_round, name, "; ".join(problems))
                continue
            metrics = dict(msg.content.metric_records["metrics"])
            entry["clients"][name] = metrics
            if self.record_dir is not None:
                path = self.record_dir / f"round-{server_round}" / f"{name}.pt"
                path.parent.mkdir(parents=True, exist_ok=True)
                buffer = io.BytesIO()
                torch.save({"weights": weights, "metrics": metrics}, buffer)
                write_atomic(path, buffer.getvalue())
            good.append(msg)
        self.write()
        return good

    def write(self) -> None:
        if self.summary is None:
            return
        rounds = [self.rounds[r] for r in sorted(self.rounds)]
        self.summary.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.summary, json.dumps({"rounds": rounds}, indent=2, default=float) + "\n")


def prepare_output_bundle(bundle: Path, output: Path) -> None:
    """Copy the bundle (without its weights) to ``output``, unless it is already a bundle."""
    if (output / "configs").is_dir():
        return
    if output.resolve() == bundle.resolve():
        return
    shutil.copytree(bundle, output, ignore=shutil.ignore_patterns("models", "logs", "eval", "__pycache__"),
                    dirs_exist_ok=True)
    (output / "models").mkdir(parents=True, exist_ok=True)


def save_global_model(output: Path, state_dict: dict[str, Any]) -> Path:
    """Write ``models/model.pt`` of the output bundle atomically (never a half-written checkpoint)."""
    import torch

    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    path = output / "models" / "model.pt"
    write_atomic(path, buffer.getvalue())
    return path


server_app = ServerApp()


@server_app.main()
def server_main(grid: Grid, context: Context) -> None:
    """Run the federation: initial weights from the bundle's network (seeded), R rounds, the
    global model scored on the server's validation data and written each round."""
    import torch

    from bundle.format.bundle import Bundle

    rc = _config(context)
    bundle = Path(str(rc["bundle"]))
    if not bundle.is_dir():
        raise FederatedLearningError(f"bundle '{bundle}' does not exist", hint="set run config bundle=PATH")
    torch.manual_seed(int(rc["seed"]))
    network = Bundle(bundle).build_network(config=str(rc["config"]), weights=None, device="cpu")
    reference = {k: v.detach().clone() for k, v in network.state_dict().items()}
    rounds = _Rounds(reference, str(rc["record-clients"]), str(rc["summary"]))
    output = Path(str(rc["output"])) if rc["output"] else None
    if output is not None:
        prepare_output_bundle(bundle, output)
    scorer = ClientAlgorithm(bundle, config=str(rc["config"]), device="cpu", client_name="server")
    scorer.initialize()
    has_evaluator = scorer.evaluator is not None

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        state = {k: v.to(reference[k].dtype) for k, v in arrays.to_torch_state_dict().items()}
        if server_round > 0 and output is not None:
            save_global_model(output, state)
        entry = rounds.entry(server_round)
        entry["time"] = time.time()
        if not has_evaluator:
            rounds.write()
            return None
        metrics = scorer.evaluate(ExchangeObject(weights=state, weight_type=WeightType.WEIGHTS)).metrics
        entry["evaluate-seconds"] = time.time() - entry["time"]
        entry["metrics"].update(metrics)
        rounds.write()
        return MetricRecord({**metrics})

    strategy = make_strategy(str(rc["strategy"]), min_clients=int(rc["min-clients"]),
                             proximal_mu=float(rc["proximal-mu"]), evaluate_clients=not has_evaluator,
                             record=rounds)
    train_config = ConfigRecord({"proximal-mu": float(rc["proximal-mu"]) if rc["strategy"] == "fedprox" else 0.0})
    grid = PromptGrid(grid, float(rc["reply-poll-interval"]), on_unanswered=rounds.unanswered)
    result = strategy.start(grid=grid, initial_arrays=ArrayRecord(reference), num_rounds=int(rc["num-rounds"]),
                            timeout=float(rc["round-timeout"]), train_config=train_config, evaluate_fn=evaluate)
    # the round's metrics are the model's (averaged by examples); the counts stay per client
    for server_round, metrics in result.train_metrics_clientapp.items():
        rounds.entry(server_round)["metrics"].update(
            {k: v for k, v in dict(metrics).items()
             if k not in BOOKKEEPING and not (isinstance(v, float) and math.isnan(v))})
    for server_round, metrics in result.evaluate_metrics_clientapp.items():
        rounds.entry(server_round)["metrics"].update(
            {k: v for k, v in dict(metrics).items() if k not in BOOKKEEPING})
    rounds.write()
