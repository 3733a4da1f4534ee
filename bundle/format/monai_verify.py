"""MONAI-compatible verification: ``verify_metadata`` and ``verify_net_in_out`` with
``monai.bundle``'s names and arguments, run offline, raising this package's errors.

Differences from MONAI 1.6.1, on purpose:

* ``verify_metadata`` downloads nothing: the ``schema`` URL maps to a schema shipped with the package
  (an unknown URL, or none, is checked against this project's own schema, with a log message);
  ``filepath`` receives the schema that was used; every violation is reported, each with its
  ``file:line:col``, in one ``VerificationError`` (a ``ValueError``, as MONAI raises).
* ``verify_net_in_out`` uses the ``image`` input and ``pred`` output as MONAI does, else the first
  input and output; ``net_id`` defaults to ``network_def``; spatial expressions are computed without
  ``eval``; all mismatches are reported together.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from bundle.atomic import write_atomic
from bundle.config import syntax
from bundle.config.engine import Config, config_root, read_files
from bundle.config.expand import apply_overrides
from bundle.config.loader import load_file
from bundle.config.sources import Sources
from bundle.errors import FormatError, Location
from bundle.format.report import Problem, VerificationError
from bundle.format.schemas import describe_error, schema_for_url, validation_errors

__all__ = ["verify_metadata", "verify_net_in_out"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _merged_args(args_file: PathLike | Mapping | None, **given: Any) -> dict:
    """MONAI's ``update_kwargs``: the args file gives defaults, arguments that are not None win."""
    args: dict = {}
    if isinstance(args_file, Mapping):
        args = dict(args_file)
    elif args_file is not None:
        loaded = load_file(args_file)
        if not isinstance(loaded, dict):
            raise FormatError(f"args_file '{args_file}' must hold a mapping of argument -> value",
                              location=Location(os.fspath(args_file), 1, 1))
        args = loaded
    for key, value in given.items():
        if value is None:
            continue
        if isinstance(value, Mapping) and isinstance(args.get(key), Mapping):
            args[key] = {**args[key], **value}
        else:
            args[key] = value
    return args


def _files(value: Any, what: str, argument: str) -> list[str]:
    if value is None or value == [] or value == "":
        raise FormatError(f"no {what} given", hint=f"pass --{argument} FILE (or put it in --args_file)")
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, Sequence):
        return [os.fspath(v) for v in value]
    raise FormatError(f"{argument} is {value!r}; give a file path or a list of them")


def _load(meta_files: list[str], config_files: Sequence[str] = (), overrides: Mapping[str, Any] | None = None) -> Any:
    """A ``Config`` of ``config_files`` with the merged ``meta_files`` as ``_meta_``; positions kept."""
    sources, meta_sources = Sources(), Sources()
    meta = read_files(meta_files, meta_sources)
    sources.graft(syntax.META_KEY, meta_sources)
    data: dict = {syntax.META_KEY: meta}
    read_files(list(config_files), sources, into=data)
    if overrides:
        apply_overrides(data, overrides, sources, strict=False)
    base = config_root(list(config_files) or meta_files)
    return Config(data, sources=sources, copy=False, base_dir=base)


def verify_metadata(
    meta_file: str | Sequence[str] | None = None,
    filepath: PathLike | None = None,
    create_dir: bool | None = None,
    hash_val: str | None = None,
    hash_type: str | None = None,
    args_file: str | None = None,
    **kwargs: Any,
) -> None:
    """Validate a metadata file against the schema its ``schema`` URL names, offline.

    Args:
        meta_file: the metadata file; a list of files is merged in order.
        filepath: where to write the schema that was used (MONAI saves the downloaded schema there).
        create_dir: create ``filepath``'s folder when missing (default True).
        hash_val: a digest of the schema; the bundled schema is used whatever it is (a mismatch is
            logged: this package ships its own rendering of each MONAI schema generation).
        hash_type: the digest's algorithm (default md5).
        args_file: a JSON/YAML file giving defaults for these arguments.
        kwargs: ``cls`` (a jsonschema validator class) and ``format_checker``, as for ``jsonschema.validate``.

    Raises:
        VerificationError: the metadata breaks the schema (every violation listed, with positions).
        FormatError: an argument is missing or wrong, or ``filepath``'s folder is missing.
        ConfigSyntaxError: a file is not valid JSON/YAML.
    """
    args = _merged_args(args_file, meta_file=meta_file, filepath=filepath, create_dir=create_dir,
                        hash_val=hash_val, hash_type=hash_type, **kwargs)
    meta_files = _files(args.pop("meta_file", None), "metadata file", "meta_file")
    filepath, create = args.pop("filepath", None), args.pop("create_dir", True)
    hash_val, hash_type = args.pop("hash_val", None), args.pop("hash_type", None) or "md5"
    cls, checker = args.pop("cls", None), args.pop("format_checker", None)
    if args:
        raise FormatError(f"verify_metadata got unknown argument(s): {', '.join(args)}",
                          hint="it takes meta_file, filepath, create_dir, hash_val, hash_type, args_file, cls, "
                               "format_checker")
    config = _load(meta_files)
    metadata = config.data["_meta_"]
    url = metadata.get("schema")
    schema, known = schema_for_url(url)
    if not known:
        logger.warning("schema %r is not bundled with this package; checking against this project's own metadata "
                       "schema (nothing is downloaded)", url)
    if filepath is not None:
        _save_schema(schema, Path(filepath), create, hash_val, hash_type)
    problems = []
    for err in validation_errors(metadata, schema, cls=cls, format_checker=checker):
        path, message, hint = describe_error(err)
        where = config.where("::".join(["_meta_", path]) if path else "_meta_")
        problems.append(Problem("metadata", message, where, path or None, hint))
    if problems:
        raise VerificationError(problems, subject=f"metadata does not follow the schema {url or '(none given)'}")
    logger.info("metadata is verified with no error.")


