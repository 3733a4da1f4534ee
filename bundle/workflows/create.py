"""Making and running workflows from arguments: ``create_workflow``, ``run_workflow`` and ``run``
(MONAI's functions of the same names), an ``args_file`` of defaults, and workflow classes by name."""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from typing import Any, Mapping

from bundle.errors import BundleError, FormatError, Location, MissingDependencyError, UnsafeConfigError, did_you_mean
from bundle.trust import resolve_trusted
from bundle.workflows.base import BundleWorkflow

__all__ = [
    "create_workflow", "run_workflow", "run", "load_args_file", "locate_workflow", "make_workflow", "prepare_workflow",
    "run_prepared",
]  # fmt: skip

logger = logging.getLogger(__name__)

_BUILT_IN = ("ConfigWorkflow", "PythonicWorkflow")


def load_args_file(args_file: str | os.PathLike | None) -> dict:
    """The defaults in an ``args_file`` (a JSON/YAML mapping); ``{}`` for None.

    Raises:
        ConfigError: the file is missing or not valid JSON/YAML.
        FormatError: it is not a mapping.
    """
    if args_file is None:
        return {}
    from bundle.config.loader import load_file

    data = load_file(os.fspath(args_file))
    if not isinstance(data, dict):
        raise FormatError(
            f"args_file '{args_file}' holds a {type(data).__name__}, not a mapping of argument names to values",
            location=Location(os.fspath(args_file)), hint='e.g. {"config_file": "configs/train.json", "run_id": "run"}',
        )
    return data


def merge_args(args_file: str | os.PathLike | None, **kwargs: Any) -> dict:
    """``args_file`` defaults updated with ``kwargs`` that are not None (explicit arguments win)."""
    args = load_args_file(args_file)
    args.update({k: v for k, v in kwargs.items() if v is not None})
    return args


def locate_workflow(workflow_name: Any = None, *, trusted: bool | None = None, config_file: Any = None) -> type:
    """The workflow class ``workflow_name`` names: None for ``ConfigWorkflow``, a built-in name
    (``ConfigWorkflow``, ``PythonicWorkflow``), a dotted path (``scripts.train.MyWorkflow``; trusted
    mode only, it imports code), or a class with ``initialize``, ``run`` and ``finalize``.
    ``trusted=None`` follows the trust rule for ``config_file`` as ``ConfigWorkflow`` applies it (the first
    file's folder decides): safe for a downloaded bundle's configs, trusted otherwise.

    Raises:
        UnsafeConfigError: a dotted path in safe mode.
        BundleError: nothing found, or not a workflow class.
    """
    import bundle.workflows as workflows

    if workflow_name is None:
        return workflows.ConfigWorkflow
    if isinstance(workflow_name, str):
        if workflow_name in _BUILT_IN:
            return getattr(workflows, workflow_name)
        if not _trusted(trusted, config_file):
            raise UnsafeConfigError(
                f"safe mode does not import the workflow class '{workflow_name}'",
                hint=f"use one of {', '.join(_BUILT_IN)}, or, if you trust the code, trusted=True (--trusted) "
                     "instead of safe mode (--safe, or a downloaded bundle's default)",
            )
        cls = _import_dotted(workflow_name)
    else:
        cls = workflow_name
    if not inspect.isclass(cls) or not all(callable(getattr(cls, m, None)) for m in ("initialize", "run", "finalize")):
        raise BundleError(
            f"workflow {workflow_name!r} is not a workflow class (one with initialize, run and finalize)",
            hint="subclass bundle.workflows.BundleWorkflow",
        )
    return cls


def _import_dotted(path: str) -> Any:
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name and module_name.startswith(err.name):
                continue  # this prefix is not a module: try a shorter one
            raise MissingDependencyError(err.name or str(err), purpose=f"the workflow class '{path}'") from err
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        return obj
    raise BundleError(
        f"cannot find the workflow class '{path}'",
        hint=did_you_mean(path, _BUILT_IN)
        or "write a dotted path, e.g. 'scripts.train.MyWorkflow' (importable from here)",
    )


