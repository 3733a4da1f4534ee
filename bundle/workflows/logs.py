"""A bundle's logging file: an INI file for ``logging.config.fileConfig`` (trusted bundles only:
it evaluates code) or a YAML/JSON ``logging.config.dictConfig`` mapping (checked in safe mode)."""

from __future__ import annotations

import logging
import os
from typing import Any

from bundle import settings
from bundle.errors import FormatError, Location, UnsafeConfigError

__all__ = ["DICT_SUFFIXES", "apply_logging_file", "process_rank", "rank_logs_info"]

logger = logging.getLogger(__name__)

DICT_SUFFIXES = (".json", ".yaml", ".yml")
_CLASS_MODULES = ("logging", "logging.handlers")
_CLASS_KINDS = (logging.Handler, logging.Formatter, logging.Filter)
_STREAMS = ("ext://sys.stdout", "ext://sys.stderr")
_ADVISORY = "GHSA-wvpx-5qmp-46g3"


def apply_logging_file(path: str | os.PathLike, *, trusted: bool = True) -> None:
    """Configure ``logging`` from a bundle's logging file.

    ``.json``/``.yaml``/``.yml`` files hold a ``dictConfig`` mapping (``version: 1``); existing
    loggers stay enabled unless the file says ``disable_existing_loggers: true``. Any other
    suffix (``logging.conf``) is an INI file for ``fileConfig``, which evaluates its ``class=`` and
    ``args=`` entries as Python, so it is applied only when ``trusted``.

    Args:
        path: the logging file (must exist; the caller checks and reports a missing one).
        trusted: False refuses INI files and checks a dictConfig mapping: handler, formatter and
            filter classes must come from ``logging``/``logging.handlers``, no ``()`` factories,
            and ``ext://`` values only ``sys.stdout``/``sys.stderr``.

    Raises:
        UnsafeConfigError: safe mode and an INI file, or a dictConfig mapping that names code.
        FormatError: the file is not a valid logging configuration.

    Example:
        >>> apply_logging_file("configs/logging.yaml", trusted=False)
    """
    import logging.config  # only here: it imports socket, threading and more
    import logging.handlers  # noqa: F401  (the module _allowed_class looks classes up in)

    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() in DICT_SUFFIXES:
        _apply_dict_file(path, trusted)
        return
    if not trusted:
        raise UnsafeConfigError(
            f"safe mode does not apply the logging file '{path}': logging.config.fileConfig evaluates its "
            f"class= and args= entries as Python code ({_ADVISORY})",
            location=Location(path),
            hint="run without --safe if you trust this bundle, pass a YAML/JSON dictConfig file as "
            "logging_file, or logging_file=False to keep the current logging",
        )
    try:
        logging.config.fileConfig(path, disable_existing_loggers=False)
    except Exception as err:  # fileConfig raises KeyError, ValueError, configparser errors, ...
        raise FormatError(
            f"logging file '{path}' is not a valid fileConfig INI file: {type(err).__name__}: {err}",
            location=Location(path),
            hint="see https://docs.python.org/3/library/logging.config.html#configuration-file-format",
        ) from err
    logger.info("logging configured from '%s'", path)


def _apply_dict_file(path: str, trusted: bool) -> None:
    from bundle.config.loader import load_file

    data = load_file(path)
    if not isinstance(data, dict) or data.get("version") != 1:
        raise FormatError(
            f"logging file '{path}' is not a logging dictConfig mapping with 'version: 1'",
            location=Location(path),
            hint="see https://docs.python.org/3/library/logging.config.html#logging-config-dictschema",
        )
    if not trusted:
        _check_dict_config(data, path)
    data.setdefault("disable_existing_loggers", False)
    try:
        logging.config.dictConfig(data)
    except Exception as err:  # dictConfig wraps most problems in ValueError, but not all
        raise FormatError(
            f"logging file '{path}' could not be applied: {type(err).__name__}: {err}", location=Location(path),
            hint="see https://docs.python.org/3/library/logging.config.html#logging-config-dictschema",
        ) from err
    logger.info("logging configured from '%s'", path)


def _check_dict_config(data: dict, path: str) -> None:
    """Refuse what would make ``dictConfig`` import or call code beyond the standard handlers."""

    def refuse(where: str, what: str) -> None:
        raise UnsafeConfigError(
            f"safe mode refuses the logging file '{path}': {where} {what}", location=Location(path),
            hint="use handler, formatter and filter classes from logging / logging.handlers, no '()' "
            "factories, no '.' attributes and no ext:// values other than sys.stdout / sys.stderr; "
            "or run without --safe",
        )

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{where}::{key}" if where else str(key)
                if key == "()":
                    refuse(here, "names a factory to call")
                if key == ".":
                    refuse(here, "sets attributes on a logging object")
                if key == "class" and not _allowed_class(value):
                    refuse(here, f"names '{value}', which is not a logging handler, formatter or filter class")
                walk(value, here)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}::{i}")
        elif isinstance(node, str) and node.startswith("ext://") and node not in _STREAMS:
            refuse(where, f"refers to '{node}', which imports a module")

    walk(data, "")


def _allowed_class(name: Any) -> bool:
    if not isinstance(name, str):
        return False
    module, _, attr = name.rpartition(".")
    module = module or "logging"
    if module not in _CLASS_MODULES:
        return False
    import importlib

    value = getattr(importlib.import_module(module), attr, None)
    return isinstance(value, type) and issubclass(value, _CLASS_KINDS)


def process_rank(environ=None) -> int | None:
    """This process's rank under ``torchrun`` (``RANK`` when ``WORLD_SIZE`` > 1), else None."""
    env = os.environ if environ is None else environ
    try:
        if int(env.get("WORLD_SIZE", "1")) > 1:
            return int(env.get("RANK", "0"))
    except ValueError:
        pass
    return None


def rank_logs_info(rank: int | None, environ=None) -> bool:
    """Whether ``rank`` logs this package's INFO messages: outside torchrun always; under it the ranks
    ``BUNDLE_LOG_RANKS`` names (``0`` by default, ``0,1``, or ``all``); the others log WARNING and above.

    Raises:
        FormatError: ``BUNDLE_LOG_RANKS`` is neither ``all`` nor a list of ranks.
    """
    if rank is None:
        return True
    ranks = settings.log_ranks(environ)
    return ranks is None or rank in ranks
