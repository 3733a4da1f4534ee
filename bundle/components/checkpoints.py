"""Checkpoints: saving state dicts from a run (final and best) and loading them back, strictly.

A checkpoint of one object (``save_dict={"model": net}``) is that object's plain state dict, the
form of a bundle's ``models/model.pt``; with several objects it is ``{name: state dict}``. Only
tensors and plain containers are stored, so ``torch.load(..., weights_only=True)`` reads them.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from bundle.atomic import write_atomic
from bundle.components.distributed import is_rank0, unwrap_parallel
from bundle.components.engine import EngineEvent
from bundle.errors import FormatError

logger = logging.getLogger(__name__)

_SHOWN_KEYS = 8  # keys listed per kind of mismatch; the count says how many more


def _objects(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{what} must be a non-empty dict of name -> object with state_dict(), not {value!r}")
    for name, obj in value.items():
        if not callable(getattr(obj, "state_dict", None)):
            raise TypeError(f"{what} '{name}' ({type(obj).__name__}) has no state_dict()")
    return dict(value)


def _state(obj: Any) -> Any:
    return unwrap_parallel(obj).state_dict() if isinstance(obj, torch.nn.Module) else obj.state_dict()


def save_checkpoint(path: str | os.PathLike, save_dict: Mapping[str, Any]) -> Path:
    """Write the state dicts of ``save_dict``'s objects to ``path`` atomically (see module docstring).

    Returns:
        The path written.
    """
    objects = _objects(save_dict, "save_dict")
    payload = _state(next(iter(objects.values()))) if len(objects) == 1 else {k: _state(v) for k, v in objects.items()}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = Path(path)
    write_atomic(path, buffer.getvalue())
    return path


def _listing(keys: list[str]) -> str:
    shown = ", ".join(f"'{k}'" for k in keys[:_SHOWN_KEYS])
    return shown + (f" and {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS else "")


def _module_problems(module: torch.nn.Module, state: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The state dict fitted to ``module`` (a DDP ``module.`` prefix dropped) and every mismatch."""
    expected = module.state_dict()
    if state and all(k.startswith("module.") for k in state) and not any(k.startswith("module.") for k in expected):
        state = {k[len("module.") :]: v for k, v in state.items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"'{k}' {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {_listing(unexpected)}")
    if wrong:
        problems.append(f"shape mismatches (checkpoint vs network) ({len(wrong)}): {', '.join(wrong[:_SHOWN_KEYS])}")
    return dict(state), problems


def load_checkpoint(
    path: str | os.PathLike, load_dict: Mapping[str, Any], strict: bool = True, map_location: Any = "cpu"
) -> None:
    """Load a checkpoint into ``load_dict``'s objects, reading tensors only (``weights_only=True``).

    Args:
        path: the checkpoint file.
        load_dict: ``{name: object}``; with one entry the file may be that object's plain state dict.
        strict: every key of each network must match the file's (names and shapes); when False,
            matching keys are loaded and the rest is reported in the log.
        map_location: where tensors are loaded (``"cpu"`` by default; ``load_state_dict`` copies
            them to the network's device).

    Raises:
        FormatError: the file is missing or unreadable, lacks an object's entry, or (strict)
            does not match a network; the message names the file and lists every mismatch.
    """
    path = Path(path)
    objects = _objects(load_dict, "load_dict")
    if not path.is_file():
        raise FormatError(f"checkpoint '{path}' does not exist", hint="check the path, or train the model first")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # a truncated file, or pickled code that weights_only refuses
        raise FormatError(f"cannot read checkpoint '{path}': {err}", hint="save state dicts only") from err
    if not isinstance(checkpoint, Mapping):
        raise FormatError(f"checkpoint '{path}' holds a {type(checkpoint).__name__}, not a state dict")
    if len(objects) == 1 and next(iter(objects)) not in checkpoint:
        checkpoint = {next(iter(objects)): checkpoint}
    absent = [name for name in objects if name not in checkpoint]
    if absent:
        raise FormatError(
            f"checkpoint '{path}' has no entry for {_listing(absent)} "
            f"(entries: {_listing(sorted(map(str, checkpoint)))})"
        )
    problems: list[str] = []
    fitted: dict[str, Any] = {}
    for name, obj in objects.items():
        state = checkpoint[name]
        if isinstance(obj, torch.nn.Module):
            state, found = _module_problems(unwrap_parallel(obj), state)
            problems += [f"'{name}': {p}" for p in found]
        fitted[name] = state
    shape_errors = [p for p in problems if "shape" in p]
    if problems and (strict or shape_errors):
        listing = "".join(f"\n    {p}" for p in problems)
        raise FormatError(
            f"checkpoint '{path}' does not match the network:{listing}",
            hint="check that the network's arguments match the ones it was trained with",
        )
    # other objects (optimizers, schedulers) first: they check their state as they load it, and
    # the networks, already checked above, then load without failing, so a failure loads nothing
    for name, obj in objects.items():
        if not isinstance(obj, torch.nn.Module):
            try:
                obj.load_state_dict(fitted[name])
            except (ValueError, KeyError, RuntimeError, TypeError) as err:  # e.g. another optimizer's groups
                raise FormatError(f"checkpoint '{path}': cannot load '{name}': {err}") from err
    for name, obj in objects.items():
        if isinstance(obj, torch.nn.Module):
            unwrap_parallel(obj).load_state_dict(fitted[name], strict=False)
    for problem in problems:
        logger.warning("checkpoint '%s' (not strict): %s", path, problem)
    logger.info("loaded checkpoint '%s'", path)


