"""Commands that run bundles: ``run`` (MONAI's arguments, and the short form ``run BUNDLE_DIR
CONFIG...``) and ``run_workflow``."""

from __future__ import annotations

import logging
import os
from typing import Any

# run's own options (also read from an args_file); every other key is a config override
_RUN_OPTIONS = (
    "run_id", "init_id", "final_id", "meta_file", "config_file", "logging_file", "tracking", "bundle_root",
    "workflow_type", "output_dir",
)  # fmt: skip


def run(
    *bundle_and_configs: str,
    run_id: str | None = None,
    init_id: str | None = None,
    final_id: str | None = None,
    meta_file: Any = None,
    config_file: Any = None,
    logging_file: Any = None,
    tracking: Any = None,
    args_file: str | None = None,
    bundle_root: str | None = None,
    workflow_type: str | None = None,
    output_dir: str | None = None,
    safe: bool | None = None,
    trusted: bool | None = None,
    overrides: dict | None = None,
) -> None:
    """Run a bundle's workflow: evaluate its initialize, run and finalize ids.

    Two forms:
      bundle run BUNDLE_DIR CONFIG [CONFIG...]        e.g.  bundle run zoo/spleen inference
          configs/CONFIG.{json,yaml,yml} merged in order, configs/metadata.json and
          configs/logging.conf when there, config id bundle_root set to BUNDLE_DIR; under
          torchrun, configs/multi_gpu_CONFIG.* is layered on top of each CONFIG.
      bundle run [RUN_ID] --config_file FILE ...      MONAI's form (RUN_ID is --run_id)
    Any other --ID VALUE sets a config id, as in MONAI: a new id is added (a warning names a close
    existing one), --+ID merges into a list or dict, values are read as MONAI reads them (--x false is
    the text 'false', --x False the boolean) and --ID None is ignored as MONAI ignores it.

    Args:
        bundle_and_configs: BUNDLE_DIR and config names; or, with --config_file, MONAI's RUN_ID.
        run_id: the id to run (default: run).
        init_id: the id evaluated first (default: initialize; optional in the config).
        final_id: the id evaluated last (default: finalize; optional in the config).
        meta_file: the metadata file (default: metadata.json next to the first config, if there).
        config_file: config file(s): a path, or "['a.json','b.json']" merged in order.
        logging_file: a logging file (.conf, or a YAML/JSON dictConfig); False leaves logging alone.
        tracking: experiment tracking: mlflow (needs mlflow and MONAI) or a settings file.
        args_file: a JSON/YAML file of defaults for these options and for config overrides.
        bundle_root: set config id bundle_root (the short form sets it to BUNDLE_DIR).
        workflow_type: train or infer: check that type's required properties before running.
        output_dir: where outputs go: config ids output_dir (DIR) and log_dir (DIR/logs). A zoo bundle
            (zoo/NAME or the download cache) writes to $BUNDLE_OUTPUT_DIR/NAME, else the user data
            folder's bundle/outputs/NAME, unless told (also in the --config_file form); another bundle
            folder where its config says.
        safe: run nothing outside the safe policy (for bundles you do not trust). The default follows
            the trust rule: a bundle in the download cache runs in safe mode, any other folder trusted.
        trusted: run a downloaded bundle with its own code (only for bundles you trust).
    """
    from bundle.workflows.create import load_args_file, make_workflow, prepare_workflow, run_prepared

    _setup_logging()
    defaults = load_args_file(args_file)
    trusted = trust_from_flags(safe, trusted, defaults)
    args = {k: defaults.pop(k) for k in list(defaults) if k in _RUN_OPTIONS}
    given = dict(
        run_id=run_id, init_id=init_id, final_id=final_id, meta_file=meta_file, config_file=config_file,
        logging_file=logging_file, tracking=tracking, bundle_root=bundle_root, workflow_type=workflow_type,
        output_dir=output_dir,
    )
    args.update({k: v for k, v in given.items() if v is not None})
    folder = _read_positionals([str(p) for p in bundle_and_configs], args)
    root = args.pop("bundle_root", None)
    outputs = args.pop("output_dir", None)

    workflow = make_workflow(None, None, trusted=trusted, **args)
    if root is None and folder is not None and "bundle_root" in workflow.parser:
        root = os.path.abspath(folder)
    if root is not None:
        workflow.override({"bundle_root": str(root)}, label="<bundle_root>")
    if defaults:  # the args_file's config overrides, then the command line's (which win)
        workflow.override(defaults, label=str(args_file))
    _send_outputs(workflow, folder, outputs, {**defaults, **(overrides or {})}, args.get("config_file"))
    prepare_workflow(workflow, overrides or {})
    run_prepared(workflow)


def _send_outputs(workflow, folder: str | None, output_dir: str | None, given: dict, config_file=None) -> None:
    from bundle.workflows.outputs import output_overrides

    if folder is None and config_file is not None:  # MONAI's form: the bundle folder above configs/
        from bundle.workflows.config_workflow import as_config_files

        files = as_config_files(config_file)
        above = os.path.dirname(os.path.dirname(os.path.abspath(files[0]))) if files else None
        folder = above if above and os.path.isfile(os.path.join(above, "configs", "metadata.json")) else None
    pairs = output_overrides(folder, lambda key: key in workflow.parser, given, output_dir)
    if pairs:
        workflow.override(pairs, label="<output_dir>")
        logging.getLogger("bundle.run").info("outputs go to %s", pairs.get("output_dir") or pairs.get("log_dir"))