def _trusted(trusted: bool | None, config_file: Any) -> bool:
    if trusted is not None:
        return bool(trusted)
    from bundle.workflows.config_workflow import as_config_files

    files = [] if config_file is None or isinstance(config_file, Mapping) else as_config_files(config_file)
    return resolve_trusted(None, os.path.dirname(files[0]) if files else None)


def _accepts_trusted(cls: type) -> bool:
    params = inspect.signature(cls).parameters
    if "trusted" in params:
        return True
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    return takes_kwargs and issubclass(cls, BundleWorkflow)


def make_workflow(workflow_name: Any = None, args_file: str | os.PathLike | None = None, **kwargs: Any) -> Any:
    """Make a workflow from arguments without initializing it.

    Args:
        workflow_name: see ``locate_workflow`` (an ``args_file`` may name it too).
        args_file: a JSON/YAML mapping of default arguments; for ``ConfigWorkflow`` keys that are
            not its arguments are config overrides (``parser[id] = value``).
        kwargs: arguments of the workflow class (``trusted=False`` is safe mode); None values are
            left out, so the ``args_file`` value or the class default applies.

    Raises:
        FormatError: a ``ConfigWorkflow`` without a config file, a bad ``args_file``.
        UnsafeConfigError: safe mode and a workflow class that is not built in.
    """
    from bundle.workflows.config_workflow import ConfigWorkflow

    args = merge_args(args_file, **kwargs)
    trusted = args.pop("trusted", None)  # None: the workflow class applies the trust rule to its config files
    named = args.pop("workflow_name", None)
    cls = locate_workflow(workflow_name if workflow_name is not None else named, trusted=trusted,
                          config_file=args.get("config_file"))
    if _accepts_trusted(cls):
        if trusted is not None:
            args["trusted"] = bool(trusted)
    elif trusted is False:
        raise UnsafeConfigError(f"workflow class '{cls.__qualname__}' has no safe mode (no trusted= argument)")
    if issubclass(cls, ConfigWorkflow) and args.get("config_file") is None:
        raise FormatError(
            "no config file given",
            hint="give config_file (command line: --config_file FILE, or BUNDLE_DIR CONFIG_NAME)",
        )
    _log_summary(cls, args)
    workflow = cls(**args)
    if "trusted" not in args and isinstance(getattr(workflow, "trusted", None), bool):
        logger.info("  trusted: %s (the trust rule: %s)", workflow.trusted,
                    "a folder of yours" if workflow.trusted else "a download from the cache")
    return workflow


def prepare_workflow(
    workflow: Any,
    overrides: Mapping[str, Any] | None = None,
    *,
    override_label: str = "<command line>",
    check_run_id: bool = True,
    require_properties: bool = True,
) -> Any:
    """Initialize a workflow, checking what can be checked before anything runs.

    For a ``ConfigWorkflow``: ``overrides`` are applied with MONAI's meaning (an id that does not
    exist is added when its parent exists, with a warning when it looks like a misspelling; ``+id``
    merges), the run id is checked, then ``initialize()`` parses the config, checks the required
    properties and only then evaluates ``init_id``. Other workflows are checked for
    required properties right after their ``initialize()``. (The command line checks; MONAI's
    Python functions ``create_workflow``/``run_workflow``/``run`` do not, and neither do ours.)

    Args:
        workflow: from ``make_workflow`` (or any workflow object).
        overrides: config overrides with the command line's meaning (``ConfigWorkflow`` only).
        override_label: where ``overrides`` come from, for messages.
        check_run_id: check that a ``ConfigWorkflow`` has its run id.
        require_properties: check the workflow type's required properties before anything runs.

    Returns:
        ``workflow``, initialized.
    """
    from bundle.workflows.config_workflow import ConfigWorkflow

    if isinstance(workflow, ConfigWorkflow):
        workflow.override(overrides or {}, label=override_label)
        if check_run_id:
            workflow.check_run_id()
    elif overrides:
        raise BundleError(
            f"config overrides ({', '.join(map(str, overrides))}) need a ConfigWorkflow, "
            f"not {type(workflow).__qualname__}",
            hint="pass them as arguments of the workflow class instead",
        )
    if isinstance(workflow, ConfigWorkflow):
        workflow.initialize(require_properties=require_properties)
        return workflow
    workflow.initialize()
    if require_properties and isinstance(workflow, BundleWorkflow):
        workflow.require_properties()
    return workflow


