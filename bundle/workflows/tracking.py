"""Experiment tracking for config workflows (MONAI's ``tracking=``): settings that add handlers to a
bundle's engines and ids to its config, and the export of the config that was run."""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import time
from pathlib import Path
from typing import Any

from bundle.errors import FormatError, MissingDependencyError

__all__ = ["tracking_settings", "patch_bundle_tracking"]

logger = logging.getLogger(__name__)


def tracking_settings(tracking: str | dict | None) -> dict | None:
    """The tracking settings ``tracking`` names: ``"mlflow"`` (MONAI's default MLflow settings), a
    settings file (JSON/YAML) or a dict ``{"handlers_id": {...}, "configs": {...}}``.

    Raises:
        MissingDependencyError: ``"mlflow"`` without mlflow installed (we do not ship it), or
            without MONAI (the default handler is MONAI's ``MLFlowHandler``).
        FormatError: settings without a ``configs`` mapping.
    """
    if tracking is None:
        return None
    if tracking == "mlflow":
        purpose = "experiment tracking with tracking='mlflow'"
        if importlib.util.find_spec("mlflow") is None:
            raise MissingDependencyError("mlflow", purpose=purpose)
        if importlib.util.find_spec("monai") is None:
            raise MissingDependencyError("monai", extra="monai", purpose=purpose + " (its MLFlowHandler is MONAI's)")
        from bundle.workflows.tracking_defaults import DEFAULT_EXP_MGMT_SETTINGS

        settings: Any = copy.deepcopy(DEFAULT_EXP_MGMT_SETTINGS["mlflow"])
    elif isinstance(tracking, dict):
        settings = copy.deepcopy(tracking)
    else:
        from bundle.config.loader import load_file

        settings = load_file(os.fspath(tracking))
    if not isinstance(settings, dict) or not isinstance(settings.get("configs"), dict):
        raise FormatError(
            f"tracking settings {tracking!r} have no 'configs' mapping",
            hint='write {"handlers_id": {"trainer": {"id": ..., "handlers": ...}}, "configs": {...}}',
        )
    settings.setdefault("handlers_id", {})
    return settings


def patch_bundle_tracking(parser: Any, settings: dict) -> None:
    """Add the tracking handlers and settings to a parsed-not-yet config (MONAI's meaning).

    Each ``configs`` entry whose key is in ``handlers_id`` is a handler appended to that engine's
    handler list (or made its ``train_handlers``/``val_handlers`` when it has none); every other
    entry is added as a top-level id unless the config has it. The config is then written to
    ``save_execute_config`` (default ``<output_dir>/config_<time>.json``, ``output_dir`` defaulting
    to ``<bundle_root>/eval``; ``false`` writes nothing).

    Args:
        parser: the workflow's ``ConfigParser``.
        settings: from ``tracking_settings``.
    """
    handlers_id = settings.get("handlers_id", {})
    for key, value in settings["configs"].items():
        if key in handlers_id:
            engine = parser.get(handlers_id[key]["id"])
            if engine is None:
                continue
            handlers = parser.get(handlers_id[key]["handlers"])
            if handlers is None:
                engine["train_handlers" if key == "trainer" else "val_handlers"] = [copy.deepcopy(value)]
            else:
                handlers.append(copy.deepcopy(value))
        elif key not in parser:
            parser[key] = value
    target = parser.get("save_execute_config", True)
    if not target:
        parser["save_execute_config"] = None
        return
    if isinstance(target, bool):
        name = f"config_{time.strftime('%Y%m%d_%H%M%S')}.json"
        if "output_dir" not in parser:
            parser["output_dir"] = "$@bundle_root + '/eval'"
        parser["save_execute_config"] = f"$@output_dir + '/{name}'"
        target = os.path.join(str(parser.get_parsed_content("output_dir")), name)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    parser.export_config_file(parser.get(), target)
    logger.info("tracking: the config that runs is saved to '%s'", target)
