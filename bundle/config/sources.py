"""Where each id of a merged, expanded config was written: file, line and column.

Merging several files, overrides and macros all move content around. Instead of carrying a
position on every node, ``Sources`` records the origin of the few subtrees that moved (a top-level
key of a file, a nested-id key, an override, a macro copy) and turns an id into a position only
when asked, by scanning that file's text once.
"""

from __future__ import annotations

from typing import NamedTuple

from bundle.config import syntax
from bundle.config.loader import FilePath, positions_of
from bundle.errors import Location

OVERRIDES = "<overrides>"


class InFile(NamedTuple):
    """The subtree comes from ``path`` inside ``file``."""

    file: str
    path: FilePath


class Alias(NamedTuple):
    """The subtree is a macro copy of id ``target`` (in ``file`` if given, else in this config)."""

    target: str
    file: str | None = None


class TopKey(NamedTuple):
    """The subtree is a top-level key of ``file``, written under the same name (recorded for a
    whole file at once: see ``Sources.record_keys``)."""

    file: str


class Given(NamedTuple):
    """The subtree was given directly (an override, a dict): ``label`` says how."""

    label: str


Origin = InFile | TopKey | Alias | Given


class Sources:
    """Origins of the subtrees of one config, and the positions they map to."""

    def __init__(self) -> None:
        # id -> (origin, when it was recorded): a later record of a shorter id replaces everything
        # below it, so among the prefixes of an id the most recent record is the one that holds
        self.origins: dict[str, tuple[Origin, int]] = {}
        self._clock = 0
        self._positions: dict[str, dict[FilePath, tuple[int, int]]] = {}
        self._texts: dict[str, str] = {}

    def copy(self) -> "Sources":
        other = Sources()
        other.origins = dict(self.origins)
        other._clock = self._clock
        other._positions = self._positions
        other._texts = self._texts
        return other

    def record(self, id: str, origin: Origin) -> None:
        """``id`` (and everything below it) now comes from ``origin``. Constant time."""
        if id == "":
            self.origins.clear()
        self._clock += 1
        self.origins[id] = (origin, self._clock)

    def record_keys(self, file: str, keys) -> None:
        """Each plain top-level key in ``keys`` now comes from ``file``, under its own name."""
        self._clock += 1
        entry = (TopKey(file), self._clock)
        origins = self.origins
        for key in keys:
            origins[key] = entry

    def pristine_source(self, id: str) -> tuple[str, str] | None:
        """(file, text) of the file ``id`` was read from as a whole (``InFile(file, ())``), when
        nothing below ``id`` has been recorded since; else None."""
        entry = self.origins.get(id)
        if entry is None or not isinstance(entry[0], InFile) or entry[0].path != ():
            return None
        prefix = id + syntax.SEP
        if any(k.startswith(prefix) for k in self.origins):
            return None
        text = self._texts.get(entry[0].file)
        return None if text is None else (entry[0].file, text)

    def graft(self, prefix: str, other: "Sources") -> None:
        """Record ``other``'s origins under id ``prefix`` (its config became the value at ``prefix``)."""
        for id, (origin, _) in sorted(other.origins.items(), key=lambda item: item[1][1]):
            if isinstance(origin, TopKey):
                origin = InFile(origin.file, (id,))
            self.record(syntax.join_id(prefix, id), origin)
        for file, text in other._texts.items():
            self.remember_text(file, text)

    def records_under(self, id: str) -> dict[str, tuple[Origin, int]]:
        """The records at ``id`` and below it."""
        prefix = id + syntax.SEP
        return {k: v for k, v in self.origins.items() if k == id or k.startswith(prefix)}

    def origin_of(self, id: str) -> Origin | None:
        """The origin recorded exactly at ``id``, if it still holds."""
        found = self._holding(syntax.split_id(id))
        return found[1] if found and found[0] == len(syntax.split_id(id)) else None

    def _holding(self, parts: list[str]) -> tuple[int, InFile | Alias | Given] | None:
        """(length of the prefix, origin) of the most recent record among the prefixes of ``parts``;
        a ``TopKey`` comes back as the ``InFile`` it stands for."""
        best: tuple[int, Origin] | None = None
        best_time = -1
        for n in range(len(parts), -1, -1):
            entry = self.origins.get(syntax.SEP.join(parts[:n]))
            if entry is not None and entry[1] > best_time:
                best, best_time = (n, entry[0]), entry[1]
        if best is None:
            return None
        n, origin = best
        if isinstance(origin, TopKey):
            return 1, InFile(origin.file, (parts[0],))
        return n, origin

    def remember_text(self, file: str, text: str) -> None:
        """Keep a file's text so that positions stay right even if the file changes later."""
        self._texts.setdefault(file, text)

    def file_positions(self, file: str) -> dict[FilePath, tuple[int, int]]:
        found = self._positions.get(file)
        if found is None:
            text = self._texts.get(file)
            if text is None:
                try:
                    with open(file, encoding="utf-8") as f:
                        text = f.read()
                except OSError:
                    text = ""
            found = self._positions[file] = positions_of(file, text) if text else {}
        return found

    def where(self, id: str) -> Location | None:
        """The position where ``id`` is written, or the closest enclosing one that is known."""
        return self._where(syntax.normalize_id(id), 0)

    def _where(self, id: str, depth: int) -> Location | None:
        if depth > 50:
            return None
        parts = syntax.split_id(id)
        found = self._holding(parts)
        if found is not None:
            n, origin = found
            rest = tuple(parts[n:])
            if isinstance(origin, Given):
                return Location(origin.label)
            if isinstance(origin, Alias):
                target = syntax.SEP.join([p for p in (origin.target, *rest) if p != ""])
                if origin.file is None:
                    return self._where(target, depth + 1)
                return self.where_in_file(origin.file, tuple(syntax.split_id(target)))
            return self.where_in_file(origin.file, origin.path + rest)
        return None

    def where_in_file(self, file: str, path: FilePath) -> Location:
        """Where the key ``path`` is written in ``file``: its position, else that of the closest
        enclosing key whose position is known, else the file alone."""
        positions = self.file_positions(file)
        for n in range(len(path), -1, -1):
            pos = positions.get(path[:n])
            if pos is not None:
                return Location(file, *pos)
        return Location(file)
