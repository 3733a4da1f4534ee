"""The command line: a table of commands, each imported only when chosen, and the one place where
errors become messages and exit codes."""

from __future__ import annotations

import sys

from bundle import settings

# typing, collections.abc are imported for annotations only: at start-up (`bundle --help`)
# they would cost more than the rest of the package (typing.TYPE_CHECKING itself needs typing)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

# name -> ("module:function", one-line summary). Only the chosen module is imported.
COMMANDS: dict[str, tuple[str, str]] = {
    "audit": ("bundle.cli.config:audit", "list every import, target and expression configs would run (runs nothing)"),
    "show": ("bundle.cli.config:show", "print the merged, expanded config (or one id) as JSON or YAML"),
    "resolve": ("bundle.cli.config:resolve", "build the object at a config id and print what it is"),
    "verify": ("bundle.cli.verify:verify", "check a bundle folder and report every problem (layout, metadata, configs, network, weights)"),
    "verify_metadata": ("bundle.cli.verify:verify_metadata", "validate metadata against the schema its URL names (MONAI's command; offline)"),
    "verify_net_in_out": ("bundle.cli.verify:verify_net_in_out", "check a network's input and output against the metadata (MONAI's command)"),
    "init": ("bundle.cli.init:init", "create a bundle folder from a template (segmentation, classification) that verifies and runs"),
    "init_bundle": ("bundle.cli.init:init", "MONAI's name for init: init_bundle DIR [CKPT_FILE] [--dataset_license] ..."),
    "run": ("bundle.cli.run:run", "run a bundle's workflow: run BUNDLE_DIR CONFIG, or MONAI's run --config_file ..."),
    "run_workflow": ("bundle.cli.run:run_workflow", "run a workflow class (ConfigWorkflow, or a dotted path) with its arguments"),
    "list": ("bundle.cli.zoo:list_bundles", "list the zoo's bundles: name, latest version, summary, tags"),
    "search": ("bundle.cli.zoo:search", "find bundles whose name, summary or tags contain every word"),
    "info": ("bundle.cli.zoo:info", "show a bundle version: summary, license, size, sha256, sources, requirements"),
    "versions": ("bundle.cli.zoo:versions", "list a bundle's versions, newest first (semantic version order)"),
    "download": ("bundle.cli.download:download", "download a bundle (index, url, github, hf or monai source), verified and cached"),
    "download_large_files": ("bundle.cli.download:download_large_files", "fetch the files a bundle's large_files.yml lists, hash-checked (MONAI's command)"),
    "cache": ("bundle.cli.cache:cache", "list, prune or locate the download cache (list|prune|dir)"),
    "lock": ("bundle.cli.lock:lock", "pin the bundles an app declares (bundles.yaml) to exact versions and hashes (bundles.lock)"),
    "sync": ("bundle.cli.lock:sync", "fetch exactly the bundles a lock file pins, verified (offline from the cache)"),
    "publish": ("bundle.cli.publish:publish", "open a pull request publishing a bundle to a zoo on GitHub (github:OWNER/REPO) or to Hugging Face (hf:OWNER/NAME)"),
    "export": ("bundle.cli.export:export", "export a bundle's network to TorchScript or ONNX, checked against PyTorch"),
    "ckpt_export": ("bundle.cli.export:ckpt_export", "MONAI's ckpt_export: a checkpoint to TorchScript with metadata and configs"),
    "onnx_export": ("bundle.cli.export:onnx_export", "MONAI's onnx_export: a checkpoint to ONNX with a dynamic batch axis"),
    "trt_export": ("bundle.cli.export:trt_export", "MONAI's trt_export: a checkpoint to a TensorRT engine on the GPU, checked against PyTorch"),
    "package": ("bundle.cli.package:package", "package a bundle as a MONAI Deploy application folder (--target monai-deploy)"),
    "serve": ("bundle.cli.serve:serve", "serve a bundle over HTTP: Open Inference Protocol (Triton/KServe v2), /predict for images, /metrics"),
    "fl": ("bundle.cli.fl:fl", "federated learning on Flower: fl run BUNDLE --clients N --rounds R (local), fl server / fl client (real sites)"),
    "label": ("bundle.cli.label:label", "label with a bundle, MONAI Label's loop: infer|train|next BUNDLE, or app DIR --bundle NAME"),
}

