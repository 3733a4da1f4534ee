"""A real federation on this machine: a Flower SuperLink and N SuperNodes as separate processes on
127.0.0.1, ``flwr run`` of the bundle's apps on them, then every process stopped. No Ray."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from bundle.fl.exchange import FederatedLearningError

__all__ = ["run_local_federation", "write_app", "flower_command"]

SERVER_APP = "bundle.fl.flower:server_app"
CLIENT_APP = "bundle.fl.flower:client_app"


def flower_command(name: str) -> list[str]:
    """The command of a Flower executable (``flwr``, ``flower-superlink``...) of this Python."""
    exe = Path(sys.executable).with_name(name)
    if exe.exists():
        return [str(exe)]
    found = shutil.which(name)
    if found is None:
        raise FederatedLearningError(f"'{name}' was not found", hint="install the extra: pip install 'bundle[fl]'")
    return [found]


def _toml_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else ("true" if value else "false")


def write_app(folder: Path, run_config: Mapping[str, Any], *, server_app: str = SERVER_APP,
              client_app: str = CLIENT_APP, files: Mapping[str, str] | None = None) -> Path:
    """A Flower app folder (``pyproject.toml`` naming our apps, plus ``files``) for ``flwr run``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "[build-system]", 'requires = ["hatchling"]', 'build-backend = "hatchling.build"', "",
        "[project]", 'name = "bundlefl"', 'version = "1.0.0"', 'description = "a bundle as a federation"',
        'license = "Apache-2.0"', "dependencies = []", "",
        "[tool.flwr.app]", 'publisher = "bundle"', "",
        "[tool.flwr.app.components]", f'serverapp = "{server_app}"', f'clientapp = "{client_app}"', "",
        "[tool.flwr.app.config]",
    ]
    lines += [f'"{k}" = {_toml_value(v)}' for k, v in run_config.items()]
    (folder / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name, text in (files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _wait_port(port: int, process: subprocess.Popen, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FederatedLearningError(f"{what} exited with code {process.returncode}: {_tail(log)}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise FederatedLearningError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s: {_tail(log)}")


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(processes: Sequence[subprocess.Popen], grace: float = 10.0) -> None:
    for p in processes:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in processes:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def run_local_federation(
    bundle: str | os.PathLike,
    *,
    clients: int = 2,
    rounds: int = 2,
    local_epochs: int = 1,
    partition: str = "iid",
    strategy: str = "fedavg",
    output: str | os.PathLike | None = None,
    summary: str | os.PathLike | None = None,
    seed: int = 0,
    run_config: Mapping[str, Any] | None = None,
    client_app: str = CLIENT_APP,
    app_files: Mapping[str, str] | None = None,
    work_dir: str | os.PathLike | None = None,
    timeout: float = 900.0,
    on_started: Any = None,
) -> dict[str, Any]:
    """Train ``bundle`` as a federation of ``clients`` local sites, each on its shard of the data.

    Args:
        bundle: the bundle folder (with ``configs/train.json``).
        clients: the number of SuperNodes (sites); each trains on shard I/N of the train dataset.
        rounds: federated rounds.
        local_epochs: epochs each site trains per round.
        partition: ``iid`` or ``label`` (label-skewed shards).
        strategy: ``fedavg`` (weighted by examples), ``fedavg-uniform`` or ``fedprox``.
        output: the folder the global model is written to as a bundle (default ``BUNDLE-federated``
            next to the bundle).
        summary: a JSON file for each round's metrics, clients and failures.
        seed: seeds the initial weights and the partitions.
        run_config: more run config keys (``bundle.fl.flower.RUN_CONFIG``).
        client_app: the ``module:object`` of the client app.
        app_files: extra files for the app folder (a client app module of one's own).
        work_dir: where the processes keep their state and logs (default: a temporary folder).
        timeout: seconds for the whole run.
        on_started: called with ``{"superlink": Popen, "supernodes": [Popen, ...]}`` once running.

    Returns:
        The summary: ``{"rounds": [{"round": r, "metrics": {...}, "clients": {...}, "failed": [...],
        "rejected": [...]}, ...], "output": OUTPUT}``.

    Raises:
        FederatedLearningError: a process did not start, or the run failed or timed out (with its log).
    """
    bundle = Path(bundle).resolve()
    if not (bundle / "configs").is_dir():
        raise FederatedLearningError(f"'{bundle}' is not a bundle folder (no configs/)")
    if clients < 1 or rounds < 1:
        raise FederatedLearningError("clients and rounds must be at least 1")
    from bundle.fl.algo import _config_file

    _config_file(bundle, str((run_config or {}).get("config", "train")))  # no train config: fail before starting
    output = Path(output).resolve() if output else bundle.with_name(bundle.name + "-federated")
    temp = None if work_dir is not None else tempfile.TemporaryDirectory(prefix="bundle-fl-")
    work = Path(work_dir if work_dir is not None else temp.name).resolve()  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    summary_path = Path(summary).resolve() if summary else work / "summary.json"
    config = {
        "bundle": str(bundle), "num-rounds": rounds, "local-epochs": local_epochs, "strategy": strategy,
        "partition-mode": partition, "seed": seed, "min-clients": clients, "output": str(output),
        "summary": str(summary_path), **dict(run_config or {}),
    }
    app = write_app(work / "app", config, client_app=client_app, files=app_files)
    home = work / "flwr-home"
    home.mkdir(exist_ok=True)
    # Flower 1.42 serves its Runtime, Fleet and Control APIs over HTTP on one port
    link_port, *node_ports = _free_ports(1 + clients)
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "local"\n\n[superlink.local]\naddress = "127.0.0.1:{link_port}"\n'
        "insecure = true\n", encoding="utf-8")
    # the SuperLink and SuperNodes start flower-superexec, flwr-serverapp... by name: this Python's first
    bin_dir = str(Path(flower_command("flwr")[0]).parent)
    env = {**os.environ, "FLWR_HOME": str(home), "PYTHONUNBUFFERED": "1",
           "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    processes: list[subprocess.Popen] = []

    def start(cmd: list[str], log_name: str) -> subprocess.Popen:
        log = open(work / log_name, "wb")  # noqa: SIM115 (closed when the process is)
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work, start_new_session=True)
        log.close()
        processes.append(p)
        return p

    try:
        link = start(flower_command("flower-superlink") + [
            "--insecure", "--host", "127.0.0.1", "--port", str(link_port),
            "--database", str(work / "state.db"), "--disable-runtime-dependency-installation",
        ], "superlink.log")
        _wait_port(link_port, link, 60, "the SuperLink", work / "superlink.log")
        nodes = []
        for i in range(clients):
            nodes.append(start(flower_command("flower-supernode") + [
                "--insecure", "--superlink", f"127.0.0.1:{link_port}", "--host", "127.0.0.1",
                "--port", str(node_ports[i]), "--node-config", f"partition-id={i} num-partitions={clients}",
                "--max-retries", "10", "--max-wait-time", "30",
            ], f"supernode-{i}.log"))
        if on_started is not None:
            on_started({"superlink": link, "supernodes": nodes})
        run = subprocess.run(
            flower_command("flwr") + ["run", str(app), "local", "--stream"], env=env, cwd=work,
            capture_output=True, text=True, timeout=timeout,
        )
        (work / "flwr-run.log").write_text(run.stdout + run.stderr, encoding="utf-8")
        if run.returncode != 0 or not summary_path.is_file():
            raise FederatedLearningError(
                f"the federated run failed (flwr run exit code {run.returncode}): "
                f"{(run.stdout + run.stderr)[-3000:]}\nSuperLink log: {_tail(work / 'superlink.log')}",
                hint=f"logs are in {work}" if temp is None else "pass work_dir=... to keep the logs",
            )
    except subprocess.TimeoutExpired as err:
        raise FederatedLearningError(f"the federated run did not finish within {timeout:.0f} s") from err
    finally:
        _stop(processes)
        if temp is not None:
            keep = summary_path.read_bytes() if summary_path.is_file() and summary_path.parent == work else None
            temp.cleanup()
            if keep is not None:
                summary_path = Path(tempfile.mkstemp(suffix=".json")[1])
                summary_path.write_bytes(keep)
    result = json.loads(summary_path.read_text(encoding="utf-8"))
    result["output"] = str(output)
    return result
