"""``ConfigWorkflow``: a workflow written as config files; ``initialize``, ``run`` and ``finalize``
evaluate the expressions at three ids, and properties are config ids."""

from __future__ import annotations

import ast
import logging
import os
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from bundle.config import syntax
from bundle.config.engine import config_root
from bundle.config.parser import ConfigParser
from bundle.errors import FormatError, Location, MissingIdError, did_you_mean
from bundle.workflows.base import BundleWorkflow, WorkflowError
from bundle.workflows.properties import ID, REF_ID, REQUIRED
from bundle.workflows.tracking import patch_bundle_tracking, tracking_settings

__all__ = ["ConfigWorkflow", "apply_config_overrides", "as_config_files"]

logger = logging.getLogger(__name__)


def as_config_files(config_file: Any) -> list[str]:
    """One config file or several: a path, a list, ``"['a.json','b.json']"`` or ``"a.json,b.json"``.

    Example:
        >>> as_config_files("['configs/train.json', 'configs/multi_gpu_train.json']")
        ['configs/train.json', 'configs/multi_gpu_train.json']
    """
    if isinstance(config_file, (str, os.PathLike)):
        text = os.fspath(config_file).strip()
        if text.startswith(("[", "(")) and not os.path.isfile(text):
            try:
                value = ast.literal_eval(text)  # literals only: nothing is evaluated
            except (ValueError, SyntaxError) as err:
                raise FormatError(
                    f"config_file {text!r} looks like a list but is not one", hint="write \"['a.json','b.json']\""
                ) from err
            return as_config_files(list(value))
        if "," in text and not os.path.isfile(text):
            return [p.strip() for p in text.split(",") if p.strip()]
        return [text]
    if isinstance(config_file, Sequence):
        return [os.fspath(f) for f in config_file]
    raise FormatError(f"config_file must be a path or a list of paths, not {type(config_file).__name__}")


def apply_config_overrides(parser: ConfigParser, pairs: Mapping[str, Any], *, strict: bool, label: str) -> None:
    """Set ``{id: value}`` in a parser's config the way the config engine does (``+id`` merges;
    ``strict``: an id that does not exist is an error), recording ``label`` as where they come from."""
    parser.apply_overrides(pairs, strict=strict, label=label)


def _check_config_files(files: list[str]) -> None:
    from bundle.config.loader import ConfigFileNotFoundError

    for f in files:
        if os.path.isfile(f):
            continue
        folder = os.path.dirname(os.path.abspath(f))
        names = os.listdir(folder) if os.path.isdir(folder) else []
        there = sorted(n for n in names if n.endswith((".json", ".yaml", ".yml")))
        hint = did_you_mean(os.path.basename(f), there) or (
            f"config files there: {', '.join(there)}" if there
            else "check the path (relative paths start at the current folder)"
        )
        raise ConfigFileNotFoundError(f"config file '{f}' does not exist", hint=hint)


