"""The index of short component names: which full dotted paths each namespace offers under a name,
found from source text without importing anything, and cached as JSON beside the download cache.

A namespace is ``(module, mode)``:

- ``"tree"``: every public top-level ``class``/``def`` in any public module under the package;
  the short name resolves to the defining module (``monai.transforms.io.dictionary.LoadImaged``).
- ``"exports"``: the public names the module itself exposes (``torch.nn.Conv2d``).

``bundle.config.locator`` turns a short name into one of these paths; this module only builds,
caches and scans the indexes (``NameIndexes``: an explicit object, ``INDEXES`` the process's own).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

__all__ = ["DEFAULT_NAMESPACES", "ENTRY_POINT_GROUP", "INDEXES", "MODES", "NameIndex", "NameIndexes", "Namespace",
           "default_namespaces", "find_namespace"]

# Searched in this order; MONAI and the entry-point namespaces are added when present.
DEFAULT_NAMESPACES: tuple[tuple[str, str], ...] = (
    ("bundle.components", "tree"),
    ("torch.nn", "exports"),
    ("torch.optim", "exports"),
    ("torch.optim.lr_scheduler", "exports"),
)
ENTRY_POINT_GROUP = "bundle.components"
MODES = ("tree", "exports")

_FORMAT_VERSION = 2  # 2: aliases (``Unet = UNet``) are indexed
# Column-0 definitions; a regex over the raw bytes is ~20x faster than ``ast`` on a package the size of MONAI.
_DEFINITION = re.compile(rb"^(?:async[ \t]+def|def|class)[ \t]+([A-Za-z]\w*)", re.MULTILINE)
# a column-0 alias of a name: ``EnsureChannelFirstD = EnsureChannelFirstDict = EnsureChannelFirstd``
# (the name may be in parentheses over several lines), or names bound to a ``lambda``
_ALIAS = re.compile(rb"^((?:[A-Za-z]\w*[ \t]*=[ \t]*)+)(?:\([ \t\n]*([A-Za-z_]\w*)[ \t\n]*\)|([A-Za-z_]\w*)[ \t]*(?:#.*)?$"
                    rb"|(lambda)\b)", re.MULTILINE)
_ALIAS_TARGET = re.compile(rb"([A-Za-z]\w*)[ \t]*=")
_FROM_IMPORT = re.compile(rb"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.MULTILINE)
_COMMENT = re.compile(rb"#[^\n]*")


class Namespace(NamedTuple):
    """A namespace found on disk."""

    module: str
    mode: str
    path: str  # the package folder, or the module's .py file
    is_package: bool


class NameIndex(NamedTuple):
    """Short name -> full dotted paths; ``preferred`` narrows names with several candidates."""

    names: dict[str, list[str]]
    preferred: dict[str, list[str]]

    def candidates(self, name: str, excludes: Sequence[str]) -> list[str]:
        found = [p for p in self.names.get(name, ()) if not excluded(p, excludes)]
        preferred = [p for p in self.preferred.get(name, ()) if p in found]
        return preferred or found


# --- namespaces ----------------------------------------------------------------------------------


def top_level_spec(name: str) -> Any:
    """``find_spec`` of a top-level name only: a dotted name would import its parents."""
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def find_file(module: str) -> tuple[str, bool] | None:
    """The source of ``module`` (its folder when it is a package) and whether it is a package."""
    top, *rest = module.split(".")
    spec = top_level_spec(top)
    if spec is None:
        return None
    if spec.submodule_search_locations is None:  # a single-file top-level module
        origin = spec.origin or ""
        return (origin, False) if not rest and origin.endswith(".py") else None
    for location in spec.submodule_search_locations:
        base = os.path.join(location, *rest)
        if os.path.isfile(os.path.join(base, "__init__.py")):
            return base, True
        if rest and os.path.isfile(base + ".py"):
            return base + ".py", False
    return None


def find_namespace(module: str, mode: str) -> Namespace | None:
    found = find_file(module)
    return None if found is None else Namespace(module, mode, found[0], found[1])


def default_namespaces() -> list[tuple[str, str]]:
    """Ours and torch's, MONAI's when it is installed, then those registered as entry points."""
    specs = list(DEFAULT_NAMESPACES)
    if top_level_spec("monai") is not None:
        specs.append(("monai", "tree"))
    return specs + [(module, "tree") for module in entry_point_modules()]


def entry_point_modules() -> list[str]:
    """Module names registered in the ``bundle.components`` entry-point group."""
    from importlib.metadata import entry_points

    return sorted({ep.value.partition(":")[0].strip() for ep in entry_points(group=ENTRY_POINT_GROUP)})


def excluded(path: str, excludes: Sequence[str]) -> bool:
    module = path.rpartition(".")[0]
    return any(part in module for part in excludes)


# --- the index, its cache ------------------------------------------------------------------------


class NameIndexes:
    """The name indexes of a process: each namespace's index built or read from its JSON cache at most once.

    ``INDEXES`` is the one every ``ComponentLocator`` uses unless given another; ``clear()`` forgets what
    was loaded (the JSON cache files stay, checked against their sources when read again).

    Args:
        cache_dir: where the JSON caches go; default ``<cache root>/locator`` (``bundle.settings``),
            read when first needed. None-returning: no file cache.
    """

    def __init__(self, cache_dir: Callable[[], str | os.PathLike | None] | None = None) -> None:
        self._cache_dir = cache_dir or _default_cache_dir
        self._memory: dict[tuple[str, str, str], NameIndex] = {}

    def clear(self) -> None:
        """Forget every index loaded in this process."""
        self._memory.clear()

    def load(self, ns: Namespace) -> NameIndex:
        """The index of ``ns``: from memory, else from the cache when its sources are unchanged, else built."""
        key = (ns.module, ns.mode, ns.path)
        if key in self._memory:
            return self._memory[key]
        cache_file = self.cache_file(ns)
        cached = read_cache(cache_file, ns) if cache_file else None
        tree_files = scan(ns) if ns.mode == "tree" else None
        if cached is not None:
            stats = tree_files if tree_files is not None else [_stat(path) for path in cached.get("sources", ())]
            if cached.get("signature") == _signature(stats):
                index = self._memory[key] = NameIndex(cached["names"], cached["preferred"])
                return index
        if tree_files is not None:
            index, sources = build_tree_index(ns, tree_files), tree_files
        else:
            index, paths = build_exports_index(ns)
            sources = [_stat(path) for path in paths]
        if cache_file:
            record = {"format": _FORMAT_VERSION, "module": ns.module, "mode": ns.mode, "path": ns.path}
            record.update(signature=_signature(sources), names=index.names, preferred=index.preferred)
            if tree_files is None:
                record["sources"] = [path for path, _, _ in sources]
            _write_atomically(cache_file, json.dumps(record, separators=(",", ":")))
        self._memory[key] = index
        return index

    def cache_file(self, ns: Namespace) -> str | None:
        """The JSON cache file of ``ns``'s index, or None when there is no cache folder."""
        root = self._cache_dir()
        if root is None:
            return None
        key = hashlib.sha256(f"{_FORMAT_VERSION}\0{ns.module}\0{ns.mode}\0{ns.path}".encode()).hexdigest()[:16]
        return os.path.join(root, f"{ns.module}-{ns.mode}-{key}.json")


