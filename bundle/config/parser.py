"""``ConfigParser``: MONAI's config parser API (same arguments and meanings) on our engine.

Differences from ``monai.bundle.ConfigParser`` are deliberate and listed in ``docs/config.md``:
the caller's dict is copied, not changed; ``#`` is a separator only in ids, references, macros
and keys; ``@`` inside string literals of an expression is text; attribute access
(``parser.net``) only answers for ids that exist, so ``hasattr``, ``copy`` and ``pickle`` work.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from bundle.config import syntax, tree
from bundle.config.engine import Config, config_root, read_files
from bundle.config.expand import Expander, apply_overrides, candidates_near, merge_file_data
from bundle.config.items import ReferenceResolver
from bundle.config.loader import load_file
from bundle.config.sources import Given, InFile, Sources
from bundle.errors import MissingIdError

_API = "<python: parser[...] = value>"


class ConfigParser:
    """Parse a config (files or a dict), then get ids raw or resolved to objects.

    Args:
        config: the initial config (a dict; copied). None gives ``{"_meta_": {}}``.
        excludes: module-name substrings the component locator ignores (MONAI's meaning).
        globals: names for expressions: None for ``monai``/``torch``/``np``/``numpy`` (imported
            when first used), False for none, or a dict of name -> module name or object added
            to those (MONAI's meaning).
        trusted: False turns on safe mode (see ``docs/config.md``).
        policy: the ``SafePolicy`` for safe mode.

    Example:
        >>> parser = ConfigParser()
        >>> parser.read_config("configs/inference.json")
        >>> parser.read_meta("configs/metadata.json")
        >>> parser["network_def::channels"] = [8, 16, 32]
        >>> net = parser.get_parsed_content("network_def")
    """

    suffixes = ("json", "yaml", "yml")
    suffix_match = rf".*\.({'|'.join(suffixes)})"
    path_match = rf"({suffix_match}$)"
    relative_id_prefix = re.compile(r"(?:@|%)(?:::)+")
    meta_key = syntax.META_KEY

    def __init__(
        self,
        config: Any = None,
        excludes: Sequence[str] | str | None = None,
        globals: Mapping[str, Any] | bool | None = None,
        *,
        trusted: bool = True,
        policy: Any = None,
    ) -> None:
        self.config: Any = None
        self.globals = globals
        self.excludes = excludes
        self.trusted = trusted
        self.policy = policy
        self._locator: Any = None
        self.ref_resolver = ReferenceResolver()
        self._sources = Sources()
        self._base_dir: Path | None = None
        self._engine: Config | None = None
        if config is None:
            config = {self.meta_key: {}}
        self.set(config=config)

    @property
    def locator(self) -> Any:
        if self._locator is None:
            from bundle.config.locator import ComponentLocator

            self._locator = ComponentLocator(excludes=self.excludes)
        return self._locator

    def __repr__(self) -> str:
        return f"{self.config}"

    def __getstate__(self) -> dict:
        # what is resolved (modules bound by $import, models, open files) is not part of the
        # parser's state: a copy or an unpickled parser has the same config and resolves anew
        state = self.__dict__.copy()
        state.update(_engine=None, _locator=None, ref_resolver=ReferenceResolver())
        return state

    def __getattr__(self, id: str) -> Any:
        # only ids that exist; dunders and private names are never config ids here, so
        # hasattr(), copy and pickle behave as for any object
        if id.startswith("_") or self.__dict__.get("config") is None:
            raise AttributeError(id)
        if not isinstance(self.config, dict) or id not in self.config:
            raise AttributeError(f"'{type(self).__name__}' has no attribute or config id '{id}'")
        return self.get_parsed_content(id)

    # --- raw access ---------------------------------------------------------------------------

    def __getitem__(self, id: str | int) -> Any:
        id = syntax.normalize_id(id)
        node = tree.lookup(self.config, id)
        if node is tree.MISSING:
            raise MissingIdError(id, candidates=candidates_near(self.config, id))
        return node

    def __setitem__(self, id: str | int, config: Any) -> None:
        id = syntax.normalize_id(id)
        try:
            self.config = tree.assign(self.config, id, tree.copy_tree(config))
        except KeyError as err:
            raise MissingIdError(
                err.args[0], candidates=candidates_near(self.config, err.args[0]),
                hint="the parent must exist; use parser.set(value, id) to create missing parents",
            ) from None
        self._sources.record(id, Given(_API))
        self._invalidate()

    def __contains__(self, id: str | int) -> bool:
        return tree.lookup(self.config, syntax.normalize_id(id)) is not tree.MISSING

    def get(self, id: str = "", default: Any = None) -> Any:
        """The raw config at ``id``, or ``default`` when it does not exist."""
        try:
            return self[id]
        except (KeyError, IndexError, ValueError):
            return default

    def set(self, config: Any, id: str = "", recursive: bool = True) -> None:
        """Set ``id`` to ``config`` (copied); ``recursive`` creates missing parent dicts."""
        self._assign(id, config, create=recursive, copy=True)

    def _assign(self, id: str, config: Any, *, create: bool, copy: bool) -> None:
        id = syntax.normalize_id(id)
        try:
            value = ReferenceResolver.normalize_meta_id(tree.copy_tree(config) if copy else config)
            self.config = tree.assign(self.config, id, value, create=create)
        except KeyError as err:
            raise MissingIdError(err.args[0], candidates=candidates_near(self.config, err.args[0])) from None
        self._sources.record(id, Given("<dict>" if id == "" else _API))
        self._invalidate()

    def update(self, pairs: Mapping[str, Any]) -> None:
        """Set several ids (``{id: value}``); each parent must exist, as with ``parser[id] = value``."""
        for k, v in pairs.items():
            self[k] = v

    def apply_overrides(self, pairs: Mapping[str, Any], *, strict: bool = True, label: str = "<overrides>") -> None:
        """Set ``{id: value}`` the way ``Config.load`` applies overrides (our addition): ``+id`` merges
        into what is there; ``strict``: an id that does not exist is an error (with close matches),
        otherwise it is set when its parent exists. Later errors point at ``label``.

        Raises:
            MissingIdError: ``strict`` and an id does not exist.
        """
        apply_overrides(self.config, dict(pairs), self._sources, strict=strict, label=label)
        self._invalidate()

    # --- reading files ------------------------------------------------------------------------

    def read_config(self, f: Any, **kwargs: Any) -> None:
        """Read config file(s) (a path, a list of paths, a comma-separated string, or a dict),
        merged in order; keeps ``_meta_`` and replaces everything else."""
        sources = Sources()
        content: dict = {self.meta_key: self.get(self.meta_key, {})}
        # keep where the metadata (and any change to it) came from
        for id, (origin, _) in sorted(self._sources.records_under(self.meta_key).items(), key=lambda kv: kv[1][1]):
            sources.record(id, origin)
        if isinstance(f, dict):
            sources.record("", Given("<dict>"))
            for k, v in tree.copy_tree(f).items():
                content[k] = v
            self._base_dir = None
        else:
            files = _as_files(f)
            read_files(files, sources, into=content)
            self._base_dir = config_root(files)
        self.config = content
        self._sources = sources
        self._invalidate()

    def read_meta(self, f: Any, **kwargs: Any) -> None:
        """Read metadata file(s) into ``_meta_``."""
        self._assign(self.meta_key, self.load_config_files(f, **kwargs), create=True, copy=isinstance(f, dict))
        files = [] if isinstance(f, dict) else _as_files(f)
        if len(files) == 1:
            self._sources.record(self.meta_key, InFile(os.fspath(files[0]), ()))

    # --- parsing and resolving ----------------------------------------------------------------

    def parse(self, reset: bool = True) -> None:
        """Expand macros and relative ids (``self.config`` becomes the expanded config) and get
        ready to resolve. ``reset=False`` keeps what is already resolved."""
        if reset or self._engine is None:
            engine = Config(
                self.config, sources=self._sources, base_dir=self._base_dir, trusted=self.trusted,
                policy=self.policy, globals=self.globals, locator=self.locator, copy=False,
            )
            self.config = engine.expanded  # a new tree: parsing never changes what it was given
            self._engine = engine
            # MONAI's switch, read when a reference is missing (users set it on the class at any time)
            engine.resolver.allow_missing_reference = lambda: bool(self.ref_resolver.allow_missing_reference)
            self.ref_resolver.bind_resolver(engine.resolver)

    def get_parsed_content(self, id: str = "", **kwargs: Any) -> Any:
        """Resolve ``id`` to its object.

        Args:
            id: the id (``""`` for the whole config).
            kwargs: ``lazy`` (default True: reuse what is resolved; False: parse and resolve
                again), ``instantiate`` (False returns the ``ConfigComponent``), ``eval_expr``
                (False returns the ``ConfigExpression``), ``default`` (returned for a missing id).
        """
        if self._engine is None or not kwargs.pop("lazy", True):
            self.parse(reset=True)
        kwargs.pop("lazy", None)
        return self.ref_resolver.get_resolved_content(id=id, **kwargs)

    def resolve_macro_and_relative_ids(self) -> None:
        """Expand ``%`` macros and relative ids in ``self.config``."""
        self.config = Expander(self.config, self._sources, base_dir=self._base_dir).run()
        self._invalidate()

    def _invalidate(self) -> None:
        self._engine = None
        self.ref_resolver = ReferenceResolver()

    def where(self, id: str) -> Any:
        """Where ``id`` is written (our addition): a ``Location`` or None."""
        return self._sources.where(id)

    # --- class methods (MONAI API) ---------------------------------------------------------------

    @classmethod
    def resolve_relative_ids(cls, id: str, value: str) -> str:
        """Make relative ids in a ``@``/``%``/``$`` string absolute, seen from ``id``."""
        if syntax.is_expression(value):
            return syntax.rewrite_expression_refs(value, id)
        if syntax.is_reference(value) or syntax.is_macro(value):
            head, rest = value[0], value[1:]
            path, ids = syntax.split_path_id(rest) if head == syntax.MACRO else ("", rest)
            if path:
                return value
            return head + syntax.absolute_id(ids, id)
        return value

    @classmethod
    def split_path_id(cls, src: str) -> tuple[str, str]:
        return syntax.split_path_id(src)

    @classmethod
    def load_config_file(cls, filepath: Any, **kwargs: Any) -> Any:
        """Load one JSON/YAML file (duplicate keys are an error)."""
        if not filepath:
            return {}
        return load_file(filepath)

    @classmethod
    def load_config_files(cls, files: Any, **kwargs: Any) -> dict:
        """Load and merge files in order (``+key`` and nested-id keys honoured); a dict is returned as is."""
        if isinstance(files, dict):
            return files
        config: dict = {}
        sources = Sources()
        for f in _as_files(files):
            merge_file_data(config, cls.load_config_file(f, **kwargs), os.fspath(f), sources)
        return config

    @classmethod
    def export_config_file(cls, config: Any, filepath: Any, fmt: str = "json", **kwargs: Any) -> None:
        """Write ``config`` to ``filepath`` as JSON or YAML, atomically (no half-written file)."""
        from bundle.atomic import write_atomic

        fmt = fmt.lower()
        if fmt == "json":
            kwargs.setdefault("indent", 4)
            text = json.dumps(config, **kwargs)
        elif fmt in ("yaml", "yml"):
            import yaml

            text = yaml.safe_dump(config, **kwargs)
        else:
            raise ValueError(f"unknown format {fmt!r}: use 'json' or 'yaml'")
        write_atomic(filepath, text)


def _as_files(f: Any) -> list:
    if isinstance(f, (str, os.PathLike)):
        text = os.fspath(f)
        if "," in text and not os.path.isfile(text):
            return [p.strip() for p in text.split(",") if p.strip()]
        return [text]
    return list(f)