# Commands whose arguments are text (names, versions, paths, URLs): parsed by bundle.cli.textargs, which
# keeps "0.10" as written and imports in a fraction of fire's time (list/info must start in < 0.15 s).
TEXT_COMMANDS = frozenset({"list", "search", "info", "versions", "download", "download_large_files", "cache",
                           "lock", "sync", "publish"})

USAGE = """usage: bundle COMMAND [ARGS] [--ID VALUE ...]
       python -m bundle COMMAND [ARGS] [--ID VALUE ...]

Model zoo and bundle packaging for PyTorch (MONAI-bundle compatible).

commands:
{commands}

Config overrides: any --ID VALUE that is not an option of the command sets that config id,
e.g. --network_def::channels "[16,32]", with MONAI's meaning (a new id is added; values are read as
fire reads them: --x False is a boolean, --x false the text; --x None is ignored).
'bundle COMMAND --help' shows a command's options. BUNDLE_DEBUG=1 shows tracebacks.
"""


def usage() -> str:
    width = max(len(n) for n in COMMANDS)
    rows = "\n".join(f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items())
    return USAGE.format(commands=rows)


def load_command(name: str) -> Callable:
    target = COMMANDS[name][0]
    module_name, func_name = target.split(":")
    import importlib

    return getattr(importlib.import_module(module_name), func_name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 a bundle error, 2 a usage error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] in ("--version", "version"):
        from bundle import __version__

        print(f"bundle {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        from bundle.errors import did_you_mean

        hint = did_you_mean(name, COMMANDS)
        print(f"bundle: unknown command '{name}'" + (f"; {hint}" if hint else ""), file=sys.stderr)
        print("run 'bundle --help' for the list of commands", file=sys.stderr)
        return 2
    try:
        settings.debug()  # a nonsense BUNDLE_DEBUG is reported before anything runs, not only on an error
        return run_command(name, rest)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # the one place errors become messages
        return report(err)


def run_command(name: str, args: list[str]) -> int:
    func = load_command(name)
    if name in TEXT_COMMANDS:
        from bundle.cli.textargs import UsageError, call_with_text_args

        try:
            result = call_with_text_args(func, args, name)
        except UsageError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return result if isinstance(result, int) and not isinstance(result, bool) else 0
    import inspect  # here, not at the top: --help needs none of it

    params = inspect.signature(func).parameters
    takes_overrides = "overrides" in params
    if takes_overrides and not any(a in ("-h", "--help") for a in args):
        from bundle.config.overrides import split_overrides

        args, overrides = split_overrides(args, known=[p for p in params if p != "overrides"])
        if overrides:
            func = _with_overrides(func, overrides)
    import fire

    # the command prints what it shows; its return value is the exit code, not output for fire
    result = fire.Fire(func, command=args, name=f"bundle {name}", serialize=_silent)
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def _silent(result: object) -> None:
    return None


def _with_overrides(func: Callable, overrides: dict) -> Callable:
    def call(*a, **kw):
        return func(*a, overrides=overrides, **kw)

    import inspect

    call.__signature__ = inspect.signature(func).replace(  # type: ignore[attr-defined]
        parameters=[p for n, p in inspect.signature(func).parameters.items() if n != "overrides"]
    )
    call.__doc__ = func.__doc__
    call.__name__ = func.__name__
    return call


def _debug() -> bool:
    """``BUNDLE_DEBUG``, False when its value is nonsense (``main`` reports that as the error)."""
    from bundle.errors import SettingError

    try:
        return settings.debug()
    except SettingError:
        return False


def report(err: BaseException) -> int:
    """Print an error for a person; the traceback only with BUNDLE_DEBUG=1."""
    from bundle.errors import BundleError

    debug = _debug()
    if debug:
        import traceback

        traceback.print_exception(type(err), err, err.__traceback__)
    if isinstance(err, BundleError):
        print(f"error: {err}", file=sys.stderr)
        cause = err.__cause__
        if cause is not None and not debug:
            if str(cause) not in str(err):  # not when the message already quotes it
                print(f"  caused by: {type(cause).__name__}: {cause}", file=sys.stderr)
            print("  (set BUNDLE_DEBUG=1 for the full traceback)", file=sys.stderr)
        return 1
    if isinstance(err, SystemExit):
        return int(err.code or 0) if not isinstance(err.code, str) else 2
    print(f"error: unexpected {type(err).__name__}: {err}", file=sys.stderr)
    print("  this is a bug in bundle; please report it with the output of BUNDLE_DEBUG=1", file=sys.stderr)
    return 3
