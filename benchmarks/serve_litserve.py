"""The LitServe side of `serve.py`: a zoo bundle's model behind LitServe (LitAPI with its own batching),
the Open Inference Protocol's JSON request in at `/predict` and its JSON response out, the network
run by the same `ServedModel.forward` as `bundle serve`'s. Started by `serve.py`; LitServe's workers
are spawned processes, so the LitAPI lives at this module's top level where they can find it.

    .venv/bin/python benchmarks/serve_litserve.py zoo/digits_classification --port 8001 --max-batch 16
"""

from __future__ import annotations

import argparse
from pathlib import Path

import litserve as ls
import numpy as np


class OpenInferenceJSON(ls.LitAPI):
    """One input and one output tensor as OIP JSON; a request is one sample (batch 1)."""

    def __init__(self, bundle: Path, threads: int | None, **options: object) -> None:
        super().__init__(**options)
        self.bundle, self.threads = bundle, threads

    def setup(self, device: str) -> None:
        from bundle.serve.model import load_model

        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        self.model = load_model(self.bundle)
        self.model.warm_up()

    def decode_request(self, request: dict) -> np.ndarray:
        item = request["inputs"][0]
        return np.asarray(item["data"], dtype=np.float32).reshape(item["shape"])

    def batch(self, inputs: list) -> np.ndarray:
        return np.concatenate(inputs)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.forward(x)[0]

    def unbatch(self, output: np.ndarray) -> list:
        return [output[i:i + 1] for i in range(output.shape[0])]

    def encode_response(self, output: np.ndarray) -> dict:
        return {"model_name": self.bundle.name, "model_version": self.model.version,
                "outputs": [{"name": self.model.outputs[0].name, "datatype": "FP32", "shape": list(output.shape),
                             "data": output.reshape(-1).tolist()}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--batch-timeout-ms", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads in the worker")
    parser.add_argument("--fast-queue", action="store_true", help="LitServe's ZeroMQ queues (its advice above 100 req/s)")
    args = parser.parse_args()
    api = OpenInferenceJSON(args.bundle.resolve(), args.threads, max_batch_size=args.max_batch,
                            batch_timeout=args.batch_timeout_ms / 1000)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, fast_queue=args.fast_queue)
    server.run(host="127.0.0.1", port=args.port, log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    main()
