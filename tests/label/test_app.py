"""The MONAI Label app: ``bundle label app`` writes an app folder (bundles copied under model/, their
trust recorded, a main.py whose class MONAI Label loads), the task classes implement the methods MONAI
Label's interfaces declare, and the calls MONAI Label makes (infer, train on a datastore, next image)
work on the copied bundles. With monailabel installed, a real server on 127.0.0.1 serves /infer and /train."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bundle.errors import LabelError, MissingDependencyError
from bundle.label import InferTask, TrainTask, write_app
from bundle.label.app import LocalDatastore, next_image, read_app_config
from tests.conftest import REPO
from tests.label.conftest import SEGMENTATION, write_dataset

ADAPTERS = REPO / "bundle" / "label" / "monai_label.py"
# what MONAI Label calls on each kind of task (monailabel.interfaces: InferTask is_valid/__call__(request),
# TrainTask __call__(request, datastore), Strategy __call__(request, datastore), MONAILabelApp init_*)
INTERFACE = {
    "BundleInfer": {"is_valid": ["self"], "__call__": ["self", "request", "callbacks"], "get_path": ["self"]},
    "BundleTrain": {"__call__": ["self", "request", "datastore"], "config": ["self"], "stats": ["self"]},
    "BundleStrategy": {"__call__": ["self", "request", "datastore"]},
    "BundleApp": {"__init__": ["self", "app_dir", "studies", "conf"], "init_infers": ["self"],
                  "init_trainers": ["self"], "init_strategies": ["self"]},
}
BASES = {"BundleInfer": "MonaiLabelInferTask", "BundleTrain": "MonaiLabelTrainTask",
         "BundleStrategy": "MonaiLabelStrategy", "BundleApp": "MONAILabelApp"}


@pytest.fixture
def app(tmp_path) -> Path:
    return write_app(tmp_path / "app", [str(SEGMENTATION)])


def test_the_app_folder_copies_bundles_and_records_their_trust(app, zoo_name, tmp_path):
    assert (app / "model" / "ellipsoid_segmentation" / "models" / "model.pt").is_file()
    config = read_app_config(app)
    assert config["bundles"] == [{"name": "ellipsoid_segmentation", "trusted": True,
                                  "path": str(app / "model" / "ellipsoid_segmentation")}]
    assert config["strategies"] == ["entropy", "random"]
    downloaded = write_app(tmp_path / "zoo_app", [zoo_name])
    assert read_app_config(downloaded)["bundles"][0]["trusted"] is False  # a download stays untrusted


def test_main_py_defines_the_app_class_monai_label_loads(app):
    source = (app / "main.py").read_text()
    tree = ast.parse(source)
    compile(source, str(app / "main.py"), "exec")
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert [(c.name, [b.id for b in c.bases]) for c in classes] == [("BundleLabelApp", ["BundleApp"])]
    imports = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert [(i.module, [a.name for a in i.names]) for i in imports] == [("bundle.label.monai_label", ["BundleApp"])]
    assert f"monailabel start_server --app {app}" in source


def test_the_task_classes_implement_monai_labels_interfaces():
    tree = ast.parse(ADAPTERS.read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    for name, methods in INTERFACE.items():
        assert [b.id for b in classes[name].bases] == [BASES[name]], name
        defined = {f.name: [a.arg for a in f.args.args] for f in classes[name].body if isinstance(f, ast.FunctionDef)}
        for method, args in methods.items():
            assert defined.get(method) == args, (name, method)
    imported = {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("monailabel") for alias in node.names}
    assert ("monailabel.interfaces.tasks.infer_v2", "InferTask") in imported
    assert ("monailabel.interfaces.tasks.train", "TrainTask") in imported
    assert ("monailabel.interfaces.tasks.strategy", "Strategy") in imported
    assert ("monailabel.interfaces.app", "MONAILabelApp") in imported


@pytest.mark.skipif(importlib.util.find_spec("monailabel") is not None, reason="monailabel is installed")
def test_without_monailabel_the_adapters_name_what_to_install():
    sys.modules.pop("bundle.label.monai_label", None)
    with pytest.raises(MissingDependencyError, match="'monailabel' is not installed"):
        import bundle.label.monai_label  # noqa: F401


def test_monai_labels_calls_on_the_apps_bundles(app, tmp_path, volumes):
    """What the server does with a request: infer into a temporary folder, train on its datastore's
    labeled images, pick the next image among the unlabeled ones."""
    entry = read_app_config(app)["bundles"][0]
    data = write_dataset(tmp_path / "studies", volumes, labeled=4)
    datastore = LocalDatastore(data)
    assert datastore.get_unlabeled_images() == [v["name"] for v in volumes[4:]]
    infer = InferTask(entry["path"], trusted=entry["trusted"])
    label_file, result = infer({"image": datastore.get_image_uri(volumes[4]["name"])})
    assert Path(label_file).is_file() and set(result["latencies"]) >= {"infer", "total"}

    chosen = next_image(infer, "entropy", datastore)
    assert chosen["id"] in datastore.get_unlabeled_images() and len(chosen["ranked"]) == 2
    stats = TrainTask(entry["path"], trusted=entry["trusted"])({"max_epochs": 1}, datastore=datastore)
    assert (stats["train_size"], stats["val_size"]) == (3, 1)
    infer.reload()
    assert infer({"image": datastore.get_image_uri(volumes[5]["name"])})[0]
    write_dataset(tmp_path / "done", volumes[:2])
    assert next_image(infer, "entropy", LocalDatastore(tmp_path / "done")) == {}


def test_app_input_errors(tmp_path):
    with pytest.raises(LabelError, match="at least one bundle"):
        write_app(tmp_path / "a", [])
    with pytest.raises(LabelError, match="two bundles are named ellipsoid_segmentation"):
        write_app(tmp_path / "a", [str(SEGMENTATION), str(SEGMENTATION)])
    with pytest.raises(LabelError, match="unknown strategies"):
        write_app(tmp_path / "a", [str(SEGMENTATION)], strategies=["greedy"])
    with pytest.raises(LabelError, match="bundles.json is missing"):
        read_app_config(tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_a_real_monai_label_server_serves_infer_and_train(app, tmp_path, volumes):
    pytest.importorskip("monailabel")
    import urllib.request

    studies = tmp_path / "studies"
    (studies / "labels" / "final").mkdir(parents=True)
    for n, volume in enumerate(volumes):  # MONAI Label's local datastore: images at the top, labels/final
        np.save(studies / f"{volume['name']}.npy", volume["image"])
        if n < 4:
            np.save(studies / "labels" / "final" / f"{volume['name']}.npy", volume["label"])
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, "-m", "monailabel.main", "start_server", "--app", str(app),
                               "--studies", str(studies), "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                info = json.load(urllib.request.urlopen(f"{base}/info/", timeout=2))
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the MONAI Label server did not start")
        assert "ellipsoid_segmentation" in info["models"]
        request = urllib.request.Request(f"{base}/infer/ellipsoid_segmentation?image={volumes[4]['name']}&output=json",
                                         data=b"{}", method="POST", headers={"Content-Type": "application/json"})
        result = json.load(urllib.request.urlopen(request, timeout=120))
        assert "latencies" in json.dumps(result)
        body = json.dumps({"ellipsoid_segmentation": {"max_epochs": 1}}).encode()
        request = urllib.request.Request(f"{base}/train/ellipsoid_segmentation?run_sync=true", data=body,
                                         method="POST", headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(request, timeout=300).status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