class CheckpointWriter:
    """Handler: save state dicts when the run completes and/or when the key metric improves.

    Attach it to the trainer (``train_handlers``): "best" follows the validation metrics that
    ``PeriodicValidation`` brings in. Attached to an evaluator (``val_handlers``), "best" follows
    that evaluator's key metric and "final" is written after each of its runs. Only rank 0 writes.

    Args:
        save_dir: folder of the files (created if missing).
        save_dict: ``{name: object with state_dict()}``; one entry gives a plain state dict.
        save_final: write ``final_filename`` when the engine completes.
        final_filename: name of the final checkpoint.
        save_key_metric: write ``key_metric_filename`` each time the key metric reaches a new best.
        key_metric_filename: name of the best checkpoint.

    Example:
        ``{"_target_": "CheckpointWriter", "save_dir": "$@bundle_root + '/models'",
        "save_dict": {"model": "@network"}, "save_key_metric": true}``
    """

    def __init__(
        self,
        save_dir: str | os.PathLike,
        save_dict: Mapping[str, Any],
        save_final: bool = True,
        final_filename: str = "model_final.pt",
        save_key_metric: bool = False,
        key_metric_filename: str = "model.pt",
    ) -> None:
        self.save_dir = Path(save_dir)
        self.save_dict = _objects(save_dict, "save_dict")
        if not save_final and not save_key_metric:
            raise ValueError("CheckpointWriter saves nothing: set save_final and/or save_key_metric")
        for filename in (final_filename, key_metric_filename):
            if Path(filename).name != filename:
                raise ValueError(f"checkpoint file names must not contain folders, not {filename!r}")
        self.save_final = save_final
        self.final_filename = final_filename
        self.save_key_metric = save_key_metric
        self.key_metric_filename = key_metric_filename
        self.saved_best = False

    def attach(self, engine: Any) -> None:
        """Register with ``engine``'s ``METRICS_COMPUTED`` and ``COMPLETED`` events."""
        if self.save_key_metric:
            engine.add_event_handler(EngineEvent.METRICS_COMPUTED, self._on_metrics)
        if self.save_final:
            engine.add_event_handler(EngineEvent.COMPLETED, self._on_completed)

    def _on_metrics(self, engine: Any) -> None:
        state = engine.state
        if state.metric_improved and is_rank0():
            path = save_checkpoint(self.save_dir / self.key_metric_filename, self.save_dict)
            self.saved_best = True
            logger.info("saved %s: %s %.4f at epoch %d", path, state.key_metric, state.best_metric, state.epoch)

    def _on_completed(self, engine: Any) -> None:
        if is_rank0():
            path = save_checkpoint(self.save_dir / self.final_filename, self.save_dict)
            logger.info("saved %s after epoch %d", path, engine.state.epoch)


class CheckpointReader:
    """Handler: load a checkpoint into objects when the engine starts (or when called).

    MONAI-style configs call it on the engine from ``initialize``
    (``"$@checkpoint_reader(@evaluator)"``); it can also go in an engine's handler list, or
    ``load()`` can be called directly.

    Args:
        load_path: the checkpoint file.
        load_dict: ``{name: object}``; see ``load_checkpoint``.
        strict: see ``load_checkpoint``.
        map_location: see ``load_checkpoint``.

    Example:
        ``{"_target_": "CheckpointReader", "load_path": "$@bundle_root + '/models/model.pt'",
        "load_dict": {"model": "@network"}}``
    """

    def __init__(
        self, load_path: str | os.PathLike, load_dict: Mapping[str, Any], strict: bool = True, map_location: Any = "cpu"
    ) -> None:
        self.load_path = Path(load_path)
        self.load_dict = _objects(load_dict, "load_dict")
        self.strict = strict
        self.map_location = map_location

    def load(self) -> None:
        """Load now (see ``load_checkpoint``)."""
        load_checkpoint(self.load_path, self.load_dict, strict=self.strict, map_location=self.map_location)

    def __call__(self, engine: Any = None) -> None:
        self.load()

    def attach(self, engine: Any) -> None:
        """Load when ``engine`` fires ``STARTED``."""
        engine.add_event_handler(EngineEvent.STARTED, lambda _engine: self.load())
