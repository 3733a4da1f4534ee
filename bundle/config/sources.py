"""Where each id of a merged, expanded config was written: file, line and column.

Merging several files, overrides and macros all move content around. Instead of carrying a
position on every node, ``Sources`` records the origin of the few subtrees that moved (a top-level
key of a file, a nested-id key, an override, a macro copy) and turns an id into a position only
when asked, by scanning that file's text once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from bundle.config import syntax
from bundle.config.loader import FilePath, positions_of
from bundle.errors import Location

OVERRIDES = "<overrides>"


@dataclass(frozen=True)
class InFile:
    """The subtree comes from ``path`` inside ``file``."""

    file: str
    path: FilePath


@dataclass(frozen=True)
class Alias:
    """The subtree is a macro copy of id ``target`` (in ``file`` if given, else in this config)."""

    target: str
    file: str | None = None


@dataclass(frozen=True)
class Given:
    """The subtree was given directly (an override, a dict): ``label`` says how."""

    label: str


Origin = Union[InFile, Alias, Given]


class Sources:
    """Origins of the subtrees of one config, and the positions they map to."""

    def __init__(self) -> None:
        self.origins: dict[str, Origin] = {}
        self._deep: set[str] = set()  # origins below the top level (few): the only ones that go stale
        self._positions: dict[str, dict[FilePath, tuple[int, int]]] = {}
        self._texts: dict[str, str] = {}

    def copy(self) -> "Sources":
        other = Sources()
        other.origins = dict(self.origins)
        other._deep = set(self._deep)
        other._positions = self._positions
        other._texts = self._texts
        return other

    def record(self, id: str, origin: Origin) -> None:
        """``id`` (and everything below it) now comes from ``origin``."""
        if id == "":
            self.origins.clear()
            self._deep.clear()
        else:
            prefix = id + syntax.SEP
            for k in [k for k in self._deep if k.startswith(prefix)]:
                del self.origins[k]
                self._deep.discard(k)
            if syntax.SEP in id:
                self._deep.add(id)
        self.origins[id] = origin

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
        for n in range(len(parts), -1, -1):
            prefix = syntax.SEP.join(parts[:n])
            origin = self.origins.get(prefix)
            if origin is None:
                continue
            rest = tuple(parts[n:])
            if isinstance(origin, Given):
                return Location(origin.label)
            if isinstance(origin, Alias):
                target = syntax.SEP.join([p for p in (origin.target, *rest) if p != ""])
                if origin.file is None:
                    return self._where(target, depth + 1)
                return self._in_file(origin.file, tuple(syntax.split_id(target)))
            return self._in_file(origin.file, origin.path + rest)
        return None

    def _in_file(self, file: str, path: FilePath) -> Location:
        positions = self.file_positions(file)
        for n in range(len(path), -1, -1):
            pos = positions.get(path[:n])
            if pos is not None:
                return Location(file, *pos)
        return Location(file)