def _save_schema(schema: dict, path: Path, create: bool, hash_val: str | None, hash_type: str) -> None:
    if not path.parent.exists():
        if not create:
            raise FormatError(f"folder '{path.parent}' does not exist", hint="create it, or pass --create_dir true")
        path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(schema, indent=4) + "\n"
    if hash_val:
        try:
            digest = hashlib.new(hash_type.lower(), text.encode()).hexdigest()
        except ValueError:
            raise FormatError(f"hash_type '{hash_type}' is not a known hash", hint="use md5, sha1, sha256 or sha512") from None
        if digest != hash_val.lower():
            logger.warning("the bundled schema's %s digest is %s, not %s: it is this package's own rendering of the "
                           "published schema, and it is used as it is", hash_type, digest, hash_val)
    write_atomic(path, text)


def verify_net_in_out(
    net_id: str | None = None,
    meta_file: str | Sequence[str] | None = None,
    config_file: str | Sequence[str] | None = None,
    device: str | None = None,
    p: int | None = None,
    n: int | None = None,
    any: int | None = None,
    extra_forward_args: dict | None = None,
    args_file: str | None = None,
    **override: Any,
) -> None:
    """Build a network from a config and check it on a random input shaped as the metadata says.

    Args:
        net_id: the config id of the network (default ``network_def``).
        meta_file: the metadata file(s) (merged); available to the config as ``@_meta_``.
        config_file: the config file(s) defining the network (merged in order).
        device: where to run (default ``cuda:0`` when available, else ``cpu``).
        p, n: values of ``p`` and ``n`` in ``spatial_shape`` expressions (default 1).
        any: the size of a ``"*"`` dimension (default 1).
        extra_forward_args: more keyword arguments for the forward call.
        args_file: a JSON/YAML file giving defaults for these arguments and overrides.
        override: ``id=value`` config overrides, e.g. ``{"_meta_#network_data_format#inputs#image#num_channels": 3}``.

    Raises:
        MissingIdError: the config has no ``net_id`` (a ``KeyError``, as in MONAI).
        VerificationError: the network fails on the input, or its output's channels or dtype differ
            from the metadata (every mismatch listed).
        FormatError: an argument is missing or the metadata has no ``network_data_format``.
        NetworkBuildError: the network cannot be built, or is not a ``torch.nn.Module``.
        ConfigError: the config engine's errors while building it.
    """
    import torch

    from bundle.format.check_network import IO_KEY, forward_problems
    from bundle.format.network import network_from_config

    args = _merged_args(args_file, net_id=net_id, meta_file=meta_file, config_file=config_file, device=device,
                        p=p, n=n, any=any, extra_forward_args=extra_forward_args, **override)
    config_files = _files(args.pop("config_file", None), "config file", "config_file")
    meta_files = _files(args.pop("meta_file", None), "metadata file", "meta_file")
    net_id = args.pop("net_id", None) or "network_def"
    device = args.pop("device", None) or ("cuda:0" if torch.cuda.is_available() else "cpu")
    p, n, any = int(args.pop("p", 1)), int(args.pop("n", 1)), int(args.pop("any", 1))
    extra = args.pop("extra_forward_args", None) or {}
    config = _load(meta_files, config_files, overrides=args)
    io_format = config.get(f"_meta_::{IO_KEY}", None)
    if not isinstance(io_format, Mapping):
        raise FormatError(f"the metadata has no \"{IO_KEY}\" describing the network's inputs and outputs",
                          location=config.where("_meta_"), hint="see docs/format.md#metadata")
    config.get(net_id)  # a missing id is MONAI's KeyError (MissingIdError), with close ids
    network = network_from_config(config, net_id, root=config.base_dir)
    problems = forward_problems(
        network, io_format, where=lambda *parts: config.where("::".join(("_meta_", *parts))),
        device=device, p=p, n=n, any=any, extra_forward_args=extra,
    )
    errors = [pr for pr in problems if pr.severity == "error"]
    if errors:
        raise VerificationError(errors, subject=f"'{net_id}' does not match {IO_KEY}")
    logger.info("data shape of network is verified with no error.")
