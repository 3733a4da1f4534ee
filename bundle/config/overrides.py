"""Overrides from the command line: ``--network_def::channels "[16,32]"`` -> ``{id: value}``.

Values are read as JSON (numbers, lists, dicts, quoted strings, true/false/null), then as YAML
flow collections (``[a, b]``, ``{k: v}``); ``None``/``null`` give None, ``True``/``False`` give
booleans, and anything else stays the string it is (``$@x + 1``, ``@net``, ``/data/images``).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from bundle.errors import InvalidConfigError, Location

_NONE = {"None", "null", "~", "NULL", "Null"}
_BOOLS = {"True": True, "true": True, "False": False, "false": False}


def parse_value(text: str) -> Any:
    """Read one override value as a literal, or keep it as a string.

    Example:
        >>> parse_value("[16, 32]"), parse_value("None"), parse_value("0.5"), parse_value("$@a + 1")
        ([16, 32], None, 0.5, '$@a + 1')
    """
    if not isinstance(text, str):
        return text
    t = text.strip()
    if t in _NONE:
        return None
    if t in _BOOLS:
        return _BOOLS[t]
    if not t or t[0] in "$@%":
        return text
    try:
        return json.loads(t)
    except ValueError:
        pass
    if t[0] in "[{":
        import yaml

        try:
            return yaml.safe_load(t)
        except yaml.YAMLError as err:
            raise InvalidConfigError(
                f"override value {text!r} looks like a list or dict but is not valid JSON/YAML: {err.problem if hasattr(err, 'problem') else err}",
                location=Location("<command line>"),
                hint="quote it for the shell, e.g. --channels '[16, 32]'",
            ) from None
    return text


def split_overrides(args: Sequence[str], known: Sequence[str] = ()) -> tuple[list[str], dict[str, Any]]:
    """Separate config overrides from a command's own options.

    Args:
        args: command-line words after the command name.
        known: option names the command itself takes (``--safe``, ``--config_file``, ...).

    Returns:
        (the words for the command, ``{id: value}`` overrides in the order given).

    Raises:
        InvalidConfigError: an override has no value.
    """
    rest: list[str] = []
    overrides: dict[str, Any] = {}
    known_set = {k.replace("-", "_") for k in known}
    i = 0
    while i < len(args):
        word = args[i]
        if not word.startswith("--") or word == "--":
            rest.append(word)
            i += 1
            continue
        name, eq, value = word[2:].partition("=")
        key = name.replace("-", "_")
        if key in known_set or (key.startswith("no") and key[2:] in known_set):
            rest.append(word)  # the command's own option: fire reads it (and its value)
            i += 1
            continue
        if not eq:
            if i + 1 >= len(args) or (args[i + 1].startswith("--") and len(args[i + 1]) > 2):
                raise InvalidConfigError(
                    f"override '--{name}' has no value", location=Location("<command line>"),
                    hint=f"write --{name} VALUE (use --{name} None to set it to null)",
                )
            value = args[i + 1]
            i += 2
        else:
            i += 1
        overrides[name] = parse_value(value)
    return rest, overrides
