"""A MONAI Label app from bundles: ``write_app`` copies each bundle under ``DIR/model/NAME`` and writes
``DIR/main.py`` (the app class MONAI Label's ``start_server --app DIR`` loads; its task classes live in
``bundle.label.monai_label``) and ``DIR/bundles.json`` (the bundles and the trust each is served with).

``LocalDatastore`` reads a dataset folder with the methods MONAI Label's ``Datastore`` has that the
tasks call (``datalist``, ``get_unlabeled_images``, ``get_labeled_images``, ``get_image_uri``), so the
same task code runs under MONAI Label's server and under ``bundle label``; ``next_image`` is the active
learning strategy's body.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from bundle.atomic import write_atomic
from bundle.errors import LabelError, Location

__all__ = ["APP_CONFIG", "LocalDatastore", "next_image", "write_app"]

APP_CONFIG = "bundles.json"

MAIN_PY = '''"""A MONAI Label app serving bundles through bundle.label (written by `bundle label app`).

Start it:  monailabel start_server --app {app_dir} --studies DATA
Tasks: one infer and one train task per bundle in {config} (named as the bundle), and the active
learning strategies {strategies} per bundle (NAME_STRATEGY).
"""

from bundle.label.monai_label import BundleApp


class BundleLabelApp(BundleApp):
    """The app class MONAI Label loads from main.py: every bundle of bundles.json as infer, train and
    next-image tasks."""
'''


def write_app(app_dir: str | os.PathLike, bundles: Sequence[Any], *, trusted: bool | None = None,
              strategies: Sequence[str] = ("entropy", "random")) -> Path:
    """Write a MONAI Label app folder serving ``bundles``.

    Args:
        app_dir: the app folder (created; an existing ``main.py`` is replaced, copied bundles refreshed).
        bundles: bundle folders or zoo names (fetched into the cache).
        trusted: the trust each bundle is served with; None keeps the trust rule's answer for where the
            bundle came from (a zoo download stays untrusted although its copy lies outside the cache).
        strategies: the active learning strategies offered for each bundle.

    Returns:
        The app folder.

    Raises:
        LabelError: no bundle, two bundles of one name, or an unknown strategy.
        FormatError, ZooError: a bundle cannot be opened or fetched.
    """
    from bundle.label.bundles import bundle_name, open_bundle
    from bundle.label.score import STRATEGIES

    if not bundles:
        raise LabelError("an app needs at least one bundle", hint="bundle label app DIR --bundle NAME")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise LabelError(f"unknown strategies {unknown}", hint=f"use some of {', '.join(STRATEGIES)}")
    root = Path(app_dir).expanduser().resolve()
    opened = [open_bundle(b, trusted=trusted) for b in bundles]
    names = [bundle_name(given, b) for given, b in zip(bundles, opened)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise LabelError(f"two bundles are named {', '.join(repeated)}", hint="an app serves each name once")
    entries = []
    for name, bundle in zip(names, opened):
        target = root / "model" / name
        if target.resolve() != bundle.root:
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(bundle.root, target, ignore=shutil.ignore_patterns("__pycache__", "eval"))
        entries.append({"name": name, "path": f"model/{name}", "trusted": bundle.trusted})
    config = {"bundles": entries, "strategies": list(strategies)}
    write_atomic(root / APP_CONFIG, json.dumps(config, indent=2) + "\n")
    write_atomic(root / "main.py", MAIN_PY.format(app_dir=root, config=APP_CONFIG, strategies=", ".join(strategies)))
    return root


def read_app_config(app_dir: str | os.PathLike) -> dict[str, Any]:
    """``bundles.json`` of an app folder, with each bundle's ``path`` made absolute.

    Raises:
        LabelError: it is missing or malformed.
    """
    path = Path(app_dir) / APP_CONFIG
    if not path.is_file():
        raise LabelError(f"'{app_dir}' is not a bundle label app: {APP_CONFIG} is missing", location=Location(str(path)),
                         hint="write it with: bundle label app DIR --bundle NAME")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        for entry in config["bundles"]:
            entry["path"] = str((Path(app_dir) / entry["path"]).resolve())
            entry["trusted"] = bool(entry.get("trusted", False))
    except (ValueError, KeyError, TypeError) as err:
        raise LabelError(f"{APP_CONFIG} of '{app_dir}' is malformed: {err}", location=Location(str(path))) from None
    return config


class LocalDatastore:
    """A dataset folder (``images/`` + ``labels/``) with MONAI Label's ``Datastore`` methods the tasks use.

    Image ids are the file names without their volume suffix.

    Raises:
        LabelError: as ``read_dataset``.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        from bundle.components.volumes import volume_stem
        from bundle.label.dataset import read_dataset

        self.dataset = read_dataset(folder)
        self._uris = {volume_stem(d["image"]): d["image"] for d in self.dataset.labeled}
        self._uris.update({volume_stem(p): p for p in self.dataset.unlabeled})
        self._labeled = [volume_stem(d["image"]) for d in self.dataset.labeled]
        self._unlabeled = [volume_stem(p) for p in self.dataset.unlabeled]

    def datalist(self, full_path: bool = True) -> list[dict[str, str]]:
        """``[{"image": path, "label": path}]`` of the labeled images."""
        return [dict(d) for d in self.dataset.labeled]

    def get_labeled_images(self, *args: Any, **kwargs: Any) -> list[str]:
        return list(self._labeled)

    def get_unlabeled_images(self, *args: Any, **kwargs: Any) -> list[str]:
        return list(self._unlabeled)

    def get_image_uri(self, image_id: str) -> str:
        """The file of an image id.

        Raises:
            LabelError: no such image.
        """
        if image_id not in self._uris:
            raise LabelError(f"no image '{image_id}' in '{self.dataset.root}'")
        return self._uris[image_id]


def next_image(task: Any, strategy: str, datastore: Any, **options: Any) -> dict[str, Any]:
    """The unlabeled image of ``datastore`` to label next by ``strategy`` (MONAI Label's strategy result):
    ``{"id", "image", "score", "ranked": [...]}``; ``{}`` when every image is labeled."""
    from bundle.label.score import score

    ids = list(datastore.get_unlabeled_images())
    if not ids:
        return {}
    uris = [datastore.get_image_uri(i) for i in ids]
    ranked = score(task, uris, strategy, **options)
    by_uri = dict(zip(uris, ids))
    for entry in ranked:
        entry["id"] = by_uri[entry["image"]]
    return {"id": ranked[0]["id"], "image": ranked[0]["image"], "score": ranked[0]["score"], "ranked": ranked}
