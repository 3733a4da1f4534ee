"""``Bundle``: a bundle folder's Python face: its metadata, configs, weights, large files and code.

Layout (MONAI's)::

    my_bundle/
      configs/metadata.json     required
      configs/inference.json    configs: .json, .yaml or .yml (train, evaluate, multi_gpu_train, ...)
      models/model.pt           weights (a state dict)
      docs/README.md            model card
      LICENSE
      scripts/                  optional: the bundle's own Python package
      large_files.yml           optional: files fetched from URLs (.yml, .yaml or .json)

Example:
    >>> b = Bundle("zoo/digits_classification")
    >>> b.config_names()
    ['evaluate', 'inference', 'multi_gpu_train', 'train']
    >>> net = b.build_network("inference")            # network_def with models/model.pt, eval mode
    >>> cfg = b.load_config("inference", overrides={"device": "cpu"})   # the config itself, unresolved
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Mapping

from bundle.errors import BundleFileNotFoundError, FormatError, Location, NetworkBuildError, close_matches, did_you_mean
from bundle.format.large_files import FETCH_HINT, LargeFile, read_large_files
from bundle.format.network import build_network
from bundle.format.scripts import BundleScripts
from bundle.format.weights import load_state_dict
from bundle.trust import resolve_trusted

if TYPE_CHECKING:
    from bundle.config.engine import Config

__all__ = ["Bundle", "CONFIG_SUFFIXES", "METADATA", "config_names", "find_config"]

METADATA = "configs/metadata.json"
CONFIG_SUFFIXES = (".json", ".yaml", ".yml")
INIT_HINT = "create a bundle with `python -m bundle init DIR`, or point at the folder that holds configs/"


def folder_error(path: str | os.PathLike) -> FormatError:
    """The error for a bundle folder path that is not a folder: a file (with the bundle folder above a
    config file suggested), or a missing folder (with a did-you-mean from its siblings)."""
    given = Path(path).expanduser()
    if given.exists():
        above = next((p for p in list(given.parents)[:3] if (p / METADATA).is_file()), None)
        hint = f"give the bundle folder '{_shown(above, given)}'" if above is not None else INIT_HINT
        return FormatError(f"'{path}' is a file, not a bundle folder", hint=hint)
    parent = given.parent
    if not parent.is_dir():
        return BundleFileNotFoundError(f"bundle folder '{path}' does not exist (no folder '{parent}')",
                                       hint="check the path (relative paths start at the current folder), or "
                                       + INIT_HINT)
    try:
        siblings = sorted(d.name for d in parent.iterdir() if d.is_dir())
    except OSError:
        siblings = []
    near = close_matches(given.name, siblings)
    if near:
        hint = "did you mean " + " or ".join(f"'{parent / m}'" for m in near) + "?"
    else:
        hint = "check the path, or " + INIT_HINT
    return BundleFileNotFoundError(f"bundle folder '{path}' does not exist", hint=hint)


def _shown(folder: Path, given: Path) -> str:
    # the suggestion in the form the user wrote the path: relative stays relative
    return str(folder) if given.is_absolute() else os.path.relpath(folder)


class Bundle:
    """A bundle folder.

    Args:
        path: the bundle folder (the one holding ``configs/metadata.json``).
        trusted: whether its configs may run anything (``True``) or only what safe mode allows
            (``False``); None (default) follows the trust rule of ``bundle.trust``: a folder in
            the download cache is untrusted, any other folder trusted. Every method uses it unless
            told otherwise.

    Raises:
        FormatError: the folder does not exist, is not a folder, or has no ``configs/metadata.json``.
    """

    def __init__(self, path: str | os.PathLike, *, trusted: bool | None = None) -> None:
        given = Path(path).expanduser()
        root = given.resolve()
        if not root.is_dir():
            raise folder_error(given)
        if not (root / METADATA).is_file():
            missing = "configs/" if not (root / "configs").is_dir() else METADATA
            raise FormatError(
                f"'{given}' is not a bundle: {missing} is missing",
                location=Location(str(root / METADATA)), hint=INIT_HINT,
            )

        self.root = root
        self.trusted = resolve_trusted(trusted, root)
        self._metadata: dict | None = None
        self._scripts: BundleScripts | None = None

    def __repr__(self) -> str:
        return f"Bundle('{self.root}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bundle) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    # --- what it is ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The bundle's name: its folder's name (``spleen_ct_segmentation``); see ``display_name``."""
        return self.root.name

    @property
    def display_name(self) -> str:
        """The metadata's ``name`` (``"Spleen CT segmentation"``), else the folder's name."""
        value = self.metadata.get("name")
        return value if isinstance(value, str) and value else self.name

    @property
    def metadata_path(self) -> Path:
        return self.root / METADATA

    @property
    def metadata(self) -> dict:
        """``configs/metadata.json`` as a dict, read on first use.

        Raises:
            ConfigSyntaxError: it is not valid JSON (with line and column).
            FormatError: it does not hold a JSON object.
        """
        if self._metadata is None:
            from bundle.config.loader import load_file

            data = load_file(self.metadata_path)
            if not isinstance(data, dict):
                raise FormatError(
                    f"{METADATA} holds {type(data).__name__}, not a JSON object",
                    location=Location(str(self.metadata_path), 1, 1),
                    hint='write an object: {"version": "0.1.0", ...} (see docs/format.md)',
                )
            self._metadata = data
        return self._metadata

    @property
    def version(self) -> str:
        """The metadata's ``version``.

        Raises:
            FormatError: the metadata has no ``version`` string.
        """
        value = self.metadata.get("version")
        if not isinstance(value, str) or not value:
            raise FormatError(
                f"{METADATA} has no \"version\"" if value is None else f"\"version\" is {value!r}, not a string",
                location=Location(str(self.metadata_path)), hint='add "version": "0.1.0"',
            )
        return value

    @property
    def license_path(self) -> Path:
        return self.root / "LICENSE"

    @property
    def readme_path(self) -> Path:
        return self.root / "docs" / "README.md"

    # --- configs -------------------------------------------------------------------------------

    def config_names(self) -> list[str]:
        """The names of the bundle's configs (file names without suffix), sorted; metadata and
        logging excluded."""
        return config_names(self.root)

    def config_files(self) -> list[Path]:
        """Every ``.json``/``.yaml``/``.yml`` file in ``configs/`` (metadata included), sorted."""
        return _config_files(self.root / "configs")

    def config_path(self, name: str) -> Path:
        """The file of config ``name``: ``configs/{name}.json``, ``.yaml`` or ``.yml`` (see ``find_config``)."""
        return find_config(self.root, name)

    def load_config(
        self,
        *names: str,
        overrides: Mapping[str, Any] | None = None,
        trusted: bool | None = None,
        **options: Any,
    ) -> "Config":
        """Load configs by name, merged in order, with the metadata available as ``@_meta_``.

        Args:
            names: config names, e.g. ``"train", "evaluate"`` (later ones override earlier ones).
            overrides: ``{id: value}`` applied after merging.
            trusted: False loads in safe mode (nothing outside the safe policy runs); None: the bundle's.
            options: passed to ``Config.load`` (``policy``, ``globals``, ``locator``, ``strict_overrides``).

        Returns:
            The ``Config``; nothing is resolved yet. Activate ``scripts()`` while resolving if the
            configs use the bundle's own code.

        Raises:
            FormatError: no name given, or a config does not exist.
            ConfigError: a config cannot be read or an override names no id.
        """
        from bundle.config.engine import Config

        if not names:
            raise FormatError("no config name given",
                              hint=f"name one or more of: {', '.join(self.config_names()) or 'none'}")
        files = [self.config_path(n) for n in names]
        options.setdefault("base_dir", self.root)
        trusted = self.trusted if trusted is None else trusted
        return Config.load(*files, meta=self.metadata_path, overrides=overrides, trusted=trusted, **options)

    # --- the network ---------------------------------------------------------------------------

    def build_network(
        self,
        config: str | tuple[str, ...] = "inference",
        *,
        net_id: str = "network_def",
        weights: str | None = "model.pt",
        key: str | None = None,
        device: Any = None,
        trusted: bool | None = None,
        overrides: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """The bundle's network, ready to run: ``net_id`` of ``config`` built (with the bundle's
        ``scripts/`` importable when trusted, ``bundle_root`` set to this folder), ``models/{weights}``
        loaded into it with ``weights_only=True``, in eval mode on ``device``.

        This is the one way from a bundle to a running network; ``bundle.load``, export, verify,
        serving, labeling and federated learning use it.

        Args:
            config: the config (or configs, merged in order) that define the network.
            net_id: the network's config id.
            weights: the weights file under ``models/``; None builds the network with its initial weights.
            key: the key holding the state dict in a nested checkpoint (``{"model": {...}}``).
            device: where the network goes (default: the CPU).
            trusted: as for ``load_config``; None: the bundle's.
            overrides: ``{id: value}`` applied to the config.
            options: passed to ``Config.load`` (``locator``, ``policy``).

        Returns:
            A ``torch.nn.Module`` in eval mode.

        Raises:
            NetworkBuildError: the config defines no ``net_id`` (close ids named), building it raised, it
                is not a ``torch.nn.Module``, or the weights are missing or do not fit.
            ConfigError: a config cannot be read, or safe mode refused something (``UnsafeConfigError``).
            BundleFileNotFoundError: no such config.
        """
        names = (config,) if isinstance(config, str) else tuple(config)
        files = [self.config_path(n) for n in names]
        checkpoint = self.weights_path(weights) if weights is not None else None
        if checkpoint is not None and not checkpoint.is_file():
            raise NetworkBuildError(f"weights file 'models/{weights}' does not exist", location=Location(str(checkpoint)),
                                    config_id=net_id, hint=self._fetch_hint(f"models/{weights}"))
        return build_network(files, root=self.root, meta=self.metadata_path, net_id=net_id, overrides=overrides,
                             trusted=self.trusted if trusted is None else trusted, weights=checkpoint, key=key,
                             device=device, **options)

    # --- weights -------------------------------------------------------------------------------

    def weights_path(self, name: str = "model.pt") -> Path:
        """The path of weights file ``name`` under ``models/`` (it may not exist).

        Raises:
            FormatError: ``name`` leaves ``models/`` (absolute, or through ``..``).
        """
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise FormatError(f"weights name '{name}' must be a file name under models/, e.g. 'model.pt'")
        return self.root.joinpath("models", *pure.parts)

    def load_weights(self, name: str = "model.pt", map_location: Any = "cpu", *, key: str | None = None) -> dict:
        """Load a state dict from ``models/{name}`` with ``torch.load(..., weights_only=True)``.

        Args:
            name: the weights file under ``models/``.
            map_location: where tensors go (``torch.load``'s meaning).
            key: for a checkpoint that holds the state dict under a key (``{"model": {...}}``).

        Returns:
            The state dict (parameter name -> tensor).

        Raises:
            FormatError: the file is missing (the hint says how to fetch it when ``large_files``
                lists it), cannot be loaded safely, or does not hold a state dict.
        """
        path = self.weights_path(name)
        if not path.is_file():
            raise FormatError(f"weights file 'models/{name}' does not exist", location=Location(str(path)),
                              hint=self._fetch_hint(f"models/{name}"))

        return load_state_dict(path, map_location=map_location, key=key)

    def _fetch_hint(self, rel: str) -> str:
        try:
            listed = {f.path: f for f in self.large_files()}
        except FormatError:
            listed = {}
        if rel in listed:
            return f"it is listed in the large-files manifest: {FETCH_HINT.format(root=self.root, url=listed[rel].url)}"
        return "train the bundle, or copy the weights there"

    # --- code and large files -------------------------------------------------------------------

    def scripts(self) -> "BundleScripts":
        """The bundle's ``scripts/`` package, importable as ``scripts`` while activated.

        Example:
            >>> with bundle.scripts():
            ...     net = bundle.load_config("inference").resolve("network_def")
        """
        if self._scripts is None:
            self._scripts = BundleScripts(self.root)
        return self._scripts

    def large_files(self) -> list["LargeFile"]:
        """The entries of ``large_files.yml|yaml|json``, checked ([] when there is none).

        Raises:
            FormatError: the manifest breaks its schema, or a path is absolute, goes through
                ``..`` or otherwise leaves the bundle folder.
            ConfigSyntaxError: it is not valid YAML/JSON.
        """
        return read_large_files(self.root)


# --- configs by name (also for folders without metadata: ``bundle run DIR CONFIG``) -----------

_NOT_RUNNABLE = ("metadata", "logging")


def _config_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CONFIG_SUFFIXES)


