"""Commands that look at configs: ``audit``, ``show`` and ``resolve``."""

from __future__ import annotations

import json
import sys
from typing import Any


def _load(configs: tuple, meta_file: str | None, overrides: dict | None, safe: bool):
    from bundle.config.engine import Config
    from bundle.errors import InvalidConfigError

    if not configs:
        raise InvalidConfigError("no config file given", hint="pass one or more .json/.yaml files")
    return Config.load(*configs, meta=meta_file, overrides=overrides, trusted=not safe)


def audit(*configs: str, meta_file: str | None = None, json_output: bool = False, overrides: dict | None = None) -> int:
    """List every import, _target_ and $ expression the configs would run, with file:line:col.

    Nothing is imported or evaluated. Each line says whether safe mode (--safe) would allow it.
    Exits 0 when safe mode would allow everything, 1 otherwise.

    Args:
        configs: config files, merged in order (later files override earlier ones).
        meta_file: a metadata file, available to the configs as @_meta_.
        json_output: print a JSON list instead of text.
    """
    from bundle.config.audit import format_audit

    config = _load(configs, meta_file, overrides, safe=False)
    entries = config.audit()
    if json_output:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
    else:
        print(format_audit(entries))
    return 0 if all(e.safe for e in entries) else 1


def show(*configs: str, id: str = "", meta_file: str | None = None, format: str = "json", overrides: dict | None = None) -> None:
    """Print the merged config after overrides, macros and relative ids (nothing is run).

    Args:
        configs: config files, merged in order.
        id: print only this id (e.g. network_def or train::trainer).
        meta_file: a metadata file, available as @_meta_.
        format: json or yaml.
    """
    config = _load(configs, meta_file, overrides, safe=False)
    value = config.get(id)
    if format == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(value, sort_keys=False))
    else:
        print(json.dumps(value, indent=2, default=str))


def resolve(*configs: str, id: str = "", meta_file: str | None = None, safe: bool = False, overrides: dict | None = None) -> None:
    """Build the object at a config id (instantiating what it needs) and print its type and repr.

    Args:
        configs: config files, merged in order.
        id: the id to build (e.g. network_def).
        meta_file: a metadata file, available as @_meta_.
        safe: run nothing outside the safe policy (for configs you do not trust).
    """
    config = _load(configs, meta_file, overrides, safe=safe)
    value: Any = config.resolve(id)
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    print(f"{id or '<root>'}: {kind}")
    print(repr(value))
