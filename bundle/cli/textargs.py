"""Arguments of the registry commands (``list``, ``info``, ``download``, ...): names, versions, paths and
URLs, taken as the text they are.

fire, which parses the other commands, reads values as Python literals (``--version 0.10`` becomes the
number 0.1) and costs about 50 ms to import; these commands must start in a fraction of that. Their
parameters are plain: positional text, ``--name value`` or ``--name=value`` options converted by their
annotation (``int``, ``float``, else text), and ``--flag`` / ``--no_flag`` switches for ``bool`` ones.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

from bundle.errors import BundleError, did_you_mean

__all__ = ["call_with_text_args", "help_text"]


class UsageError(BundleError):
    """The command line does not fit the command (exit status 2)."""


def help_text(func: Callable, name: str) -> str:
    """The usage line and docstring of a command."""
    params = inspect.signature(func).parameters.values()
    parts = []
    for p in params:
        flag = p.name
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"[{p.name.upper()} ...]")
        elif p.kind is p.POSITIONAL_OR_KEYWORD:
            parts.append(p.name.upper() if p.default is p.empty else f"[{p.name.upper()}]")
        elif _is_flag(p):
            parts.append(f"[--{flag}]")
        else:
            parts.append(f"[--{flag} {p.name.upper()}]")
    return f"usage: bundle {name} {' '.join(parts)}\n\n{inspect.cleandoc(func.__doc__ or '')}"


def _is_flag(p: inspect.Parameter) -> bool:
    return "bool" in str(p.annotation)


def _convert(p: inspect.Parameter, text: str, name: str) -> Any:
    kind = str(p.annotation).split("|")[0].strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise UsageError(f"bundle {name}: --{p.name} takes a {'whole ' if kind == 'int' else ''}number, not '{text}'") from None
    return text


def call_with_text_args(func: Callable, args: Sequence[str], name: str) -> Any:
    """Call ``func`` with the command line ``args``; ``-h``/``--help`` prints its help instead.

    Raises:
        UsageError: an unknown option (with close matches), a missing value or argument, or too many arguments.
    """
    if any(a in ("-h", "--help") for a in args):
        print(help_text(func, name))
        return 0
    params = inspect.signature(func).parameters
    positional = [p for p in params.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    rest = next((p for p in params.values() if p.kind is p.VAR_POSITIONAL), None)
    options = {p.name: p for p in params.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    values: dict[str, Any] = {}
    extra: list[str] = []
    texts: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and len(arg) > 2:
            key, eq, value = arg[2:].partition("=")
            key = key.replace("-", "_")
            negated = key[3:] if key.startswith("no_") else key[2:] if key.startswith("no") else None
            if key not in options and negated in options and _is_flag(options[negated]) and not eq:
                values[negated] = False
            elif key not in options:
                hint = did_you_mean(key, options)
                raise UsageError(f"bundle {name}: unknown option --{key}" + (f"; {hint}" if hint else ""),
                                 hint=f"see: bundle {name} --help")
            elif _is_flag(options[key]) and not eq:
                values[key] = True
            elif _is_flag(options[key]):
                values[key] = value.strip().lower() in ("1", "true", "yes", "on")
            else:
                if not eq:
                    if i + 1 >= len(args):
                        raise UsageError(f"bundle {name}: --{key} needs a value", hint=f"see: bundle {name} --help")
                    i += 1
                    value = args[i]
                values[key] = _convert(options[key], value, name)
        else:
            texts.append(arg)
        i += 1
    free = [p for p in positional if p.name not in values]
    for p, text in zip(free, texts):
        values[p.name] = _convert(p, text, name)
    if len(texts) > len(free):
        if rest is None:
            raise UsageError(f"bundle {name}: too many arguments: {' '.join(texts[len(free):])}",
                             hint=f"see: bundle {name} --help")
        extra = texts[len(free):]
    missing = [p.name for p in positional if p.name not in values and p.default is p.empty]
    if missing:
        raise UsageError(f"bundle {name}: missing {', '.join(m.upper() for m in missing)}", hint=f"see: bundle {name} --help")
    ordered = [values.pop(p.name) for p in positional if p.name in values] if extra else []
    return func(*ordered, *extra, **values)