def run_prepared(workflow: Any) -> None:
    """``run()`` then ``finalize()``; a failed run leaves nothing of the bundle importable."""
    from bundle.workflows.config_workflow import ConfigWorkflow

    try:
        workflow.run()
    except BaseException:
        if isinstance(workflow, ConfigWorkflow):
            workflow.deactivate_scripts()  # finalize() is not run after a failure, as in MONAI
        raise
    workflow.finalize()


def _log_summary(cls: type, args: Mapping[str, Any]) -> None:
    logger.info("workflow %s", cls.__qualname__)
    for name, value in args.items():
        text = repr(value)
        logger.info("  %s: %s", name, text if len(text) <= 200 else text[:197] + "...")


def create_workflow(
    workflow_name: Any = None, config_file: Any = None, args_file: str | os.PathLike | None = None, **kwargs: Any
) -> Any:
    """Make a workflow and ``initialize()`` it (MONAI's ``create_workflow``).

    Args:
        workflow_name: a workflow class, a built-in name or a dotted path (default ``ConfigWorkflow``).
        config_file: the config file(s) (for config workflows).
        args_file: a JSON/YAML mapping of default arguments (explicit arguments win).
        kwargs: arguments of the workflow class; for ``ConfigWorkflow`` others are config overrides.

    Returns:
        The initialized workflow.

    Example:
        >>> wf = create_workflow(config_file="configs/inference.json", workflow_type="infer")
        >>> wf.run(); wf.finalize()
    """
    workflow = make_workflow(workflow_name, args_file, config_file=config_file, **kwargs)
    return prepare_workflow(workflow, check_run_id=False, require_properties=False)


def run_workflow(workflow_name: Any = None, args_file: str | os.PathLike | None = None, **kwargs: Any) -> None:
    """Make, initialize, run and finalize a workflow (MONAI's ``run_workflow``).

    Example:
        >>> run_workflow(config_file="configs/train.json", max_epochs=1)
        >>> run_workflow("scripts.train.MyWorkflow", args_file="args.yaml")
    """
    run_prepared(prepare_workflow(make_workflow(workflow_name, args_file, **kwargs), require_properties=False))


def run(
    run_id: str | None = None,
    init_id: str | None = None,
    final_id: str | None = None,
    meta_file: Any = None,
    config_file: Any = None,
    logging_file: Any = None,
    tracking: Any = None,
    args_file: str | os.PathLike | None = None,
    **override: Any,
) -> None:
    """Run a config workflow: ``initialize``, ``run_id``, ``finalize`` (MONAI's ``run``).

    Args:
        run_id, init_id, final_id: the ids to evaluate (defaults ``run``, ``initialize``, ``finalize``).
        meta_file, config_file, logging_file, tracking: as for ``ConfigWorkflow``.
        args_file: a JSON/YAML mapping of defaults for all of these and for overrides.
        override: ``{id: value}`` config overrides (``parser[id] = value``); ``trusted=False`` for
            safe mode, ``workflow_type=`` to choose the property set (checked only when read, as in MONAI).

    Example:
        >>> run(config_file="configs/train.json", meta_file="configs/metadata.json", dataset_dir="/data")
    """
    args = dict(
        run_id=run_id, init_id=init_id, final_id=final_id, meta_file=meta_file, config_file=config_file,
        logging_file=logging_file, tracking=tracking, **override,
    )
    run_workflow(None, args_file, **args)
