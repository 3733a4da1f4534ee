"""``fl``: federated learning with Flower: ``fl run`` (a local federation), ``fl server`` and
``fl client`` (real sites)."""

from __future__ import annotations

import json

ACTIONS = ("run", "server", "client")


def fl(
    action: str,
    bundle: str = "",
    clients: int = 2,
    rounds: int = 2,
    local_epochs: int = 1,
    partition: str = "iid",
    strategy: str = "fedavg",
    proximal_mu: float = 0.01,
    output: str | None = None,
    summary: str | None = None,
    seed: int = 0,
    device: str = "",
    host: str = "0.0.0.0",
    port: int = 9092,
    superlink: str = "",
    data: str | None = None,
    name: str | None = None,
    site_partition: str | None = None,
    insecure: bool = False,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    ssl_ca_certfile: str | None = None,
    root_certificates: str | None = None,
    connect_timeout: float = 60.0,
    warm: bool = True,
) -> int:
    """Train a bundle as a federation on Flower.

    fl run BUNDLE --clients N --rounds R [--local_epochs E] [--partition iid|label] [--summary FILE]:
    a SuperLink and N SuperNodes on 127.0.0.1 as processes, each site on its shard; the global model
    is written each round to --output (default BUNDLE-federated) as a bundle.
    fl server BUNDLE --clients N --rounds R [--port 9092] [--ssl_certfile C --ssl_keyfile K
    --ssl_ca_certfile CA | --insecure]: a SuperLink for real sites; the run starts with N sites.
    fl client BUNDLE --superlink HOST:PORT --data DIR [--root_certificates CA | --insecure]: a site.

    Args:
        action: run, server or client.
        bundle: the bundle folder (with configs/train.json).
        clients: sites (run: started here; server: waited for).
        rounds: federated rounds.
        local_epochs: epochs each site trains per round.
        partition: run: iid or label (label-skewed shards).
        strategy: fedavg (weighted by examples), fedavg-uniform or fedprox.
        proximal_mu: FedProx's mu.
        output: the folder the global model is written to as a bundle.
        summary: a JSON file: {"rounds": [{"round": r, "metrics": {...}, "failed": [...]}, ...]}.
        seed: seeds the initial weights and the shards.
        device: where sites train (cpu, cuda); default the bundle's.
        host: server: the address the SuperLink listens on.
        port: server: its port.
        superlink: client: HOST:PORT of the SuperLink.
        data: client: this site's dataset folder (the bundle's dataset_dir).
        name: client: this site's name in the summary.
        site_partition: client: I/N, train on shard I of N of the bundle's own data (experiments;
            --partition chooses iid or label).
        insecure: plain HTTP, no TLS (server and client).
        ssl_certfile: server: the SuperLink's TLS certificate.
        ssl_keyfile: server: its private key.
        ssl_ca_certfile: server: the CA certificate (also what the run submission trusts).
        root_certificates: client: the CA file the SuperLink's certificate is checked with.
        connect_timeout: client: give up when the SuperLink is not reachable for this many seconds.
        warm: fork the ClientApp processes (one per message, as Flower starts them) and the ServerApp
            from a launcher that has imported flwr, torch and the bundle engine once; --nowarm starts
            each cold.
    """
    from bundle.fl.exchange import FederatedLearningError

    if action not in ACTIONS:
        raise FederatedLearningError(f"unknown fl action '{action}'", hint=f"use one of {', '.join(ACTIONS)}")
    if not bundle and action != "client":
        raise FederatedLearningError(f"fl {action} needs a bundle folder", hint=f"bundle fl {action} BUNDLE ...")
    from bundle.fl import local

    run_config = {"proximal-mu": proximal_mu, "device": device}
    if action == "client":
        if not superlink:
            raise FederatedLearningError("fl client needs --superlink HOST:PORT")
        local.run_supernode(superlink, bundle=bundle or None, data_dir=data, name=name, partition=site_partition,
                            root_certificates=root_certificates, insecure=insecure,
                            connect_timeout=connect_timeout, output=print, warm=warm)
        return 0
    tls = None
    if action == "server" and not insecure:
        tls = {"ssl-certfile": ssl_certfile, "ssl-keyfile": ssl_keyfile, "ssl-ca-certfile": ssl_ca_certfile}
    result = local.run_local_federation(
        bundle, clients=clients, rounds=rounds, local_epochs=local_epochs, partition=partition,
        strategy=strategy, output=output, summary=summary, seed=seed, run_config=run_config,
        host="127.0.0.1" if action == "run" else host, port=None if action == "run" else port,
        start_nodes=action == "run", tls=tls, warm=warm,  # type: ignore[arg-type]
    )
    for entry in result["rounds"]:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in entry["metrics"].items() if isinstance(v, float))
        extra = "".join(f"; {f['client']} failed" for f in entry.get("failed", []))
        extra += "".join(f"; {r['client']} rejected" for r in entry.get("rejected", []))
        print(f"round {entry['round']}: {shown or 'no metrics'}{extra}")
    print(f"global model: {result['output']}/models/model.pt")
    if summary:
        print(f"summary: {summary}")
    else:
        print(json.dumps({"rounds": [{"round": r["round"], "metrics": r["metrics"]} for r in result["rounds"]]}))
    return 0
