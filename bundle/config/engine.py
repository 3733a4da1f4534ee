"""``Config``: one merged, expanded config and the objects it resolves to (the API for new code).

Example:
    >>> from bundle.config import Config
    >>> cfg = Config.load("configs/train.json", "configs/evaluate.json", overrides={"lr": 0.01})
    >>> net = cfg.resolve("network_def")
    >>> cfg.where("network_def")          # Location('configs/train.json', 12, 5)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from bundle.config import syntax, tree
from bundle.config.expand import Expander, apply_overrides, merge_file_data
from bundle.config.expressions import Namespace
from bundle.config.loader import load_file_and_text
from bundle.config.resolver import Resolver
from bundle.config.sources import Given, InFile, Sources
from bundle.errors import Location, MissingIdError

PathLike = str | os.PathLike


def config_root(files: Sequence[PathLike]) -> Path | None:
    """The bundle folder of a list of config files: the parent of ``configs/``, else the first
    file's folder."""
    if not files:
        return None
    # abspath, not resolve(): no file-system calls (safe mode resolves the folder it confines to)
    first = os.path.dirname(os.path.abspath(os.fspath(files[0])))
    return Path(os.path.dirname(first) if os.path.basename(first) == "configs" else first)


def read_files(files: Sequence[PathLike], sources: Sources, into: dict | None = None) -> dict:
    """Merge config files in order into ``into`` (a new dict by default)."""
    config: dict = {} if into is None else into
    for f in files:
        f = os.fspath(f)
        data, text = load_file_and_text(f)
        sources.remember_text(f, text)
        merge_file_data(config, data, f, sources)
    return config


class Config:
    """A config ready to resolve: merged files, overrides applied, macros and relative ids expanded.

    Args:
        data: the merged (unexpanded) config; it is copied, never changed.
        sources: where its parts were written (``Config.load`` fills this in).
        base_dir: the bundle folder (macro file paths start there).
        trusted: False runs nothing outside the safe policy (safe mode); None (default) follows the trust
            rule (``bundle.trust``): a config inside the download cache is untrusted, any other trusted.
        policy: the ``SafePolicy`` to use in safe mode (default: ``SafePolicy()``).
        globals: names for expressions (MONAI's meaning; None for torch/numpy/monai, lazily).
        locator: a ``ComponentLocator`` for short ``_target_`` names.
        copy: False when the caller hands over ``data`` and will not change it.
    """

    def __init__(
        self,
        data: Any = None,
        *,
        sources: Sources | None = None,
        base_dir: PathLike | None = None,
        trusted: bool | None = None,
        policy: Any = None,
        globals: Mapping[str, Any] | bool | None = None,
        locator: Any = None,
        copy: bool = True,
    ) -> None:
        data = {} if data is None else data
        self.data = tree.copy_tree(data) if copy else data
        self.sources = sources or Sources()
        if sources is None:
            self.sources.record("", Given("<dict>"))
        self.base_dir = Path(base_dir) if base_dir else None
        if trusted is None:
            from bundle.trust import default_trusted

            trusted = default_trusted(self.base_dir)
        self.trusted = trusted
        if not trusted and policy is None:
            from bundle.config.safety import SafePolicy

            policy = SafePolicy()
        self.policy = policy if not trusted else None
        self.globals = globals
        self._locator = locator
        self._expanded: Any = tree.MISSING
        self._import_ids: list[str] = []
        self._resolver: Resolver | None = None

    @classmethod
    def load(
        cls,
        *files: PathLike,
        meta: PathLike | None = None,
        overrides: Mapping[str, Any] | None = None,
        strict_overrides: bool = True,
        **options: Any,
    ) -> "Config":
        """Load config files (merged in order), an optional metadata file as ``_meta_``, and overrides.

        Args:
            files: JSON/YAML config files; later files override earlier ones.
            meta: a metadata file, available as ``@_meta_::...``.
            overrides: ``{id: value}``; an id that does not exist is an error unless written ``+id``
                (or ``strict_overrides=False``).
            options: passed to ``Config`` (``trusted``, ``policy``, ``globals``, ``locator``, ``base_dir``).
        """
        sources = Sources()
        data: dict = {}
        if meta is not None:
            data[syntax.META_KEY], text = load_file_and_text(meta)
            sources.remember_text(os.fspath(meta), text)
            sources.record(syntax.META_KEY, InFile(os.fspath(meta), ()))
        read_files(files, sources, into=data)
        if overrides:
            apply_overrides(data, overrides, sources, strict=strict_overrides)
        options.setdefault("base_dir", config_root(files))
        return cls(data, sources=sources, copy=False, **options)

    # --- the expanded tree -------------------------------------------------------------------

    @property
    def expanded(self) -> Any:
        """The config after macro and relative-id expansion (plain data, not resolved)."""
        if self._expanded is tree.MISSING:
            import_ids: list[str] = []
            expander = Expander(
                self.data, self.sources, base_dir=self.base_dir,
                confine_to=self.base_dir if not self.trusted and self.base_dir else None,
                on_import=import_ids.append,
            )
            self._expanded = expander.run()
            self._import_ids = import_ids
        return self._expanded

    @property
    def resolver(self) -> Resolver:
        if self._resolver is None:
            expanded = self.expanded
            self._resolver = Resolver(
                expanded, sources=self.sources, locator=self._locator, namespace=Namespace(self.globals),
                policy=self.policy, import_ids=self._import_ids,
            )
        return self._resolver

    # --- reading -----------------------------------------------------------------------------

    def resolve(self, id: str = "") -> Any:
        """The object at ``id``: components instantiated, expressions evaluated, references bound.

        Raises:
            MissingIdError: no such id (with close matches).
            ConfigError: any config error on the way, with its id and file:line:col.
        """
        return self.resolver.resolve(id)

    def get(self, id: str = "", default: Any = tree.MISSING) -> Any:
        """The expanded (unresolved) value at ``id``."""
        node = tree.lookup(self.expanded, syntax.normalize_id(id))
        if node is tree.MISSING:
            if default is not tree.MISSING:
                return default
            from bundle.config.expand import candidates_near

            raise MissingIdError(id, candidates=candidates_near(self.expanded, id))
        return node

    def __contains__(self, id: str) -> bool:
        return tree.lookup(self.expanded, syntax.normalize_id(id)) is not tree.MISSING

    def ids(self) -> Iterator[str]:
        """Every id of the expanded config, parents first, in document order (the root is ``""``)."""
        for id, _ in tree.walk_ids(self.expanded):
            yield id

    def kind(self, id: str) -> str:
        """``component``, ``expression`` or ``item`` (MONAI's item kinds)."""
        return syntax.kind_of(self.get(id))

    def where(self, id: str) -> Location | None:
        """Where ``id`` is written (file:line:col), as precisely as known."""
        return self.sources.where(id)

    def dependencies(self, id: str) -> list[str]:
        """The ids ``id`` needs directly: its children to resolve and the ids it references."""
        return self.resolver.dependencies(id, self.get(id))

    def audit(self) -> "Any":
        """Everything this config would import, instantiate and evaluate, with positions; runs nothing."""
        from bundle.config.audit import audit_config

        return audit_config(self)
