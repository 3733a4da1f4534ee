"""An NVFlare Client API script that trains a bundle with BundleAlgo (docs/federated.md, "NVFlare").

    client.py BUNDLE [--local-epochs E] [--data DIR] [--simulate N]

--data DIR: this site's dataset folder (the bundle's dataset_dir). --simulate N: NVFlare's simulator
names its sites site-1 ... site-N; site-i trains on shard i-1 of N of the bundle's own data.
"""

import argparse

import nvflare.client as flare
import torch

from bundle.fl import BundleAlgo, ExchangeObject, WeightType

parser = argparse.ArgumentParser()
parser.add_argument("bundle")
parser.add_argument("--local-epochs", type=int, default=1)
parser.add_argument("--data", default=None)
parser.add_argument("--simulate", type=int, default=0)
args = parser.parse_args()

flare.init()
site = flare.get_site_name()
partition = f"{int(site.rsplit('-', 1)[1]) - 1}/{args.simulate}" if args.simulate else None
algo = BundleAlgo(args.bundle, local_epochs=args.local_epochs, client_name=site, partition=partition,
                  overrides={"dataset_dir": args.data} if args.data else None)
algo.initialize()
while flare.is_running():
    model = flare.receive()  # an FLModel with the global weights (torch tensors)
    global_weights = ExchangeObject(weights={k: torch.as_tensor(v) for k, v in model.params.items()},
                                    weight_type=WeightType.WEIGHTS)
    metrics = algo.evaluate(global_weights).metrics  # the global model on this site's validation data
    algo.train(global_weights)
    out = algo.get_weights()
    flare.send(flare.FLModel(params={k: v.cpu() for k, v in out.weights.items()}, metrics=metrics,
                             meta={"NUM_STEPS_CURRENT_ROUND": out.statistics["num_executed_iterations"]}))
algo.finalize()
