"""Run a bundle's federation with NVFlare's FedAvg recipe on its simulator (docs/federated.md, "NVFlare").

    python docs/nvflare/job.py BUNDLE [--clients 2] [--rounds 2] [--local-epochs 1] [--workspace DIR]

The global model ends in WORKSPACE/NAME/server/simulate_job/app_server/FL_global_model.pt.
"""

import argparse
from pathlib import Path

from nvflare.app_opt.pt.recipes.fedavg import FedAvgRecipe
from nvflare.recipe import SimEnv

from bundle import ComponentLocator, ConfigParser


def network_config(bundle: Path) -> dict:
    """The bundle's ``network_def`` as NVFlare's ``{"class_path", "args"}``: NVFlare imports the class
    where it is installed (given a model object, it would copy the class's source into the job)."""
    config = bundle / "configs" / "train.json"
    if not config.is_file():
        raise SystemExit(f"error: {bundle} has no configs/train.json: NVFlare's sites train with it")
    parser = ConfigParser()
    parser.read_config(str(config))
    if "network_def" not in parser:
        raise SystemExit(f"error: {config} has no 'network_def': the recipe builds the global model from it")
    definition = parser["network_def"]
    args = {key: parser.get_parsed_content(f"network_def::{key}") for key in definition if not key.startswith("_")}
    return {"class_path": ComponentLocator().resolve_name(definition["_target_"]), "args": args}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--local-epochs", type=int, default=1)
    parser.add_argument("--workspace", default="/tmp/nvflare/simulation")
    args = parser.parse_args()
    bundle = args.bundle.resolve()
    recipe = FedAvgRecipe(
        name=bundle.name, model=network_config(bundle), min_clients=args.clients, num_rounds=args.rounds,
        train_script=str(Path(__file__).with_name("client.py")),
        train_args=f"{bundle} --local-epochs {args.local_epochs} --simulate {args.clients}", key_metric="val_accuracy",
    )
    run = recipe.execute(SimEnv(num_clients=args.clients, workspace_root=args.workspace))
    print(f"result: {run.get_result()}")


if __name__ == "__main__":
    main()
