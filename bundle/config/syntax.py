"""The sigils of the config language: ids, ``@`` references, relative ids, ``$`` and ``%`` strings.

Ids are strings of parts joined by ``::`` (``#`` is accepted as a legacy separator in ids,
references, macros and merge keys, and nowhere else: ``"color #fff"`` stays as written).
"""

from __future__ import annotations

import functools
import re
from typing import Generator, Iterator

from bundle.errors import InvalidConfigError

SEP = "::"
LEGACY_SEP = "#"
REF = "@"
EXPR = "$"
MACRO = "%"
MERGE = "+"
META_KEY = "_meta_"

TARGET_KEY = "_target_"
DISABLED_KEY = "_disabled_"
REQUIRES_KEY = "_requires_"
DESC_KEY = "_desc_"
MODE_KEY = "_mode_"
NON_ARG_KEYS = frozenset({TARGET_KEY, DISABLED_KEY, REQUIRES_KEY, DESC_KEY, MODE_KEY})

# A reference inside an expression: "@" then an id made of word characters and separators.
# Relative prefixes ("@::x", "@##x") are part of the match.
_EXPR_REF = re.compile(r"@((?:::|#)*\w+(?:(?:::|#)\w+)*)")
_RELATIVE = re.compile(r"^((?:::|#)+)")


def normalize_id(id: str | int) -> str:
    """``a#b#0`` -> ``a::b::0``; ints become strings."""
    return str(id).replace(LEGACY_SEP, SEP)


def split_id(id: str | int) -> list[str]:
    """``"a::b::0"`` -> ``["a", "b", "0"]``; the root ``""`` -> ``[]``."""
    id = normalize_id(id)
    return id.split(SEP) if id != "" else []


def join_id(parent: str, key: str | int) -> str:
    return f"{parent}{SEP}{key}" if parent != "" else str(key)


def parent_id(id: str) -> str:
    parts = split_id(id)
    return SEP.join(parts[:-1])


def is_expression(value: object) -> bool:
    return isinstance(value, str) and value.startswith(EXPR)


def is_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith(REF)


def is_macro(value: object) -> bool:
    return isinstance(value, str) and value.startswith(MACRO)


def is_component(value: object) -> bool:
    return isinstance(value, dict) and TARGET_KEY in value


def kind_of(value: object) -> str:
    """MONAI's item kinds: ``component`` (has ``_target_``), ``expression`` (``$...``) or ``item``."""
    if is_component(value):
        return "component"
    if is_expression(value):
        return "expression"
    return "item"


class RelativeIdError(InvalidConfigError):
    """A relative id (``@::::x``) goes up more levels than the id it is written at has."""

    def __init__(self, text: str, levels: int, at: str) -> None:
        self.text, self.levels, self.at = text, levels, at
        super().__init__(
            f"relative id '{text}' goes {levels} level(s) up from '{at}', above the root of the config",
            config_id=at, hint="use fewer separators after '@' or '%', or write the absolute id",
        )


def absolute_id(relative: str, at: str) -> str:
    """Resolve a (possibly relative) id written at id ``at``.

    Each leading separator goes one level up from the item the string is written in:
    at ``a::b::c``, ``::x`` is ``a::b::x`` and ``::::x`` is ``a::x``.
    """
    m = _RELATIVE.match(relative)
    if not m:
        return normalize_id(relative)
    prefix = m.group(1)
    levels = prefix.count(SEP) + prefix.count(LEGACY_SEP)
    here = split_id(at)
    if levels > len(here):
        raise RelativeIdError(relative, levels, at)
    base = here[: len(here) - levels]
    rest = normalize_id(relative[len(prefix):])
    return SEP.join(base + ([rest] if rest else []))


def is_relative(text: str) -> bool:
    return bool(_RELATIVE.match(text))


# --- scanning expressions ---------------------------------------------------------------------

_QUOTE = re.compile(r"['\"]")
_STRING_END = {q: re.compile(r"(?:[^\\" + q[0] + r"]|\\.|" + q[0] + r"(?!" + q[1:] + r"))*?" + q, re.S) if len(q) == 3
               else re.compile(r"(?:[^\\" + q + r"]|\\.)*" + q, re.S) for q in ("'", '"', "'''", '"""')}
_PREFIX_CHARS = frozenset("rRbBuUfF")


def code_spans(source: str) -> Iterator[tuple[int, int]]:
    """Yield the (start, end) spans of ``source`` that are code, not string literals.

    The inside of f-string replacement fields (``f"{@x}"``) counts as code.
    """
    n, start, i = len(source), 0, 0
    while True:
        m = _QUOTE.search(source, i)
        if m is None:
            break
        q = m.start()
        p = q
        while p > 0 and source[p - 1] in _PREFIX_CHARS and q - p < 2:
            p -= 1
        if p > 0 and (source[p - 1].isalnum() or source[p - 1] == "_"):
            p = q  # letters before the quote are a name, not a prefix (cannot happen in valid code)
        prefix = source[p:q].lower()
        quote = source[q:q + 3] if source.startswith(source[q] * 3, q) else source[q]
        if start < p:
            yield start, p
        if "f" in prefix:
            i = yield from _fstring(source, q + len(quote), quote)
        else:
            end = _STRING_END[quote].match(source, q + len(quote))
            i = end.end() if end else n
        start = i
    if start < n:
        yield start, n


def _fstring(source: str, i: int, quote: str) -> Generator[tuple[int, int], None, int]:
    """Yield the replacement fields of an f-string body starting at ``i``; return where it ends."""
    n = len(source)
    while i < n:
        if source[i] == "\\":
            i += 2
            continue
        if source.startswith(quote, i):
            return i + len(quote)
        if source[i] == "{":
            if source.startswith("{{", i):
                i += 2
                continue
            end = _field_end(source, i + 1)
            yield i + 1, end
            i = end
            continue
        i += 1
    return n


def _field_end(source: str, i: int) -> int:
    depth = 1
    n = len(source)
    while i < n:
        c = source[i]
        if c in "{[(":
            depth += 1
        elif c in "}])":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


@functools.lru_cache(maxsize=65536)
def expression_refs(source: str) -> tuple[tuple[int, int, str], ...]:
    """Every ``@id`` in an expression's code (not inside string literals).

    Returns (start, end, id as written) for each, in order of appearance. ``a @ b`` (matrix
    multiplication, a space after ``@``) is not a reference.
    """
    found = []
    for s, e in code_spans(source):
        for m in _EXPR_REF.finditer(source, s, e):
            found.append((m.start(), m.end(), m.group(1)))
    return tuple(found)


def rewrite_expression_refs(source: str, at: str) -> str:
    """Make every reference in an expression absolute and ``::``-separated (for the expanded config)."""
    refs = expression_refs(source)
    if not refs:
        return source
    out, last = [], 0
    for s, e, rid in refs:
        out.append(source[last:s])
        out.append(REF + absolute_id(rid, at))
        last = e
    out.append(source[last:])
    return "".join(out)


_PATH_ID = re.compile(r"(?i)^(.*\.(?:json|yaml|yml))(?=(?:::|#)|$)")


def split_path_id(src: str) -> tuple[str, str]:
    """``"configs/a.json::net::0"`` -> ``("configs/a.json", "net::0")``; a pure id -> ``("", id)``."""
    m = _PATH_ID.match(src)
    if not m:
        return "", normalize_id(src)
    path = m.group(1)
    rest = src[len(path):]
    if rest.startswith(SEP):
        rest = rest[len(SEP):]
    elif rest.startswith(LEGACY_SEP):
        rest = rest[len(LEGACY_SEP):]
    return path, normalize_id(rest)
