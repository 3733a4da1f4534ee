"""Federation overhead: per round, the round's wall time minus the slowest client's local training
time, as a ratio of that training time (goal <= 0.15), and the bytes each client sends and receives
per round against the model's size (goal <= 1.1x per direction). Digits bundle, 3 local clients.

    python benchmarks/fl.py [--rounds 3] [--local-epochs 1] [--no-warm]

``--no-warm`` starts every ClientApp process cold, as Flower does, instead of forking it from the warm
launcher (``bundle.fl.warm``).

A round's wall time runs from the previous round's checkpoint to this one's (the server's
evaluate function is called with the new global model), so it includes the server's evaluation of
the global model, sending, the client processes' start-up, aggregation and the checkpoint. Its parts:
``dispatch_s`` from the round's start to the first client process starting (the previous round's
evaluation, the SuperNodes noticing the message, the SuperExec starting a process),
``client_process_s`` the longest a client process took before it trained (Flower starts one per
message; cold: Python, flwr, torch, then pulling the message, the bundle's build; forked warm: pulling
the message from its SuperNode and the build), ``return_s`` from the last reply leaving a
client to the server having all replies, ``server_s`` aggregation, checks and the checkpoint.
Client and server clocks are the same machine's.
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
    parser.add_argument("--warm", action=argparse.BooleanOptionalAction, default=True,
                        help="fork the ClientApp processes from the warm launcher (default) or start them cold")
    args = parser.parse_args()
    import torch

    from bundle.fl.local import run_local_federation

    bundle = REPO / "zoo" / "digits_classification"
    with tempfile.TemporaryDirectory() as tmp:
        result = run_local_federation(bundle, clients=3, rounds=args.rounds, local_epochs=args.local_epochs,
                                      partition="iid", output=Path(tmp) / "out", run_config={"device": "cpu"},
                                      warm=args.warm)
        model_bytes = sum(v.numel() * v.element_size() for v in
                          torch.load(Path(tmp) / "out" / "models" / "model.pt", weights_only=True).values())
    rounds = result["rounds"]
    print(f"model: {model_bytes} bytes of tensors; ClientApp processes {'forked warm' if args.warm else 'started cold'}")
    print("round  wall_s  slowest_train_s  overhead_ratio  | dispatch_s  client_process_s  return_s  server_s"
          "  | sent/model  received/model")
    for prev, entry in zip(rounds, rounds[1:]):
        wall = entry["time"] - prev["time"]
        clients = list(entry["clients"].values())
        slowest = max(c["train-seconds"] for c in clients)
        lived = [c["startup-seconds"] + c["build-seconds"] + c["train-seconds"] for c in clients]
        # the message reaching the sites' SuperNodes and a ClientApp process being started for it
        dispatch = min(c["replied-at"] - t for c, t in zip(clients, lived)) - prev["time"]
        # a client process from its start to its training: Python, flwr, torch, the bundle's build
        process = max(c["startup-seconds"] + c["build-seconds"] for c in clients)
        back = entry["replies-time"] - max(c["replied-at"] for c in clients)  # the replies reaching the server
        server = entry["time"] - entry["replies-time"]  # aggregation, checks, the checkpoint
        sent = max(c["bytes-sent"] for c in clients) / model_bytes
        received = max(c["bytes-received"] for c in clients) / model_bytes
        print(f"{entry['round']:>5}  {wall:6.2f}  {slowest:15.2f}  {(wall - slowest) / slowest:14.2f}"
              f"  | {dispatch:10.2f}  {process:16.2f}  {back:8.2f}  {server:8.2f}"
              f"  | {sent:10.3f}  {received:14.3f}")
        print(f"       (the server's evaluation of the global model: {prev.get('evaluate-seconds', 0.0):.2f} s"
              " of the dispatch)")


if __name__ == "__main__":
    main()
