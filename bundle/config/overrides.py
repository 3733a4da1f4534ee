"""Overrides from the command line: ``--network_def::channels "[16,32]"`` -> ``{id: value}``.

Values mean what they mean to MONAI's command line, which reads them with fire: Python literals
(numbers, ``[1, 2]``, ``{a: 1}``, ``True``/``False``/``None``, quoted strings, ``1,2`` as a tuple), and
anything else stays the string it is (``false``, ``null``, ``$@x + 1``, ``@net``, ``/data/images``). The
same words give a bundle the same values under ``python -m bundle`` and ``python -m monai.bundle``.
``--ID None`` is ignored, as MONAI ignores it (a warning says so; an ``--args_file`` with ``null`` sets
null under both), and a value that starts like a list or dict but does not parse is an error.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from bundle.errors import InvalidConfigError, Location

logger = logging.getLogger(__name__)


def parse_value(text: str) -> Any:
    """Read one override value as MONAI's command line (fire) reads it.

    Example:
        >>> parse_value("[16, 32]"), parse_value("False"), parse_value("false"), parse_value("$@a + 1")
        ([16, 32], False, 'false', '$@a + 1')
    """
    if not isinstance(text, str):
        return text
    t = text.strip()
    if t[:1] in ("$", "@", "%"):  # fire keeps these as text too (they are not Python); no parse needed
        return text
    from fire.parser import DefaultParseValue

    value = DefaultParseValue(text)
    if isinstance(value, str) and t[:1] in ("[", "{"):
        raise InvalidConfigError(
            f"override value {text!r} looks like a list or dict but does not parse as one",
            location=Location("<command line>"),
            hint="quote it for the shell and close every bracket, e.g. --channels '[16, 32]'",
        )
    return value


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
                    hint=f"write --{name} VALUE (to set null, put \"{name}\": null in an --args_file)",
                )
            value = args[i + 1]
            i += 2
        else:
            i += 1
        parsed = parse_value(value)
        if parsed is None:  # MONAI's command line drops None: the same command must mean the same here
            logger.warning("--%s %s is ignored, as MONAI ignores it; to set '%s' to null, put \"%s\": null "
                           "in an --args_file", name, value, name, name)
            continue
        overrides[name] = parsed
    return rest, overrides
