"""Federation overhead: per round, the round's wall time minus the slowest client's local training
time, as a ratio of that training time (goal <= 0.15), and the bytes each client sends and receives
per round against the model's size (goal <= 1.1x per direction). Digits bundle, 3 local clients.

    python benchmarks/fl.py [--rounds 3] [--local-epochs 1]

A round's wall time runs from the end of the previous round's global evaluation to the end of
this one's, so it includes sending, the client processes' start-up, aggregation, the checkpoint
and the server's evaluation of the global model.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--local-epochs", type=int, default=1)
    args = parser.parse_args()
    import torch

    from bundle.fl.local import run_local_federation

    bundle = REPO / "zoo" / "digits_classification"
    with tempfile.TemporaryDirectory() as tmp:
        result = run_local_federation(bundle, clients=3, rounds=args.rounds, local_epochs=args.local_epochs,
                                      partition="iid", output=Path(tmp) / "out", run_config={"device": "cpu"})
        model_bytes = sum(v.numel() * v.element_size() for v in
                          torch.load(Path(tmp) / "out" / "models" / "model.pt", weights_only=True).values())
    rounds = result["rounds"]
    print(f"model: {model_bytes} bytes of tensors")
    print("round  wall_s  slowest_train_s  overhead_ratio  sent/model  received/model")
    for prev, entry in zip(rounds, rounds[1:]):
        wall = entry["time"] - prev["time"]
        clients = entry["clients"].values()
        slowest = max(c["train-seconds"] for c in clients)
        sent = max(c["bytes-sent"] for c in clients) / model_bytes
        received = max(c["bytes-received"] for c in clients) / model_bytes
        print(f"{entry['round']:>5}  {wall:6.2f}  {slowest:15.2f}  {(wall - slowest) / slowest:14.2f}"
              f"  {sent:10.3f}  {received:14.3f}")


if __name__ == "__main__":
    main()