def _default_cache_dir() -> str:
    from bundle.settings import cache_root

    return str(cache_root() / "locator")


INDEXES = NameIndexes()


def read_cache(cache_file: str, ns: Namespace) -> dict | None:
    try:
        with open(cache_file, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    expected = {"format": _FORMAT_VERSION, "module": ns.module, "mode": ns.mode, "path": ns.path}
    if not isinstance(record, dict) or any(record.get(k) != v for k, v in expected.items()):
        return None
    if not isinstance(record.get("names"), dict) or not isinstance(record.get("preferred"), dict):
        return None
    return record


def _write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename; if that fails, skip the cache."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass


def _stat(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return path, -1, -1
    return path, st.st_mtime_ns, st.st_size


def _signature(stats: Sequence[tuple[str, int, int]]) -> str:
    text = "\n".join(f"{path}\0{mtime}\0{size}" for path, mtime, size in sorted(stats))
    return hashlib.sha256(f"{_FORMAT_VERSION}\n{text}".encode()).hexdigest()


def scan(ns: Namespace) -> list[tuple[str, int, int]]:
    """``(relative path, mtime_ns, size)`` of every ``.py`` file of the namespace, paths with ``/``."""
    if not ns.is_package:
        _, mtime, size = _stat(ns.path)
        return [(os.path.basename(ns.path), mtime, size)]
    found: list[tuple[str, int, int]] = []
    folders = [""]
    while folders:
        folder = folders.pop()
        try:
            entries = list(os.scandir(os.path.join(ns.path, folder)))
        except OSError:
            continue
        for entry in entries:
            rel = f"{folder}/{entry.name}" if folder else entry.name
            if entry.name.endswith(".py") and entry.is_file():
                st = entry.stat()
                found.append((rel, st.st_mtime_ns, st.st_size))
            elif entry.is_dir() and not entry.name.startswith((".", "__pycache__")):
                folders.append(rel)
    return sorted(found)


# --- building an index ---------------------------------------------------------------------------


def build_tree_index(ns: Namespace, files: Sequence[tuple[str, int, int]]) -> NameIndex:
    """Index every public column-0 ``class``/``def`` of every public module, without importing any, and
    every column-0 alias of one of them in the same module (``Unet = UNet``), as MONAI's locator finds
    those too (it lists a module's classes and functions by the names the module binds)."""
    present = {rel for rel, _, _ in files}
    names: dict[str, list[str]] = {}
    packages: set[str] = set()
    reexports: dict[str, list[tuple[str, set[str]]]] = {}  # package -> [(source module, names)]
    for rel, _, _ in files:
        module = _module_name(ns, rel, present)
        if module is None:
            continue
        path = os.path.join(ns.path, rel) if ns.is_package else ns.path
        try:
            with open(path, "rb") as f:
                source = f.read()
        except OSError:
            continue
        defined = {match.group(1).decode() for match in _DEFINITION.finditer(source)}
        aliases = {target.decode() for match in _ALIAS.finditer(source)
                   if match.group(4) or (match.group(2) or match.group(3)).decode() in defined
                   for target in _ALIAS_TARGET.findall(match.group(1))}
        for name in sorted(defined | aliases):
            paths = names.setdefault(name, [])
            full = f"{module}.{name}"
            if full not in paths:
                paths.append(full)
        if rel == "__init__.py" or rel.endswith("/__init__.py"):
            packages.add(module)
            reexports[module] = _from_imports(module, source)
    preferred = {}
    for name, paths in names.items():
        paths.sort()
        if len(paths) > 1:
            public = [p for p in paths if _is_reexported(p, packages, reexports)]
            if public and len(public) < len(paths):
                preferred[name] = public
    return NameIndex(names, preferred)


def _module_name(ns: Namespace, rel: str, present: set[str]) -> str | None:
    """The dotted name of the file ``rel``, or ``None`` when it is private or not importable as such."""
    if not ns.is_package:
        return ns.module
    parts = rel[: -len(".py")].split("/")
    folders = parts[:-1]
    if any(f"{'/'.join(folders[: i + 1])}/__init__.py" not in present for i in range(len(folders))):
        return None  # inside a folder that is not a package
    if parts[-1] == "__init__":
        parts.pop()
    if any(part.startswith("_") or not part.isidentifier() for part in parts):
        return None
    return ".".join([ns.module, *parts])


def _from_imports(package: str, source: bytes) -> list[tuple[str, set[str]]]:
    """``(absolute source module, names)`` of each ``from ... import`` in a package's ``__init__``."""
    found = []
    for match in _FROM_IMPORT.finditer(source):
        written = match.group(1).decode()
        relative = written.lstrip(".")
        origin = _absolute_module(package, relative or None, len(written) - len(relative))
        text = _COMMENT.sub(b"", match.group(2)).strip(b"() \t\r\n\\")
        imported = {item.split()[0].decode() for item in text.split(b",") if item.strip()}
        found.append((origin, imported))
    return found


def _is_reexported(path: str, packages: set[str], reexports: dict[str, list[tuple[str, set[str]]]]) -> bool:
    """Whether the package ``__init__`` that defines it, or one of its ancestors', makes ``path`` public."""
    module, _, name = path.rpartition(".")
    if module in packages:
        return True
    parts = module.split(".")
    for i in range(1, len(parts)):
        for origin, imported in reexports.get(".".join(parts[:i]), ()):
            if name in imported and (module == origin or module.startswith(origin + ".")):
                return True
            if "*" in imported and module == origin:
                return True
    return False


def build_exports_index(ns: Namespace) -> tuple[NameIndex, list[str]]:
    """Index the public names module ``ns.module`` exposes; also returns the files read."""
    file = os.path.join(ns.path, "__init__.py") if ns.is_package else ns.path
    read: list[str] = []
    exported = _exports(ns.module, file, ns.is_package, read)
    names = {name: [f"{ns.module}.{name}"] for name in sorted(exported)}
    return NameIndex(names, {}), read


def _exports(
    module: str, file: str, is_package: bool, read: list[str], active: tuple[str, ...] = ()
) -> list[str]:
    """The public names of a module's source: its literal ``__all__``, else its top-level bindings.

    ``read`` collects every file read; ``active`` holds the files being read, against import cycles.
    """
    if file not in read:
        read.append(file)
    active = (*active, file)
    try:
        with open(file, "rb") as f:
            tree = ast.parse(f.read(), filename=file)
    except (OSError, SyntaxError, ValueError):
        return []
    package = module if is_package else module.rpartition(".")[0]
    bound: dict[str, None] = {}
    declared: list[str] | None = None
    for node in _top_level_statements(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[node.name] = None
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    origin = _absolute_module(package, node.module, node.level)
                    found = find_file(origin)
                    if found is not None:
                        star_file = os.path.join(found[0], "__init__.py") if found[1] else found[0]
                        if star_file not in active:
                            names = _exports(origin, star_file, found[1], read, active)
                            bound.update(dict.fromkeys(names))
                else:
                    bound[alias.asname or alias.name] = None
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if not isinstance(target, ast.Name):
                    continue
                if target.id == "__all__":
                    literal = _literal_names(node.value)
                    if isinstance(node, ast.AugAssign):
                        declared = None if declared is None or literal is None else declared + literal
                    else:
                        declared = literal
                else:
                    bound[target.id] = None
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bound.pop(target.id, None)
    names = declared if declared is not None else list(bound)
    return [name for name in names if not name.startswith("_") and not _is_submodule(file, name, is_package)]


def _is_submodule(file: str, name: str, is_package: bool) -> bool:
    """Whether ``name`` is a submodule of the package ``file`` opens (short names name components)."""
    if not is_package:
        return False
    folder = os.path.dirname(file)
    return os.path.isfile(os.path.join(folder, name + ".py")) or os.path.isdir(os.path.join(folder, name))


def _top_level_statements(body: list) -> list:
    """Module-level statements, looking into ``if``/``try`` blocks (they bind module attributes too)."""
    found = []
    for node in body:
        if isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                found += _top_level_statements(node.body) + _top_level_statements(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                found += _top_level_statements(block)
        else:
            found.append(node)
    return found


def _absolute_module(package: str, module: str | None, level: int) -> str:
    if not level:
        return module or ""
    parts = package.split(".")
    base = parts[: len(parts) - level + 1]
    return ".".join([*base, module] if module else base)


def _literal_names(value: Any) -> list[str] | None:
    """The strings of a literal list or tuple of strings, else ``None``."""
    if not isinstance(value, (ast.List, ast.Tuple)):
        return None
    names = [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return names if len(names) == len(value.elts) else None