def run_workflow(
    workflow_name: str | None = None,
    args_file: str | None = None,
    safe: bool | None = None,
    overrides: dict | None = None,
) -> None:
    """Make, initialize, run and finalize a workflow class (default ConfigWorkflow).

    Every --NAME VALUE is an argument of the workflow class (e.g. --config_file, --meta_file,
    --workflow_type for ConfigWorkflow); for a ConfigWorkflow, names that are not its arguments
    are config overrides (a new id is added, as in MONAI; --+ID merges).

    Args:
        workflow_name: ConfigWorkflow, PythonicWorkflow, or a dotted path such as scripts.train.MyWorkflow.
        args_file: a JSON/YAML file of default arguments.
        safe: run nothing outside the safe policy; only the built-in workflow classes.
    """
    import inspect

    from bundle.workflows.config_workflow import ConfigWorkflow
    from bundle.workflows.create import load_args_file, locate_workflow, make_workflow, prepare_workflow, run_prepared

    _setup_logging()
    given = {**load_args_file(args_file), **(overrides or {})}
    trusted = trust_from_flags(safe, None, given)
    name = workflow_name if workflow_name is not None else given.pop("workflow_name", None)
    cls = locate_workflow(name, trusted=trusted, config_file=given.get("config_file"))
    config_overrides: dict = {}
    if issubclass(cls, ConfigWorkflow):
        params = {n for n, p in inspect.signature(cls).parameters.items() if p.kind is not p.VAR_KEYWORD}
        config_overrides = {k: given.pop(k) for k in list(given) if k not in params}
    workflow = make_workflow(cls, None, trusted=trusted, **given)
    run_prepared(prepare_workflow(workflow, config_overrides))


def trust_from_flags(safe: Any, trusted: Any, defaults: dict) -> bool | None:
    """The ``trusted`` value that ``--safe`` and ``--trusted`` ask for: False, True, or None when neither
    is given (the trust rule decides). A flag not given is taken from ``defaults`` (an args file), and
    both are removed from it.

    Raises:
        ConfigError: both flags are given.
    """
    safe = _flag(safe if safe is not None else defaults.pop("safe", False), "safe")
    trusted = _flag(trusted if trusted is not None else defaults.pop("trusted", False), "trusted")
    defaults.pop("safe", None)
    defaults.pop("trusted", None)
    if safe and trusted:
        from bundle.errors import ConfigError

        raise ConfigError("--safe and --trusted contradict each other", hint="give one of them")
    return False if safe else (True if trusted else None)


def _read_positionals(positional: list[str], args: dict) -> str | None:
    """Tell the two forms apart; fills ``args`` and returns the bundle folder of the short form.

    One word with ``config_file`` given (and no path separator) is MONAI's run id
    (``run training --config_file ...``); otherwise the first word is a bundle folder and the rest
    are config names.
    """
    from bundle.errors import FormatError
    from bundle.workflows.layout import bundle_config_files, world_size

    if not positional:
        return None
    if args.get("config_file") is not None:
        if len(positional) == 1 and not _path_like(positional[0]):
            if "run_id" in args and args["run_id"] != positional[0]:
                raise FormatError(f"two run ids: '{positional[0]}' and --run_id '{args['run_id']}'", hint="give one")
            args["run_id"] = positional[0]
            return None
        raise FormatError(
            "configs given twice: after the bundle folder and with --config_file",
            hint="use either 'bundle run BUNDLE_DIR CONFIG...' or 'bundle run --config_file FILE'",
        )
    folder, names = positional[0], positional[1:]
    if not os.path.exists(folder) and not _path_like(folder) and len(positional) == 1:
        from bundle.workflows.base import BundleFileNotFoundError

        raise BundleFileNotFoundError(
            f"bundle folder '{folder}' does not exist",
            hint=f"MONAI's form 'run {folder}' (a run id) needs --config_file; "
            "the short form is 'run BUNDLE_DIR CONFIG'",
        )
    args["config_file"] = bundle_config_files(folder, names, processes=world_size())
    return folder


def _path_like(word: str) -> bool:
    return os.sep in word or "/" in word or word in (".", "..") or word.startswith("~") or os.path.isabs(word)


def _flag(value: Any, name: str) -> bool:
    from bundle.errors import FormatError

    if isinstance(value, bool):
        return value
    raise FormatError(
        f"--{name} is a switch, but {value!r} was read as its value",
        hint=f"put --{name} after the bundle folder and config names, or write --{name}=true",
    )


def _setup_logging() -> None:
    """Messages of this package at INFO on stderr, unless logging is configured already (a bundle's
    logging file, applied later, replaces this). Under torchrun each line starts with ``[rank N]``, and
    only rank 0 logs INFO (``BUNDLE_LOG_RANKS``: ``all`` or ranks such as ``0,1``); the others WARNING."""
    from bundle.workflows.logs import process_rank, rank_logs_info

    rank = process_rank()
    root = logging.getLogger()
    if not root.handlers:
        prefix = f"[rank {rank}] " if rank is not None else ""
        logging.basicConfig(level=logging.WARNING, format=prefix + "%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("bundle").setLevel(logging.INFO if rank_logs_info(rank) else logging.WARNING)
