"""``update_kwargs`` (MONAI's name): default arguments from a dict or a JSON/YAML file, updated with
keyword arguments, as every MONAI-style ``args_file`` is read."""

from __future__ import annotations

import os
import warnings
from typing import Any

from bundle.config import syntax
from bundle.errors import InvalidConfigError

__all__ = ["update_kwargs"]


def update_kwargs(args: Any = None, ignore_none: bool = True, **kwargs: Any) -> Any:
    """``args`` updated with ``kwargs``: nested dicts are updated key by key, a ``+key`` extends the
    list or updates the dict at ``key`` (MONAI's merge key), any other key replaces the value.

    The caller's ``args`` is not changed: the result is a new dict (MONAI updates ``args`` in place).

    Args:
        args: a dict, a JSON/YAML file holding one, a ``(primary, overrides)`` pair of such files
            (the overrides file updates the primary one, and ``kwargs`` update both), or None for ``{}``.
        ignore_none: leave out the ``kwargs`` whose value is None.
        kwargs: the values that win.

    Returns:
        The updated dict; a file that holds something other than a mapping is returned as read.

    Raises:
        InvalidConfigError: a ``+key`` whose value and target are not both dicts or both lists, or
            a file pair that is not two names. ConfigError: a file cannot be read.

    Example:
        >>> update_kwargs({"exist": 1, "net": {"a": 1}}, exist=2, net={"b": 2}, new_arg=3)
        {'exist': 2, 'net': {'a': 1, 'b': 2}, 'new_arg': 3}
        >>> update_kwargs({"handlers": [1]}, **{"+handlers": [2]})
        {'handlers': [1, 2]}
    """
    from bundle.config.loader import load_file
    from bundle.config.tree import copy_tree

    if isinstance(args, (tuple, list)) and all(isinstance(a, (str, os.PathLike)) for a in args):
        if len(args) != 2:
            raise InvalidConfigError(f"args {list(map(os.fspath, args))} must be two files: (primary, overrides)")
        primary, overrides = args
        return update_kwargs(primary, ignore_none, **update_kwargs(overrides, ignore_none, **kwargs))
    if isinstance(args, (str, os.PathLike)):
        base = load_file(os.fspath(args))
    else:
        base = copy_tree(args) if isinstance(args, dict) else {}
    if not isinstance(base, dict):
        return base
    for key, value in kwargs.items():
        if ignore_none and value is None:
            continue
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = update_kwargs(base[key], ignore_none, **value)
        elif str(key).startswith(syntax.MERGE):
            _merge(base, key, value)
        else:
            base[key] = value
    return base


def _merge(base: dict, key: str, value: Any) -> None:
    target = key[len(syntax.MERGE):]
    if target not in base:
        warnings.warn(f"'{key}' has nothing to merge into: '{target}' is not there, so it is set", stacklevel=3)
        base[target] = value
    elif isinstance(value, dict) and isinstance(base[target], dict):
        base[target].update(value)
    elif isinstance(value, list) and isinstance(base[target], list):
        base[target].extend(value)
    else:
        raise InvalidConfigError(
            f"'{key}' merges a {type(value).__name__} into a {type(base[target]).__name__}",
            config_id=target, hint="both must be dicts (updated) or both lists (extended)",
        )
