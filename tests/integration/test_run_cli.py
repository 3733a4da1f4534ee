"""``python -m bundle run`` as users run it: subprocesses on small bundles in tmp_path, both forms,
every bad input, and two processes under ``torchrun`` training with DistributedDataParallel."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.workflows.conftest import META, write_bundle

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

# no torch: these runs start in a fraction of a second, and show that running imports only what
# the config asks for
INFERENCE = {
    "bundle_root": ".",
    "value": 1,
    "out": "$@bundle_root + '/out.json'",
    "imports": ["$import json", "$import sys"],
    "initialize": ["$import scripts.note", "$scripts.note.seen.append('init')"],
    "run": [
        "$scripts.note.seen.append('run')",
        "$open(@out, 'w').write(json.dumps({'value': @value, 'root': @bundle_root, 'seen': scripts.note.seen, "
        "'torch': 'torch' in sys.modules}))",
    ],
    "training": ["$open(@out, 'w').write(json.dumps({'legacy': @value}))"],
}

LOGGING_CONF = """
[loggers]
keys=root
[handlers]
keys=console
[formatters]
keys=plain
[logger_root]
level=INFO
handlers=console
[handler_console]
class=StreamHandler
level=INFO
formatter=plain
args=(sys.stderr,)
[formatter_plain]
format=LOGCONF %(name)s %(message)s
"""


@pytest.fixture
def bundle_dir(tmp_path):
    return write_bundle(
        tmp_path / "zoo" / "tiny",
        {"inference": INFERENCE, "extra": {"value": 2}},
        scripts={"note": "seen = []\n"},
        files={"configs/logging.conf": LOGGING_CONF},
    )


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("BUNDLE_DEBUG", "WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra)
    return env


def bundle_run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bundle", "run", *args], cwd=cwd, env=_env(**env), capture_output=True, text=True,
        timeout=120,
    )


def _out(path: Path) -> dict:
    return json.loads(path.read_text())


# --- what works --------------------------------------------------------------------------------

def test_short_form(tmp_path, bundle_dir):
    proc = bundle_run(tmp_path, "zoo/tiny", "inference")
    assert proc.returncode == 0, proc.stderr
    out = _out(bundle_dir / "out.json")
    assert out == {"value": 1, "root": str(bundle_dir.resolve()), "seen": ["init", "run"], "torch": False}
    assert "LOGCONF" in proc.stderr  # configs/logging.conf applied


def test_short_form_merges_named_configs_and_takes_overrides(tmp_path, bundle_dir):
    proc = bundle_run(tmp_path, "zoo/tiny", "inference", "extra", "--value", "7")
    assert proc.returncode == 0, proc.stderr
    assert _out(bundle_dir / "out.json")["value"] == 7
    proc = bundle_run(tmp_path, "zoo/tiny", "inference", "extra")
    assert _out(bundle_dir / "out.json")["value"] == 2


def test_long_form_with_monai_arguments(tmp_path, bundle_dir):
    proc = bundle_run(
        tmp_path, "--run_id", "run", "--init_id", "initialize", "--final_id", "finalize",
        "--config_file", "zoo/tiny/configs/inference.json", "--meta_file", "zoo/tiny/configs/metadata.json",
        "--logging_file", "zoo/tiny/configs/logging.conf", "--value", "5",
    )
    assert proc.returncode == 0, proc.stderr
    out = _out(tmp_path / "out.json")  # bundle_root "." is the working folder in the long form
    assert out["value"] == 5 and out["root"] == "."


def test_long_form_list_of_config_files(tmp_path, bundle_dir):
    files = "['zoo/tiny/configs/inference.json', 'zoo/tiny/configs/extra.json']"
    proc = bundle_run(tmp_path, "--config_file", files, "--bundle_root", "zoo/tiny")
    assert proc.returncode == 0, proc.stderr
    assert _out(bundle_dir / "out.json")["value"] == 2


def test_monai_legacy_run_id_as_the_first_word(tmp_path, bundle_dir):
    proc = bundle_run(tmp_path, "training", "--config_file", "zoo/tiny/configs/inference.json")
    assert proc.returncode == 0, proc.stderr
    assert _out(tmp_path / "out.json") == {"legacy": 1}


def test_args_file_defaults_and_explicit_arguments_win(tmp_path, bundle_dir):
    args = {"config_file": "zoo/tiny/configs/inference.json", "bundle_root": "zoo/tiny", "value": 3}
    (tmp_path / "args.json").write_text(json.dumps(args))
    proc = bundle_run(tmp_path, "--args_file", "args.json")
    assert proc.returncode == 0, proc.stderr
    assert _out(bundle_dir / "out.json")["value"] == 3
    proc = bundle_run(tmp_path, "--args_file", "args.json", "--value", "4", "--run_id", "training")
    assert proc.returncode == 0, proc.stderr
    assert _out(bundle_dir / "out.json") == {"legacy": 4}
    (tmp_path / "typo.yaml").write_text("config_file: zoo/tiny/configs/inference.json\nvaleu: 3\n")
    proc = bundle_run(tmp_path, "--args_file", "typo.yaml")
    assert proc.returncode == 0, proc.stderr  # MONAI's meaning: a new id, with a warning naming the close one
    assert "typo.yaml: 'valeu' is not in the config, so it is added as a new id; did you mean 'value'" in proc.stderr
    assert _out(tmp_path / "out.json")["value"] == 1  # bundle_root "." is the current folder here


def test_override_adding_an_id(tmp_path, bundle_dir):
    config = {**INFERENCE, "value": "$@base + 1"}
    (bundle_dir / "configs" / "plus.json").write_text(json.dumps(config))
    proc = bundle_run(tmp_path, "zoo/tiny", "plus", "--+base", "41")
    assert proc.returncode == 0, proc.stderr
    assert _out(bundle_dir / "out.json")["value"] == 42


def test_safe_mode(tmp_path, bundle_dir):
    proc = bundle_run(tmp_path, "zoo/tiny", "inference", "--safe")
    assert proc.returncode == 1
    assert "safe mode" in proc.stderr and "import" in proc.stderr
    assert not (bundle_dir / "out.json").exists()
    (bundle_dir / "configs" / "harmless.json").write_text(json.dumps({"v": [1, 2], "run": "$sum(@v)"}))
    proc = bundle_run(tmp_path, "zoo/tiny", "harmless", "--safe")
    assert proc.returncode == 0, proc.stderr
    assert "logging.conf' is not applied" in proc.stderr


def test_run_workflow_command(tmp_path, bundle_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "bundle", "run_workflow", "--config_file", "zoo/tiny/configs/inference.json",
         "--bundle_root", "zoo/tiny", "--value", "8"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert _out(bundle_dir / "out.json")["value"] == 8


def test_help_imports_no_torch(tmp_path):
    code = textwrap.dedent(
        """
        import json, sys
        import bundle.cli
        try:
            code = bundle.cli.main(["run", "--help"])
        except SystemExit as exit:  # fire ends its help with SystemExit(0)
            code = exit.code
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "numpy", "monai"))
        print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == {"code": 0, "heavy": []}
    assert "bundle run BUNDLE_DIR CONFIG" in proc.stdout + proc.stderr  # fire writes help to stderr here