def config_names(bundle_dir: str | os.PathLike) -> list[str]:
    """The runnable configs of a bundle folder: the names of ``configs/*.{json,yaml,yml}`` but
    metadata and logging, sorted."""
    return sorted({p.stem for p in _config_files(Path(bundle_dir) / "configs")} - set(_NOT_RUNNABLE))


def find_config(bundle_dir: str | os.PathLike, name: str) -> Path:
    """The file of config ``name`` (``inference``, or ``inference.yaml`` with its suffix) in
    ``bundle_dir/configs``.

    Raises:
        FormatError: ``name`` is not a config name, or two files with different suffixes have it.
        BundleFileNotFoundError: no such config (the message lists the configs there are).
    """
    configs = Path(bundle_dir) / "configs"
    name = str(name)
    stem, suffix = os.path.splitext(name)
    if suffix.lower() in CONFIG_SUFFIXES:
        candidates = [configs / name]
    else:
        stem = name
        candidates = [configs / f"{stem}{s}" for s in CONFIG_SUFFIXES]
    if "/" in stem or "\\" in stem or stem in ("", ".", ".."):
        raise FormatError(f"'{name}' is not a config name", hint="give a name such as 'inference' or 'train'")
    found = [c for c in candidates if c.is_file()]
    if len(found) > 1:
        raise FormatError(
            f"config '{stem}' exists twice: {', '.join('configs/' + f.name for f in found)}",
            location=Location(str(found[1])), hint="the name is ambiguous: keep one of the files, or name it with its suffix",
        )
    if not found:
        names = config_names(bundle_dir)
        listing = ", ".join(names) if names else "none"
        raise BundleFileNotFoundError(
            f"bundle '{bundle_dir}' has no config '{name}' (configs there: {listing})",
            hint=did_you_mean(stem, names) or f"configs are files {configs}{os.sep}NAME.json / NAME.yaml",
        )
    return found[0]
