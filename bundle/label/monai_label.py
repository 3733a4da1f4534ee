"""MONAI Label's task interfaces around ``bundle.label``'s tasks, and ``BundleApp``, the app class that
the ``main.py`` written by ``bundle label app`` subclasses. Imported only by MONAI Label's server (it
needs ``monailabel``); the work is done by ``InferTask``, ``TrainTask`` and ``next_image``.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any, Dict

from bundle.errors import MissingDependencyError

try:
    from monailabel.interfaces.app import MONAILabelApp
    from monailabel.interfaces.tasks.infer_v2 import InferTask as MonaiLabelInferTask
    from monailabel.interfaces.tasks.strategy import Strategy as MonaiLabelStrategy
    from monailabel.interfaces.tasks.train import TrainTask as MonaiLabelTrainTask
except ImportError as err:  # pragma: no cover - exercised only where monailabel is missing
    raise MissingDependencyError("monailabel", purpose="serving bundles in a MONAI Label server") from err

from bundle.label.app import next_image, read_app_config
from bundle.label.infer import InferTask
from bundle.label.train import TrainTask

logger = logging.getLogger(__name__)

__all__ = ["BundleApp", "BundleInfer", "BundleStrategy", "BundleTrain"]


class BundleInfer(MonaiLabelInferTask):
    """MONAI Label's ``InferTask`` running a bundle's ``InferTask`` (the network stays loaded)."""

    def __init__(self, path: str, *, trusted: bool) -> None:
        self.task = InferTask(path, trusted=trusted)
        super().__init__(type=self.task.type, labels=self.task.labels, dimension=self.task.dimension,
                         description=self.task.description)

    def is_valid(self) -> bool:
        return self.task.is_valid()

    def get_path(self) -> str:
        return str(self.task.bundle.weights_path())

    def __call__(self, request: Dict[str, Any], callbacks: Any = None) -> Any:
        label_file, result = self.task({"image": request["image"], "device": request.get("device"),
                                        "output_dir": tempfile.mkdtemp(prefix="bundle-label-"),
                                        "result_extension": request.get("result_extension")})
        return label_file, result


class BundleTrain(MonaiLabelTrainTask):
    """MONAI Label's ``TrainTask`` running a bundle's ``TrainTask`` on the datastore's labeled images;
    the infer task reloads the new weights afterwards."""

    def __init__(self, path: str, *, trusted: bool, infer: BundleInfer | None = None) -> None:
        self.task = TrainTask(path, trusted=trusted)
        self.infer = infer
        super().__init__(self.task.description)

    def config(self) -> Dict[str, Any]:
        return self.task.config()

    def stats(self) -> Dict[str, Any]:
        return self.task.stats()

    def __call__(self, request: Dict[str, Any], datastore: Any) -> Dict[str, Any]:
        stats = self.task(request, datastore=datastore)
        if self.infer is not None:
            self.infer.task.reload()
        return stats


class BundleStrategy(MonaiLabelStrategy):
    """MONAI Label's ``Strategy``: the unlabeled image to label next by ``random``, ``entropy`` or ``epistemic``."""

    def __init__(self, infer: BundleInfer, strategy: str) -> None:
        self.infer = infer
        self.strategy = strategy
        super().__init__(f"{strategy} of {infer.task.bundle.name}'s prediction")

    def __call__(self, request: Dict[str, Any], datastore: Any) -> Any:
        return next_image(self.infer.task, self.strategy, datastore) or None


class BundleApp(MONAILabelApp):
    """A MONAI Label app of the bundles its folder's ``bundles.json`` lists."""

    def __init__(self, app_dir: str, studies: str, conf: Dict[str, str]) -> None:
        self.bundle_config = read_app_config(app_dir)
        self._infers: Dict[str, BundleInfer] = {}
        for entry in self.bundle_config["bundles"]:
            self._infers[entry["name"]] = BundleInfer(entry["path"], trusted=entry["trusted"])
        super().__init__(app_dir=app_dir, studies=studies, conf=conf, name="bundle",
                         description="bundles served through bundle.label", version="1")

    def init_infers(self) -> Dict[str, Any]:
        return dict(self._infers)

    def init_trainers(self) -> Dict[str, Any]:
        return {entry["name"]: BundleTrain(entry["path"], trusted=entry["trusted"], infer=self._infers[entry["name"]])
                for entry in self.bundle_config["bundles"]}

    def init_strategies(self) -> Dict[str, Any]:
        return {f"{name}_{strategy}": BundleStrategy(infer, strategy)
                for name, infer in self._infers.items() for strategy in self.bundle_config["strategies"]}