# --- bad input: a clear message and exit code 1 -----------------------------------------------

@pytest.mark.parametrize(
    "args, messages",
    [
        (["zoo/none", "inference"], ["bundle folder 'zoo/none' does not exist"]),
        (["training"], ["bundle folder 'training' does not exist", "needs --config_file"]),
        (["zoo/tiny", "inferenc"],
         ["has no config 'inferenc' (configs there: extra, inference)", "did you mean 'inference'"]),
        (["zoo/tiny"], ["no config named to run", "extra"]),
        (["zoo/tiny", "inference", "--run_id", "rnu"], ["id 'rnu' is not in the config", "did you mean 'run'"]),
        (["zoo/tiny", "inference", "--valeu::x", "3"], ["'valeu'", "did you mean 'value'"]),
        (["zoo/tiny", "inference", "--workflow_type", "infer"],
         ["missing 6 required properties of an 'infer' workflow", "dataset_dir (config id 'dataset_dir')",
          "evaluator (config id 'evaluator'): inference / evaluation workflow engine."]),
        (["zoo/tiny", "inference", "--workflow_type", "trian"], ["unsupported workflow type 'trian'", "'train'"]),
        (["zoo/tiny", "inference", "--logging_file", "zoo/tiny/configs/log.conf"],
         ["logging file 'zoo/tiny/configs/log.conf' does not exist", "did you mean 'logging.conf'"]),
        (["--config_file", "zoo/tiny/configs/inferenc.json"],
         ["config file 'zoo/tiny/configs/inferenc.json' does not exist", "did you mean 'inference.json'"]),
        (["--meta_file", "zoo/tiny/metadata.json", "--config_file", "zoo/tiny/configs/inference.json"],
         ["metadata file 'zoo/tiny/metadata.json' does not exist"]),
        (["--value", "3"], ["no config file given"]),
        (["zoo/tiny", "inference", "--config_file", "x.json"], ["configs given twice"]),
        (["zoo/tiny", "--safe", "inference"], ["--safe is a switch, but 'inference' was read as its value"]),
        (["zoo/tiny", "inference", "--tracking", "mlflow"], ["'mlflow' is not installed"]),
    ],
    ids=["no-folder", "bare-word", "no-config", "no-config-named", "run-id", "override", "property", "workflow-type",
         "logging", "config-file", "meta-file", "no-config-file", "twice", "safe-value", "mlflow"],
)
def test_bad_input(tmp_path, bundle_dir, args, messages):
    if "mlflow" in args:
        import importlib.util

        if importlib.util.find_spec("mlflow") is not None:
            pytest.skip("mlflow is installed here")
    proc = bundle_run(tmp_path, *args)
    assert proc.returncode == 1, proc.stderr
    for message in messages:
        assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (bundle_dir / "out.json").exists()


