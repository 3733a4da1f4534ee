"""Building one config from many: merging files in order, ``+key`` merges, overrides, and the
expansion of ``%`` macros and relative ids into a new tree (the caller's data is never changed).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from bundle.config import syntax, tree
from bundle.config.loader import load_file
from bundle.config.sources import Alias, Given, InFile, Sources
from bundle.errors import (
    ConfigError,
    InvalidConfigError,
    Location,
    MacroError,
    MissingIdError,
    UnsafeConfigError,
    did_you_mean,
)

logger = logging.getLogger(__name__)


def candidates_near(root: Any, id: str) -> list[str]:
    """Ids a user may have meant instead of ``id``: siblings of the deepest existing prefix."""
    prefix, node = tree.deepest_existing(root, syntax.parent_id(id))
    near = [syntax.join_id(prefix, k) for k in tree.keys_of(node)]
    if prefix:
        near += tree.keys_of(root)
    return near


# --- merging ---------------------------------------------------------------------------------


def merge_key(config: dict, key: str, value: Any, *, sources: Sources, origin: InFile | Given) -> None:
    """Merge one top-level entry of a later file (or an override) into ``config`` in place.

    ``key`` may be a nested id (``train::trainer::max_epochs`` or ``train#trainer#max_epochs``),
    which replaces that one value (its parent must exist), and may start with ``+``, which
    extends a list or updates a dict instead of replacing it (and adds the id if it is missing).
    """
    id = syntax.normalize_id(key)
    plus = id.startswith(syntax.MERGE)
    if plus:
        id = id[len(syntax.MERGE):]
    current = tree.lookup(config, id)
    if plus and current is not tree.MISSING:
        if isinstance(current, dict) and isinstance(value, dict):
            for k in value:
                sources.record(syntax.join_id(id, k), _sub(origin, k))
            current.update(value)
            return
        if isinstance(current, list) and isinstance(value, list):
            for i in range(len(value)):
                sources.record(syntax.join_id(id, len(current) + i), _sub(origin, str(i)))
            current.extend(value)
            return
        raise InvalidConfigError(
            f"'+{id}' merges a {type(value).__name__} into a {type(current).__name__}",
            location=_origin_location(sources, origin), config_id=id,
            hint="'+' extends a list with a list or updates a dict with a dict; drop the '+' to replace the value",
        )
    if plus:
        logger.info("'+%s': '%s' is not in the config yet, so it is added", id, id)
    try:
        tree.assign(config, id, value, create=plus)
    except KeyError as err:
        missing = err.args[0]
        raise MissingIdError(
            missing, candidates=candidates_near(config, missing), location=_origin_location(sources, origin),
            config_id=id,
            hint=_missing_parent_hint(config, missing, id),
        ) from None
    sources.record(id, origin)


def _missing_parent_hint(config: Any, missing: str, id: str) -> str:
    hint = did_you_mean(missing, candidates_near(config, missing))
    extra = f"to add it, write '+{id}'" if syntax.SEP in id else ""
    return " ".join(h for h in (hint, extra) if h)


def _sub(origin: InFile | Given, key: str) -> InFile | Given:
    if isinstance(origin, InFile):
        return InFile(origin.file, origin.path + (key,))
    return origin


def _origin_location(sources: Sources, origin: InFile | Given) -> Location:
    if isinstance(origin, Given):
        return Location(origin.label)
    positions = sources.file_positions(origin.file)
    pos = positions.get(origin.path)
    return Location(origin.file, *pos) if pos else Location(origin.file)


def merge_file_data(config: dict, data: Any, file: str, sources: Sources) -> None:
    """Merge the content of one loaded file into ``config`` (later files override earlier ones)."""
    if not isinstance(data, dict):
        raise InvalidConfigError(
            f"a config file must hold a mapping at the top, not a {type(data).__name__}",
            location=Location(file, 1, 1),
        )
    special = [k for k in data if type(k) is not str or k[:1] == syntax.MERGE or syntax.SEP in k or syntax.LEGACY_SEP in k]
    if not special:  # plain top-level keys only (nearly every file): replace, as merge_key would
        config.update(data)
        sources.record_keys(file, data)
        return
    for key, value in data.items():
        key = str(key)
        merge_key(config, key, value, sources=sources, origin=InFile(file, (key,)))


# --- expansion -------------------------------------------------------------------------------


_SIGILS = frozenset((syntax.REF, syntax.EXPR, syntax.MACRO))
_SIGIL_STRINGS = ('"@', '"$', '"%')


def _nothing_to_expand(value: Any, source: tuple[str, str] | None = None) -> bool:
    """Whether no string in ``value`` starts with ``@``, ``$`` or ``%``, checked at C speed: on the
    text of the file ``value`` was read from unchanged (``source``: file, text), when given; else
    on its JSON dump (anything that is not plain JSON data counts as having something)."""
    if source is not None and "\\u" not in source[1]:  # an escaped sigil would hide from a search
        file, text = source
        if not any(c in text for c in _SIGILS):
            return True
        if file.endswith(".json"):  # in JSON, a sigil counts only at the start of a string
            return not any(s in text for s in _SIGIL_STRINGS)
    try:
        text = json.dumps(value, ensure_ascii=False, check_circular=False)
    except (TypeError, ValueError):
        return False
    return not any(s in text for s in _SIGIL_STRINGS)
_LEAVES = frozenset((str, int, float, bool, type(None)))


class Expander:
    """Expands ``%`` macros and relative ids of one config into a new tree.

    Args:
        config: the merged config (not changed).
        sources: origins, updated with where macro copies come from.
        base_dir: where relative macro file paths are looked up first (the bundle root);
            the current folder is tried next.
        confine_to: in safe mode, macro files must be inside this folder.
        on_import: called with the id of every ``$import``/``$from`` expression found.
    """

    def __init__(
        self,
        config: Any,
        sources: Sources,
        *,
        base_dir: str | os.PathLike | None = None,
        confine_to: str | os.PathLike | None = None,
        on_import: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.sources = sources
        self.base_dir = Path(base_dir) if base_dir else None
        self.confine_to = Path(confine_to).resolve() if confine_to else None
        self.on_import = on_import
        self._files: dict[str, Any] = {}
        self._done: dict[tuple[str | None, str], Any] = {}
        self._active: list[tuple[str | None, str]] = []

    def run(self) -> Any:
        """The expanded config. The metadata, when it has nothing to expand (nearly always), is
        taken as it is, without a walk or a copy: it is often the largest part of a config."""
        root = self.config
        if not isinstance(root, dict):
            return self._walk(root, "", None)
        out = {}
        for k, v in root.items():
            if k == syntax.META_KEY and _nothing_to_expand(v, self.sources.pristine_source(k)):
                out[k] = v
            elif isinstance(v, (dict, list, str)):
                out[k] = self._walk(v, str(k), None)
            else:
                out[k] = v
        return out

    def _walk(self, node: Any, id: str, file: str | None) -> Any:
        # the hot loop of parsing: scalars and plain strings (most nodes) are taken as they are,
        # without a call or an id string
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                t = type(v)
                if (t is dict or t is list or (t is str and v[:1] in _SIGILS)
                        or (t not in _LEAVES and isinstance(v, (dict, list, str)))):
                    v = self._walk(v, f"{id}::{k}" if id else str(k), file)
                out[k] = v
            return out
        if isinstance(node, list):
            items = []
            for i, v in enumerate(node):
                t = type(v)
                if (t is dict or t is list or (t is str and v[:1] in _SIGILS)
                        or (t not in _LEAVES and isinstance(v, (dict, list, str)))):
                    v = self._walk(v, f"{id}::{i}" if id else str(i), file)
                items.append(v)
            return items
        if not isinstance(node, str) or not node:
            return node
        head = node[0]
        if head == syntax.REF:
            return syntax.REF + self._absolute(node[1:], id, file)
        if head == syntax.EXPR:
            if self.on_import is not None and file is None:
                from bundle.config.expressions import is_import_text

                if is_import_text(node[1:]):
                    self.on_import(id)
            try:
                return syntax.rewrite_expression_refs(node, id)
            except syntax.RelativeIdError as err:
                raise self._relative_error(err, id, file) from None
        if head == syntax.MACRO:
            return self._macro(node, id, file)
        return node

    def _absolute(self, text: str, id: str, file: str | None) -> str:
        try:
            return syntax.absolute_id(text, id)
        except syntax.RelativeIdError as err:
            raise self._relative_error(err, id, file) from None

    def _relative_error(self, err: syntax.RelativeIdError, id: str, file: str | None) -> ConfigError:
        err.config_id = id
        err.location = self._where(id, file)
        return err

    def _where(self, id: str, file: str | None) -> Location | None:
        if file is None:
            return self.sources.where(id)
        return self.sources.where_in_file(file, tuple(syntax.split_id(id)))

    def _macro(self, text: str, id: str, file: str | None) -> Any:
        path, target = syntax.split_path_id(text[1:])
        target = self._absolute(target, id, file) if target else ""
        source_file: str | None
        if path:
            source_file = self._resolve_file(path, id, file)
            root = self._load(source_file, id, file)
        else:
            source_file, root = file, (self.config if file is None else self._files[file])
        node = tree.lookup(root, target)
        if node is tree.MISSING:
            where_text = f"in '{source_file}'" if source_file else "in the config"
            raise MacroError(
                f"macro '{text}' names id '{target}', which is not {where_text}",
                location=self._where(id, file), config_id=id,
                hint=did_you_mean(target, candidates_near(root, target)) or "check the id after '%'",
            )
        key = (source_file, target)
        if key in self._active:
            cycle = [t for _, t in self._active[self._active.index(key):]] + [target]
            raise MacroError(
                "macros form a cycle: " + " -> ".join(f"%{c}" for c in cycle),
                location=self._where(id, file), config_id=id, hint="a macro cannot include itself",
            )
        if key not in self._done:
            self._active.append(key)
            try:
                self._done[key] = self._walk(node, target, source_file)
            finally:
                self._active.pop()
        copied = tree.copy_tree(self._done[key])
        if file is None:
            self.sources.record(id, Alias(target, source_file))
            if source_file is not None and self.on_import is not None:
                # imports copied from another file bind names for the whole config, as written ones do
                self._report_imports(copied, id, self.on_import)
        return copied

    def _report_imports(self, node: Any, id: str, on_import: Callable[[str], None]) -> None:
        from bundle.config.expressions import is_import_text

        for sub_id, value in tree.walk_ids(node, id):
            if syntax.is_expression(value) and is_import_text(value[1:]):
                on_import(sub_id)

    def _resolve_file(self, path: str, id: str, file: str | None) -> str:
        candidates = []
        p = Path(path)
        if p.is_absolute():
            candidates.append(p)
        else:
            if self.base_dir is not None:
                candidates.append(self.base_dir / p)
            if Path.cwd() / p not in candidates:
                candidates.append(Path.cwd() / p)
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            tried = ", ".join(f"'{c}'" for c in candidates)
            raise MacroError(
                f"macro file '{path}' does not exist (looked for {tried})",
                location=self._where(id, file), config_id=id,
                hint="macro paths are relative to the bundle folder; check the file name",
            )
        if self.confine_to is not None:
            real = found.resolve()
            if real != self.confine_to and self.confine_to not in real.parents:
                raise UnsafeConfigError(
                    f"macro file '{path}' is outside the bundle folder '{self.confine_to}'",
                    location=self._where(id, file), config_id=id,
                    hint="safe mode only reads files inside the bundle; trust the bundle to allow this",
                )
        return str(found)

    def _load(self, source_file: str, id: str, file: str | None) -> Any:
        if source_file not in self._files:
            self._files[source_file] = load_file(source_file)
        return self._files[source_file]


def apply_overrides(
    config: dict, overrides: Mapping[str, Any], sources: Sources, *, strict: bool, label: str = "<overrides>"
) -> None:
    """Apply ``{id: value}`` overrides in place.

    Args:
        strict: an id that does not exist is an error (with close matches) unless it is written
            ``+id``; otherwise (MONAI's meaning, the command line's too) a missing id is added when its
            parent exists, with a warning when it looks like a misspelling of an id that exists.
    """
    for key, value in overrides.items():
        id = syntax.normalize_id(key)
        plain = id[len(syntax.MERGE):] if id.startswith(syntax.MERGE) else id
        if not id.startswith(syntax.MERGE) and tree.lookup(config, plain) is tree.MISSING:
            candidates = candidates_near(config, plain)
            near = did_you_mean(plain, candidates)
            if strict:
                raise MissingIdError(
                    plain, candidates=candidates, location=Location(label),
                    hint=_unknown_override_hint(config, plain),
                )
            if near:
                logger.warning("%s: '%s' is not in the config, so it is added as a new id; %s", label, plain, near)
        merge_key(config, id, value, sources=sources, origin=Given(label))


def _unknown_override_hint(config: Any, id: str) -> str:
    hint = did_you_mean(id, candidates_near(config, id))
    add = f"to add a new id, write it as '+{id}'"
    return f"{hint} {add[0].upper()}{add[1:]}" if hint else add
