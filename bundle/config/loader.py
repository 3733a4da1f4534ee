"""Reading JSON and YAML config files into plain data, with source positions found on demand.

Parsing goes through the C parsers (``json``, libyaml when present); positions are computed only
when something needs them (an error message, ``audit``), by a separate scan of the text, so the
fast path pays nothing for them.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from bisect import bisect_right
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator

import yaml

from bundle import settings
from bundle.config.tree import copy_tree
from bundle.errors import ConfigError, ConfigSyntaxError, DuplicateKeyError, DuplicateKeyWarning, Location

SUFFIXES = (".json", ".yaml", ".yml")

# A path inside one file: keys and list indices, all as strings.
FilePath = tuple[str, ...]


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A config file named by the user or by a macro does not exist."""


def suffix_of(path: str | os.PathLike) -> str:
    """The lower-case suffix of ``path`` if it is a config file suffix, else raise."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in SUFFIXES:
        raise ConfigSyntaxError(
            f"'{path}' is not a config file: the suffix must be one of {', '.join(SUFFIXES)}",
            hint="rename the file, or pass a .json/.yaml file",
        )
    return suffix


def read_text(path: str | os.PathLike) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError as err:
        raise ConfigFileNotFoundError(
            f"config file '{path}' does not exist", hint="check the path (relative paths start at the current folder)"
        ) from err
    except IsADirectoryError as err:
        raise ConfigFileNotFoundError(f"'{path}' is a folder, not a config file") from err
    except UnicodeDecodeError as err:
        raise ConfigSyntaxError(f"'{path}' is not UTF-8 text: {err}") from err


# --- duplicate keys: MONAI's meaning (a warning, the later value kept) unless told otherwise ----------

DUPLICATE_KEY_POLICIES = ("warn", "error")
_duplicate_keys: ContextVar[str | None] = ContextVar("duplicate_keys", default=None)


@contextmanager
def duplicate_keys(policy: str) -> Iterator[None]:
    """Within the block, a duplicate key in a config file warns (``"warn"``) or raises (``"error"``),
    whatever the environment says (``verify`` reads configs with ``"error"``).

    Example:
        >>> with duplicate_keys("error"):
        ...     load_text('{"a": 1, "a": 2}', "inline.json", yaml_syntax=False)
        Traceback (most recent call last):
        ...
        bundle.errors.DuplicateKeyError: inline.json:1:10: duplicate key 'a' (first written at inline.json:1:2)
          hint: remove one of them; a later value would silently replace the earlier one
    """
    if policy not in DUPLICATE_KEY_POLICIES:
        raise ValueError(f"duplicate_keys must be one of {DUPLICATE_KEY_POLICIES}, not {policy!r}")
    token = _duplicate_keys.set(policy)
    try:
        yield
    finally:
        _duplicate_keys.reset(token)


def duplicate_key_policy() -> str:
    """``"warn"`` or ``"error"``: the innermost ``duplicate_keys`` block, else the environment
    (``BUNDLE_DUPLICATE_KEYS``, or MONAI's ``MONAI_FAIL_ON_DUPLICATE_CONFIG=1``), else ``"warn"``."""
    return _duplicate_keys.get() or settings.duplicate_keys()


def _duplicate_found(key: str, first: Location | None, second: Location) -> None:
    if duplicate_key_policy() == "error":
        raise DuplicateKeyError(key, first=first, location=second)
    warnings.warn(DuplicateKeyWarning(key, first=first, location=second), stacklevel=2)


def load_file(path: str | os.PathLike) -> Any:
    """Load one JSON or YAML file into plain data (dicts, lists, scalars).

    A duplicate key warns (``DuplicateKeyWarning``, MONAI's ``Duplicate key: `a```; the later value is
    kept) or, under ``duplicate_keys("error")``, ``BUNDLE_DUPLICATE_KEYS=error`` or
    ``MONAI_FAIL_ON_DUPLICATE_CONFIG=1``, raises ``DuplicateKeyError``. YAML anchors and aliases are expanded
    into independent copies,
    so changing one place never changes another.

    Raises:
        ConfigFileNotFoundError: the file does not exist.
        ConfigSyntaxError: the text is not valid JSON/YAML, or the suffix is not a config suffix.
        DuplicateKeyError: a mapping has the same key twice (when duplicates are errors).
    """
    return load_file_and_text(path)[0]


def load_file_and_text(path: str | os.PathLike) -> tuple[Any, str]:
    """``load_file``, also returning the text that was read (for positions in messages)."""
    suffix = suffix_of(path)
    text = read_text(path)
    return _parse(path, suffix, text), text


def _parse(path: str | os.PathLike, suffix: str, text: str) -> Any:
    if suffix == ".json":  # the C parser is faster than any cache
        return _load_json(text, str(path))
    key = (str(path), text)
    data = _parsed_yaml.get(key, _NOT_CACHED)
    if data is _NOT_CACHED:
        data, clean = _load_yaml_checked(text, str(path))
        if not clean:  # warned about duplicates: parse again next time, to warn (or raise) again
            return data
        if len(_parsed_yaml) > 256:
            _parsed_yaml.clear()
        _parsed_yaml[key] = data
    return copy_tree(data)  # callers merge into what they get: each gets its own copy


# YAML construction is slow (pure Python) and bundles read the same files again and again
# (every workflow of a bundle layers its train config): parse each text once per process.
_parsed_yaml: dict[tuple[str, str], Any] = {}
_NOT_CACHED = object()


def load_text(text: str, name: str, *, yaml_syntax: bool) -> Any:
    """Parse ``text`` (named ``name`` in errors) as YAML or JSON."""
    if yaml_syntax:
        return _load_yaml(text, name)
    return _load_json(text, name)


# --- JSON ------------------------------------------------------------------------------------


class _Duplicates(list):
    """``object_pairs_hook`` for ``json.loads``: a dict (the later value of a repeated key kept, as
    ``dict`` does), noting that a key was repeated; positions are found afterwards, only then."""

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict:
        d = dict(pairs)
        if len(d) != len(pairs):
            self.append(True)
        return d


def _load_json(text: str, name: str) -> Any:
    found = _Duplicates()
    try:
        data = json.loads(text, object_pairs_hook=found)
    except json.JSONDecodeError as err:
        raise ConfigSyntaxError(
            f"invalid JSON: {err.msg}",
            location=Location(name, err.lineno, err.colno),
            hint="JSON needs double quotes, no trailing commas and no comments",
        ) from None
    if found:
        scan = _JsonScan(text)
        scan.run()
        for key, first, second in scan.duplicates:
            _duplicate_found(key, Location(name, *first), Location(name, *second))
    return data


_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<punct>[{}\[\],:])|(?P<atom>[^\s{}\[\],:"]+))', re.DOTALL
)


class _JsonScan:
    """A position-tracking scan of JSON text: where every key and list element starts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.positions: dict[FilePath, tuple[int, int]] = {}
        self.duplicates: list[tuple[str, tuple[int, int], tuple[int, int]]] = []

    def pos(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def run(self) -> dict[FilePath, tuple[int, int]]:
        # stack entries: [kind, path, next_index_or_pending_key, seen_keys]
        stack: list[list] = []
        expect_key = False
        pending_key: str | None = None
        offset = 0
        self.positions[()] = (1, 1)
        while True:
            m = _TOKEN.match(self.text, offset)
            kind = m.lastgroup if m else None  # every match has one of the three groups
            if not m or kind is None or m.end() == offset:
                break
            offset = m.end()
            start = m.start(kind)
            tok = m.group(kind)
            top = stack[-1] if stack else None
            if kind == "punct":
                if tok in "{[":
                    path = self._value_path(top, pending_key, start)
                    pending_key = None
                    stack.append(["obj" if tok == "{" else "arr", path, 0, {}])
                    expect_key = tok == "{"
                elif tok in "}]":
                    stack.pop()
                    expect_key = False
                elif tok == ",":
                    if top and top[0] == "arr":
                        top[2] += 1
                    expect_key = bool(top and top[0] == "obj")
                # ":" needs nothing
                continue
            if expect_key and top and top[0] == "obj":
                key = json.loads(tok) if kind == "str" else tok
                here = self.pos(start)
                if key in top[3]:
                    self.duplicates.append((key, top[3][key], here))
                top[3][key] = here
                self.positions[top[1] + (key,)] = here
                pending_key = key
                expect_key = False
                continue
            self._value_path(top, pending_key, start)
            pending_key = None
        return self.positions

    def _value_path(self, top: list | None, key: str | None, start: int) -> FilePath:
        if top is None:
            return ()
        if top[0] == "obj":
            return top[1] + (key,)
        path = top[1] + (str(top[2]),)
        self.positions[path] = self.pos(start)
        return path


def json_positions(text: str) -> dict[FilePath, tuple[int, int]]:
    """Map every path in a JSON document to the (line, column) where its key or element starts."""
    return _JsonScan(text).run()


# --- YAML ------------------------------------------------------------------------------------

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_error_location(err: yaml.YAMLError, name: str) -> Location:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if mark is None:
        return Location(name)
    return Location(name, mark.line + 1, mark.column + 1)


def _compose_yaml(text: str, name: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_YamlLoader)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigSyntaxError(f"invalid YAML: {problem}", location=_yaml_error_location(err, name)) from None


def _check_yaml_duplicates(node: yaml.Node | None, name: str) -> bool:
    """Warn about (or raise for) every repeated key; True when there is none."""
    clean = True
    stack = [node] if node is not None else []
    seen_nodes: set[int] = set()
    while stack:
        n = stack.pop()
        if id(n) in seen_nodes:  # an alias: its node was checked where the anchor is
            continue
        seen_nodes.add(id(n))
        if isinstance(n, yaml.MappingNode):
            keys: dict[Any, yaml.Node] = {}
            for k, v in n.value:
                if k.tag == "tag:yaml.org,2002:merge":
                    stack.append(v)
                    continue
                if isinstance(k, yaml.ScalarNode):
                    if k.value in keys:
                        first = keys[k.value].start_mark
                        clean = False
                        _duplicate_found(
                            k.value,
                            Location(name, first.line + 1, first.column + 1),
                            Location(name, k.start_mark.line + 1, k.start_mark.column + 1),
                        )
                    keys[k.value] = k
                stack.append(v)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return clean


def _load_yaml(text: str, name: str) -> Any:
    return _load_yaml_checked(text, name)[0]


def _load_yaml_checked(text: str, name: str) -> tuple[Any, bool]:
    """The data, and whether the text was free of duplicate keys."""
    node = _compose_yaml(text, name)
    clean = _check_yaml_duplicates(node, name)
    if node is None:
        return None, clean
    try:
        data = _construct(node)
    except yaml.YAMLError as err:
        raise ConfigSyntaxError(f"invalid YAML: {err}", location=_yaml_error_location(err, name)) from None
    return unshare(data), clean


def _construct(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def unshare(data: Any) -> Any:
    """Copy every container that appears more than once (YAML aliases), so none is shared."""
    seen: set[int] = set()

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            if id(x) in seen:
                x = dict(x)
            seen.add(id(x))
            for k, v in x.items():
                if isinstance(v, (dict, list)):
                    x[k] = walk(v)
            return x
        if isinstance(x, list):
            if id(x) in seen:
                x = list(x)
            seen.add(id(x))
            for i, v in enumerate(x):
                if isinstance(v, (dict, list)):
                    x[i] = walk(v)
            return x
        return x

    return walk(data)


def yaml_positions(text: str) -> dict[FilePath, tuple[int, int]]:
    """Map every path in a YAML document to the (line, column) where its key or element starts."""
    node = yaml.compose(text, Loader=_YamlLoader)
    positions: dict[FilePath, tuple[int, int]] = {(): (1, 1)}
    stack: list[tuple[yaml.Node, FilePath]] = [(node, ())] if node is not None else []
    while stack:
        n, path = stack.pop()
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if k.tag == "tag:yaml.org,2002:merge":
                    stack.append((v, path))
                    continue
                if isinstance(k, yaml.ScalarNode):
                    sub = path + (k.value,)
                    positions.setdefault(sub, (k.start_mark.line + 1, k.start_mark.column + 1))
                    stack.append((v, sub))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                sub = path + (str(i),)
                positions[sub] = (v.start_mark.line + 1, v.start_mark.column + 1)
                stack.append((v, sub))
    return positions


_positions_cache: dict[tuple[bool, str], dict[FilePath, tuple[int, int]]] = {}


def positions_of(path: str, text: str) -> dict[FilePath, tuple[int, int]]:
    """Positions for a file's text, by its suffix; empty when the text cannot be scanned.

    Scans are kept per text for the life of the process (a file is often read by several
    configs, and errors about it need the same scan).
    """
    is_json = Path(path).suffix.lower() == ".json"
    key = (is_json, text)
    found = _positions_cache.get(key)
    if found is not None:
        return found
    try:
        found = json_positions(text) if is_json else yaml_positions(text)
    except Exception:  # positions are a courtesy for messages; never fail because of them
        found = {}
    if len(_positions_cache) > 256:
        _positions_cache.clear()
    _positions_cache[key] = found
    return found