@pytest.mark.parametrize(
    "text, message",
    [('{"version": "0.1.0",', "metadata.json:1:"), ("[]", "must hold a mapping")],
    ids=["bad-json", "not-a-mapping"],
)
def test_broken_metadata(tmp_path, bundle_dir, text, message):
    (bundle_dir / "configs" / "metadata.json").write_text(text)
    proc = bundle_run(tmp_path, "zoo/tiny", "inference")
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_metadata_missing_required_keys(tmp_path, bundle_dir):
    (bundle_dir / "configs" / "metadata.json").write_text(json.dumps({"version": "1"}))
    proc = bundle_run(tmp_path, "zoo/tiny", "inference")
    assert proc.returncode == 1
    assert "pytorch_version (config id '_meta_::pytorch_version')" in proc.stderr
    assert "metadata.json" in proc.stderr


# --- two processes under torchrun ---------------------------------------------------------------

DDP_SCRIPT = '''
import os
import torch
import torch.distributed as dist


def train(network, steps, out_dir):
    rank = dist.get_rank() if dist.is_initialized() else 0
    gen = torch.Generator().manual_seed(100 + rank)  # each rank its own data: only DDP keeps them equal
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    for _ in range(steps):
        x, y = torch.randn(8, 4, generator=gen), torch.randn(8, 2, generator=gen)
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(network(x), y).backward()
        optimizer.step()
    module = getattr(network, "module", network)
    world = dist.get_world_size() if dist.is_initialized() else 1
    torch.save({"state": module.state_dict(), "wrapper": type(network).__name__, "world": world},
               os.path.join(out_dir, f"rank{rank}.pt"))
'''

TRAIN = {
    "bundle_root": ".",
    "steps": 4,
    "initialize": ["$import scripts.ddp", "$torch.manual_seed(0)"],
    "network_def": {"_target_": "torch.nn.Linear", "in_features": 4, "out_features": 2},
    "network": "@network_def",
    "run": ["$scripts.ddp.train(@network, @steps, @bundle_root)"],
}

MULTI_GPU_TRAIN = {
    "network": {"_target_": "torch.nn.parallel.DistributedDataParallel", "module": "@network_def"},
    "initialize": [
        "$import torch.distributed as dist",
        "$dist.is_initialized() or dist.init_process_group(backend='gloo')",
        "$import scripts.ddp",
        "$torch.manual_seed(0)",
    ],
    "finalize": ["$dist.is_initialized() and dist.destroy_process_group()"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_layer_multi_gpu_train_and_train_with_ddp(tmp_path):
    torch = pytest.importorskip("torch")
    root = write_bundle(tmp_path / "ddp", {"train": TRAIN, "multi_gpu_train": MULTI_GPU_TRAIN},
                        meta=META, scripts={"ddp": DDP_SCRIPT})
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
        "-m", "bundle", "run", "ddp", "train",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 processes: layering" in proc.stderr and "multi_gpu_train.json" in proc.stderr

    saved = [torch.load(root / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [s["wrapper"] for s in saved] == ["DistributedDataParallel"] * 2
    assert [s["world"] for s in saved] == [2, 2]
    for key in ("weight", "bias"):
        assert torch.equal(saved[0]["state"][key], saved[1]["state"][key])
    torch.manual_seed(0)
    initial = torch.nn.Linear(4, 2).state_dict()
    assert not torch.equal(initial["weight"], saved[0]["state"]["weight"])  # it trained
