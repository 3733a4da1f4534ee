"""A real federation on this machine: a Flower SuperLink and N SuperNodes as separate processes on
127.0.0.1, ``flwr run`` of the bundle's apps on them, then every process stopped. No Ray."""

from __future__ import annotations

import contextlib
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
from typing import Any, Mapping

from bundle.fl.exchange import FederatedLearningError
from bundle.fl.processes import stop_groups
from bundle.fl.warm import warm_flower_apps

__all__ = ["run_local_federation", "run_supernode", "write_app", "flower_command"]

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


# how often a SuperExec asks its SuperNode (or SuperLink) for a task to start a ClientApp (or
# ServerApp) process for; Flower's default is 1 s, and a round waits for it once per message
TASK_POLL_INTERVAL = "0.1"


def _flower_environment(bin_dir: str, **extra: str) -> dict[str, str]:
    """The environment of the Flower processes we start: this Python's executables first on ``PATH``
    (they start ``flower-superexec``, ``flwr-clientapp``... by name), prompt task polling, unbuffered logs."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), **extra}
    env.setdefault("FLWR_SUPEREXEC_TASK_POLL_INTERVAL", TASK_POLL_INTERVAL)
    return env


def _tls_options(tls: Mapping[str, str] | None) -> list[str]:
    if not tls:
        return ["--insecure"]
    missing = [k for k in ("ssl-certfile", "ssl-keyfile", "ssl-ca-certfile") if not tls.get(k)]
    if missing:
        raise FederatedLearningError(f"TLS needs {', '.join(missing)}",
                                     hint="pass --ssl_certfile, --ssl_keyfile and --ssl_ca_certfile (or --insecure)")
    return [a for k in ("ssl-certfile", "ssl-keyfile", "ssl-ca-certfile") for a in (f"--{k}", str(tls[k]))]


def run_supernode(
    superlink: str, *, bundle: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None,
    name: str | None = None, partition: str | None = None, root_certificates: str | None = None,
    insecure: bool = False, connect_timeout: float = 60.0, port: int | None = None, output: Any = None,
    warm: bool = True,
) -> None:
    """Run a SuperNode for a real site until the SuperLink ends it: the site's data, our client app.

    Args:
        superlink: ``HOST:PORT`` of the federation's SuperLink.
        bundle: this site's copy of the bundle (default: the path the server's run config names).
        data_dir: this site's dataset folder (set as the bundle's ``dataset_dir``).
        name: the site's name in the server's summary.
        partition: ``I/N``: train on shard I of N of the bundle's own data (experiments).
        root_certificates: the CA file the SuperLink's certificate is checked with (TLS).
        insecure: plain HTTP (no TLS); one of ``root_certificates`` and ``insecure`` is needed.
        connect_timeout: give up when the SuperLink cannot be reached for this many seconds.
        port: the port of the SuperNode's own local API (default: a free one).
        output: called with each line the SuperNode prints.
        warm: fork the site's ClientApp processes from a warm launcher (``bundle.fl.warm``).

    Raises:
        FederatedLearningError: the SuperLink was not reachable, or the SuperNode failed (with its output).
    """
    if not insecure and not root_certificates:
        raise FederatedLearningError("choose TLS or not", hint="pass --root_certificates CA.pem, or --insecure")
    node_config = []
    if bundle:
        node_config.append(f'bundle="{Path(bundle).resolve()}"')
    if data_dir:
        if not Path(data_dir).is_dir():
            raise FederatedLearningError(f"data folder '{data_dir}' does not exist")
        node_config.append(f'data-dir="{Path(data_dir).resolve()}"')
    if name:
        node_config.append(f'name="{name}"')
    if partition:
        from bundle.fl.partition import parse_partition

        index, count = parse_partition(partition)
        node_config.append(f"partition-id={index} num-partitions={count}")
    cmd = flower_command("flower-supernode") + [
        "--superlink", superlink, "--host", "127.0.0.1", "--port", str(port or _free_ports(1)[0]),
        "--max-wait-time", str(connect_timeout),
    ]
    cmd += ["--insecure"] if insecure else ["--root-certificates", str(root_certificates)]
    if node_config:
        cmd += ["--node-config", " ".join(node_config)]
    env = _flower_environment(str(Path(cmd[0]).parent))
    # to a file, not a pipe: the SuperExec the SuperNode starts would hold a pipe open after it exits
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log:
        lines: list[str] = []
        previous = _stop_on_sigterm()  # before the starts: a SIGTERM in between would leave a process
        p = None
        launcher = contextlib.ExitStack()
        try:
            env = launcher.enter_context(warm_flower_apps(env, enabled=warm))
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            while True:
                done = p.poll() is not None
                log.seek(0)
                text = log.read().splitlines()
                for line in text[len(lines):]:
                    if output is not None:
                        output(line)
                lines = text
                if done:
                    break
                time.sleep(0.2)
        finally:
            if p is not None:
                stop_groups([p])
            launcher.close()  # after the SuperNode: its SuperExec may still start ClientApps until then
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    tail = lines[-25:]
    if p.returncode != 0:
        unreachable = any("could not establish a connection" in t for t in tail)
        connected = any("SuperNode ID:" in t for t in lines)
        if unreachable and connected:
            what = f"lost the SuperLink at {superlink} for {connect_timeout:.0f} s (the server stopped?)"
        elif unreachable:
            what = f"the SuperLink at {superlink} was not reachable within {connect_timeout:.0f} s"
        else:
            what = f"the SuperNode exited with code {p.returncode}"
        shown = [t for t in tail if "INFO" not in t and t.strip()]
        raise FederatedLearningError(what + ":\n" + "\n".join(shown[-6:]),
                                     hint="check the address, that the server runs and the firewall" if unreachable
                                     else "see the SuperNode's output above")


def _stop_on_sigterm() -> Any:
    """Make SIGTERM end the wait (so the Flower processes, in sessions of their own, are stopped too); the
    old handler."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


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
    host: str = "127.0.0.1",
    port: int | None = None,
    start_nodes: bool = True,
    tls: Mapping[str, str] | None = None,
    warm: bool = True,
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
        host: the address the SuperLink listens on (``0.0.0.0`` for real sites).
        port: its port (default: a free one).
        start_nodes: start ``clients`` SuperNodes here; False waits for ``clients`` remote ones
            (``bundle fl client``) to connect instead.
        tls: ``{"ssl-certfile", "ssl-keyfile", "ssl-ca-certfile"}`` files: the SuperLink serves
            TLS (passed to ``flower-superlink``), and ``flwr run`` and the SuperNodes started here trust
            the CA file; None is plain HTTP.
        warm: fork the ServerApp process and the local sites' ClientApp processes from a warm launcher
            (``bundle.fl.warm``): Flower's process per message without its imports; False starts each cold.

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
    from bundle.fl.algo import client_config_file

    client_config_file(bundle, str((run_config or {}).get("config", "train")))  # no train config: fail before starting
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
    free = _free_ports(1 + clients)
    link_port, node_ports = port or free[0], free[1:]
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "local"\n\n[superlink.local]\naddress = "127.0.0.1:{link_port}"\n'
        + (f'root-certificates = "{Path(tls["ssl-ca-certfile"]).resolve()}"\n' if tls else "insecure = true\n"),
        encoding="utf-8")
    env = _flower_environment(str(Path(flower_command("flwr")[0]).parent), FLWR_HOME=str(home))
    processes: list[subprocess.Popen] = []
    # our processes run in sessions of their own (so that stopping one stops what it started): a
    # SIGTERM to us must stop them, as Ctrl-C does
    previous = _stop_on_sigterm()

    def start(cmd: list[str], log_name: str) -> subprocess.Popen:
        log = open(work / log_name, "wb")  # noqa: SIM115 (closed when the process is)
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work, start_new_session=True)
        log.close()
        processes.append(p)
        return p

    stack = contextlib.ExitStack()
    try:
        env = stack.enter_context(warm_flower_apps(env, work / "warm.log", enabled=warm))
        link = start(flower_command("flower-superlink") + [
            *_tls_options(tls), "--host", host, "--port", str(link_port),
            "--disable-runtime-dependency-installation",
        ], "superlink.log")
        _wait_port(link_port, link, 60, "the SuperLink", work / "superlink.log")
        nodes = []
        for i in range(clients if start_nodes else 0):
            nodes.append(start(flower_command("flower-supernode") + [
                *(["--root-certificates", str(Path(tls["ssl-ca-certfile"]).resolve())] if tls else ["--insecure"]),
                "--superlink", f"127.0.0.1:{link_port}", "--host", "127.0.0.1",
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
        stop_groups(processes)
        stack.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if temp is not None:
            keep = summary_path.read_bytes() if summary_path.is_file() and summary_path.parent == work else None
            temp.cleanup()
            if keep is not None:
                summary_path = Path(tempfile.mkstemp(suffix=".json")[1])
                summary_path.write_bytes(keep)
    result = json.loads(summary_path.read_text(encoding="utf-8"))
    result["output"] = str(output)
    return result