class ConfigWorkflow(BundleWorkflow):
    """A workflow defined by config files (MONAI's ``ConfigWorkflow``, on our config engine).

    ``initialize()`` parses the config, checks the required properties (before anything runs)
    and evaluates ``init_id``; ``run()`` evaluates ``run_id``; ``finalize()`` evaluates
    ``final_id``. An id holding a list evaluates each item in order, and nothing evaluated is
    kept, so ``run()`` can be called again. The bundle's ``scripts/`` is importable from
    ``initialize()`` to ``finalize()`` (trusted mode).

    Args:
        config_file: the config file, or several merged in order (a list, ``"['a.json','b.json']"``).
        meta_file: the metadata file(s); default ``metadata.json`` next to the first config when it
            exists. A file given that does not exist is an error.
        logging_file: a logging file (``.conf`` INI, trusted mode only; or YAML/JSON dictConfig);
            default ``logging.conf`` next to the first config when it exists (skipped in safe
            mode); False leaves logging alone. A file given that does not exist is an error.
        init_id: the id to evaluate in ``initialize()`` (optional in the config).
        run_id: the id to evaluate in ``run()`` (must be in the config).
        final_id: the id to evaluate in ``finalize()`` (optional in the config).
        tracking: ``"mlflow"``, a settings file or dict (see ``tracking_settings``); None for none.
        workflow_type: ``"train"``/``"infer"`` (or their synonyms) checks that type's required
            properties in ``initialize()``; None (the default) checks only metadata properties.
        properties_path: a JSON/YAML properties file instead of the built-in sets.
        trusted: None (default) follows the trust rule (``bundle.trust``: config files in the download
            cache are untrusted, others trusted); False is safe mode: nothing outside the safe policy runs, an INI logging file is
            refused and ``scripts/`` is not put on ``sys.path``.
        override: ``{id: value}`` set in the config (``parser[id] = value``: the parent must exist;
            ``+id`` extends a list or updates a dict).

    Example:
        >>> wf = ConfigWorkflow("zoo/digits_classification/configs/inference.json", workflow_type="infer",
        ...                     bundle_root="zoo/digits_classification", device="$torch.device('cpu')")
        >>> _ = wf.initialize()
        >>> _ = wf.run()
        >>> type(wf.network_def).__name__     # a property: the object at config id network_def
        'CompactCNN'
        >>> _ = wf.finalize()
    """

    def __init__(
        self,
        config_file: str | Sequence[str],
        meta_file: str | Sequence[str] | None = None,
        logging_file: str | Literal[False] | None = None,
        init_id: str = "initialize",
        run_id: str = "run",
        final_id: str = "finalize",
        tracking: str | dict | None = None,
        workflow_type: str | None = None,
        properties_path: str | os.PathLike | None = None,
        *,
        trusted: bool | None = None,
        **override: Any,
    ) -> None:
        from bundle.trust import resolve_trusted

        files = as_config_files(config_file)
        if not files:
            raise FormatError("no config file given", hint="pass config_file='configs/train.json' (or a list)")
        _check_config_files(files)
        root = Path(files[0]).parent
        trusted = resolve_trusted(trusted, root)
        if any(Path(f).parent != root for f in files[1:]):
            logger.info("config files are in different folders; defaults are looked up in '%s'", root)
        if meta_file is None and (root / "metadata.json").is_file():
            meta_file = str(root / "metadata.json")
        if logging_file is None:
            logging_file = _default_logging_file(root, trusted)
        super().__init__(workflow_type, properties_path, meta_file, logging_file or None, trusted=trusted)
        self.config_root_path = root
        self.config_files = files
        self.init_id, self.run_id, self.final_id = init_id, run_id, final_id
        self.parser = ConfigParser(trusted=trusted)
        self.parser.read_config(files)
        if self.meta_file is not None:
            self._read_meta()
        self.override(override)
        self._tracking = tracking_settings(tracking)
        self._is_initialized = False
        self._scripts: Any = None

    def _read_meta(self) -> None:
        self.parser.read_meta(self.meta_file)
        meta = self.parser.get(self.parser.meta_key)
        if not isinstance(meta, dict):
            raise FormatError(
                f"metadata file '{self.meta_file}' holds a {type(meta).__name__}, not a mapping",
                location=Location(str(self.meta_file)), hint='metadata is a JSON object: {"version": "0.1.0", ...}',
            )

    # --- config changes ------------------------------------------------------------------------

    def override(self, pairs: Mapping[str, Any], *, strict: bool = False, label: str = "<overrides>") -> None:
        """Set config ids before ``initialize()`` (or again after, then call ``initialize()``).

        Args:
            pairs: ``{id: value}``; ``+id`` extends a list or updates a dict (adding the id).
            strict: an id that does not exist is an error (the command line's meaning); otherwise
                it is added when its parent exists (``parser[id] = value``).
            label: where the overrides come from, for messages (``<command line>``).

        Raises:
            MissingIdError: the id (strict) or its parent does not exist, with close matches.
        """
        if pairs:
            apply_config_overrides(self.parser, pairs, strict=strict, label=label)
            self._is_initialized = False

    # --- the workflow --------------------------------------------------------------------------

    def initialize(self, *, require_properties: bool = False) -> list:
        """Parse the config, then evaluate ``init_id`` (when present).

        Args:
            require_properties: check the workflow type's required properties first, so that nothing
                runs when one is missing (``bundle run`` does). MONAI's ``initialize()`` checks nothing:
                a missing property fails only when it is read, or when you call ``check_properties()``
                or ``require_properties()``.

        Raises:
            MissingPropertyError: ``require_properties`` and required properties are missing (nothing has run).
        """
        self._activate_scripts()
        try:
            if self._tracking is not None:
                patch_bundle_tracking(self.parser, self._tracking)
                self._tracking = None  # patched once, even if initialize() is called again
            self.parser.parse(reset=True)
            if require_properties:
                self.require_properties()
            self._is_initialized = True
            return self._run_expr(self.init_id)
        except BaseException:
            self.deactivate_scripts()
            raise

    def run(self) -> list:
        """Evaluate ``run_id``.

        Raises:
            MissingIdError: the config has no ``run_id`` (with close matches).
        """
        self.check_run_id()
        self._activate_scripts()
        return self._run_expr(self.run_id)

    def finalize(self) -> list:
        """Evaluate ``final_id`` (when present); ``scripts/`` stops being importable."""
        try:
            return self._run_expr(self.final_id)
        finally:
            self.deactivate_scripts()

    def check_run_id(self) -> None:
        """Raise ``MissingIdError`` (with close matches) when the config has no ``run_id``."""
        if self.run_id in self.parser:
            return
        top = [k for k in (self.parser.config or {}) if k != self.parser.meta_key]
        near = did_you_mean(self.run_id, top)
        hint = (near + " " if near else "") + "choose the id to run with run_id (command line: --run_id ID)"
        raise MissingIdError(
            self.run_id, candidates=top, hint=hint, location=Location(", ".join(self.config_files)),
        )

    def _run_expr(self, id: str | None) -> list:
        # each item is resolved and then forgotten, so the same id can be evaluated again
        # (streaming inference calls run() repeatedly without restarting the process)
        out: list = []
        if not id or id not in self.parser:
            return out
        node = self.parser[id]
        ids = [f"{id}::{i}" for i in range(len(node))] if isinstance(node, list) else [id]
        for sub in ids:
            out.append(self.parser.get_parsed_content(sub))
            self.parser.ref_resolver.remove_resolved_content(sub)
        return out

    # --- scripts/ ------------------------------------------------------------------------------

    def _activate_scripts(self) -> None:
        # not in safe mode: the bundle folder first on sys.path would let a module in it shadow
        # any module imported later (numpy.py, torch/), which is code execution
        if not self.trusted:
            return
        if self._scripts is None:
            from bundle.format.scripts import BundleScripts

            root = config_root(self.config_files)
            assert root is not None  # __init__ refuses an empty list of config files
            self._scripts = BundleScripts(root)
        if not self._scripts.active:
            self._scripts.activate()

    def deactivate_scripts(self) -> None:
        """Make the bundle's ``scripts/`` package unimportable again (our addition). ``finalize()`` does
        this; call it when a run failed and ``finalize()`` will not be called, as in MONAI."""
        if self._scripts is not None and self._scripts.active:
            self._scripts.deactivate()

    # --- properties ----------------------------------------------------------------------------

    def _has_property(self, name: str, property: dict) -> bool:
        prop_id = property.get(ID)
        return prop_id is not None and prop_id in self.parser

    def _missing_location(self, missing: list) -> Location | None:
        if all(str(p.get(ID, "")).startswith("_meta_") for _, p in missing) and self.meta_file is not None:
            return Location(str(self.meta_file))
        return Location(", ".join(self.config_files))

    def _get_prop_id(self, name: str, property: dict) -> str | None:
        prop_id = property.get(ID)
        if prop_id is None or prop_id not in self.parser:
            if not property.get(REQUIRED, False):
                return None
            raise MissingIdError(
                str(prop_id), hint=f"property '{name}' ({property.get('description') or 'no description'}) "
                f"is read from config id '{prop_id}'; define it in the config",
            )
        return prop_id

    def _get_property(self, name: str, property: dict) -> Any:
        if not self._is_initialized:
            raise WorkflowError(
                f"property '{name}' was read before the workflow was initialized",
                hint="call initialize() first (and again after setting a property)",
            )
        prop_id = self._get_prop_id(name, property)
        return self.parser.get_parsed_content(prop_id) if prop_id is not None else None

    def _set_property(self, name: str, property: dict, value: Any) -> None:
        prop_id = self._get_prop_id(name, property)
        if prop_id is not None:
            self.parser[prop_id] = value
            self._is_initialized = False  # the config changed: initialize() parses it again

    def add_property(  # type: ignore[override]
        self, name: str, required: bool, config_id: str, desc: str | None = None
    ) -> None:
        """Declare another property an application needs, read from ``config_id``.

        Example:
            >>> wf = ConfigWorkflow("zoo/digits_classification/configs/train.json", workflow_type="train")
            >>> wf.add_property("loss", required=True, config_id="loss", desc="the loss function")
            >>> _ = wf.initialize()
            >>> type(wf.loss).__name__
            'CrossEntropyLoss'
        """
        super().add_property(name=name, required=required, desc=desc)
        assert self.properties is not None  # add_property makes the table when there is none
        self.properties[name][ID] = config_id

    def check_properties(self) -> list[str] | None:
        """Names of missing required properties, plus optional ones another id refers to under a
        wrong id (MONAI's meaning); None without properties. Builds nothing."""
        missing = super().check_properties()
        if missing is None or self.properties is None:  # the one means the other
            return None
        wrong = [n for n, p in self.properties.items() if not p.get(REQUIRED, False) and not self._optional_id_ok(n, p)]
        if missing:
            logger.warning("the bundle does not define these required properties: %s", missing)
        if wrong:
            logger.warning("the bundle refers to these optional properties under a different id: %s", wrong)
        return missing + wrong

    def _optional_id_ok(self, name: str, property: dict) -> bool:
        prop_id, ref_id = property.get(ID), property.get(REF_ID)
        if ref_id is None:
            return True
        ref: Any = None
        if name in ("evaluator", "val_interval"):
            # ValidationHandler's argument names; its position in train::handlers is not fixed
            for handler in self.parser.get("train::handlers", None) or []:
                if isinstance(handler, dict) and str(handler.get("_target_", "")).endswith("ValidationHandler"):
                    ref = handler.get(ref_id)
        else:
            ref = self.parser.get(ref_id, None)
        # an expression may reach the property in any way: only a plain reference is checked
        if not isinstance(ref, str) or ref.startswith("$"):
            return True
        return ref.startswith("@") and syntax.normalize_id(ref[1:]) == syntax.normalize_id(str(prop_id))

    @staticmethod
    def patch_bundle_tracking(parser: ConfigParser, settings: dict) -> None:
        """Add tracking handlers and settings to ``parser`` (see ``bundle.workflows.tracking``)."""
        patch_bundle_tracking(parser, settings)


def _default_logging_file(root: Path, trusted: bool) -> str | Literal[False]:
    """The logging file next to the configs: ``logging.{json,yaml,yml}`` (a dictConfig), else
    ``logging.conf`` in trusted mode; False when there is none to apply."""
    for name in ("logging.json", "logging.yaml", "logging.yml"):
        if (root / name).is_file():
            return str(root / name)
    conf = root / "logging.conf"
    if conf.is_file():
        if trusted:
            return str(conf)
        logger.warning("safe mode: '%s' is not applied (fileConfig evaluates code); logging is left as it is", conf)
    return False
