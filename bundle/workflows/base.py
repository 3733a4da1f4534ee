"""``BundleWorkflow``: what every workflow is (initialize, run, finalize) and how its properties are
declared, read, set and checked; the errors a workflow raises."""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from typing import Any, Sequence

from bundle.errors import BundleError, BundleFileNotFoundError, FormatError, Location
from bundle.workflows.logs import apply_logging_file
from bundle.workflows.properties import DESC, ID, REQUIRED, load_properties, normalize_workflow_type

__all__ = ["BundleWorkflow", "BundleFileNotFoundError", "MissingPropertyError", "WorkflowError"]

logger = logging.getLogger(__name__)


class MissingPropertyError(FormatError):
    """A workflow lacks required properties. ``missing`` is ``[(name, property dict), ...]``."""

    def __init__(self, missing: Sequence[tuple[str, dict]], *, workflow_type: str | None, hint: str = "", **kw):
        self.missing = list(missing)
        self.workflow_type = workflow_type
        article = "an" if workflow_type == "infer" else "a"
        kind = f"{article} '{workflow_type}' workflow" if workflow_type else "the bundle"
        lines = "".join(
            f"\n    {name}" + (f" (config id '{p[ID]}')" if p.get(ID) else "") + f": {p.get(DESC) or 'no description'}"
            for name, p in self.missing
        )
        n = len(self.missing)
        super().__init__(f"missing {n} required propert{'y' if n == 1 else 'ies'} of {kind}:{lines}", hint=hint, **kw)


class WorkflowError(BundleError, RuntimeError):
    """A workflow was used out of order (a property read before ``initialize()``)."""


def require_file(path: Any, what: str) -> str:
    """``path`` as a string; raises ``BundleFileNotFoundError`` when it is not an existing file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        folder = os.path.dirname(os.path.abspath(path))
        from bundle.errors import did_you_mean

        near = did_you_mean(os.path.basename(path), os.listdir(folder)) if os.path.isdir(folder) else ""
        raise BundleFileNotFoundError(
            f"{what} '{path}' does not exist" + ("" if os.path.isdir(folder) else f" (no folder '{folder}')"),
            hint=near or "check the path (relative paths start at the current folder)",
        )
    return path


class BundleWorkflow(ABC):
    """A training, evaluation or inference workflow: ``initialize()``, ``run()``, ``finalize()``, and
    properties (named parts such as ``network_def`` or ``trainer``) read and set as attributes.

    Args:
        workflow_type: ``train``/``training`` or ``infer``/``inference``/``eval``/``evaluation``
            (normalised to ``"train"``/``"infer"``); None for metadata properties only.
        properties_path: a JSON/YAML file of properties (``{"train": {...}, "infer": {...},
            "meta": {...}}``) used instead of the built-in sets.
        meta_file: the metadata file(s); a path that does not exist is an error.
        logging_file: a logging file to apply now (``.conf`` INI in trusted mode, or a YAML/JSON
            dictConfig); a path that does not exist is an error.
        trusted: False is safe mode: an INI logging file is refused (its entries are evaluated).

    Raises:
        FormatError: an unknown workflow type, a missing file, a bad properties file.

    Example:
        >>> class Hello(BundleWorkflow):
        ...     def initialize(self): ...
        ...     def run(self): return "hello"
        ...     def finalize(self): ...
        ...     def _get_property(self, name, property): return None
        ...     def _set_property(self, name, property, value): ...
        >>> Hello(workflow_type="inference").get_workflow_type()
        'infer'
    """

    supported_train_type: tuple = ("train", "training")
    supported_infer_type: tuple = ("infer", "inference", "eval", "evaluation")

    def __init__(
        self,
        workflow_type: str | None = None,
        properties_path: str | os.PathLike | None = None,
        meta_file: str | Sequence[str] | None = None,
        logging_file: str | None = None,
        *,
        trusted: bool = True,
    ) -> None:
        self.properties = None  # first: attribute routing below reads it
        # every check before the one side effect (configuring logging)
        if meta_file is not None:
            files = [meta_file] if isinstance(meta_file, (str, os.PathLike)) else list(meta_file)
            checked = [require_file(f, "metadata file") for f in files]
            meta_file = checked[0] if isinstance(meta_file, (str, os.PathLike)) else checked
        if logging_file is not None and logging_file is not False:
            logging_file = require_file(logging_file, "logging file")
        workflow_type = normalize_workflow_type(workflow_type)
        self.properties = load_properties(workflow_type, properties_path)
        self.workflow_type = workflow_type
        self.meta_file = meta_file
        self.trusted = trusted
        if logging_file:
            apply_logging_file(logging_file, trusted=trusted)

    # --- the workflow --------------------------------------------------------------------------

    @abstractmethod
    def initialize(self, *args: Any, **kwargs: Any) -> Any:
        """Get ready to run (build what ``run`` needs)."""

    @abstractmethod
    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run the training, evaluation or inference."""

    @abstractmethod
    def finalize(self, *args: Any, **kwargs: Any) -> Any:
        """Release what ``initialize`` and ``run`` took."""

    @abstractmethod
    def _get_property(self, name: str, property: dict) -> Any:
        """The value of property ``name``."""

    @abstractmethod
    def _set_property(self, name: str, property: dict, value: Any) -> Any:
        """Set property ``name`` to ``value``."""

    # --- properties as attributes --------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: instance attributes and methods win
        props = self.__dict__.get("properties")
        if props is not None and name in props:
            return self._get_property(name=name, property=props[name])
        raise AttributeError(f"'{type(self).__name__}' has no attribute or property '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        props = self.__dict__.get("properties")
        if name != "properties" and props is not None and name in props:
            self._set_property(name=name, property=props[name], value=value)
        else:
            super().__setattr__(name, value)

    def get_workflow_type(self) -> str | None:
        """``"train"``, ``"infer"`` or None."""
        return self.workflow_type

    def get_meta_file(self) -> str | list[str] | None:
        """The metadata file(s) this workflow reads, or None."""
        return self.meta_file

    def add_property(self, name: str, required: bool, desc: str | None = None) -> None:
        """Declare another property an application needs (replacing one of the same name).

        Args:
            name: the property name (then readable as ``workflow.<name>``).
            required: whether the workflow must provide it.
            desc: what it is for (shown when it is missing).
        """
        if self.properties is None:
            self.properties = {}
        if name in self.properties:
            logger.warning("property '%s' is already declared; replacing it", name)
        self.properties[name] = {DESC: desc, REQUIRED: required}

    # --- checks --------------------------------------------------------------------------------

    def _has_property(self, name: str, property: dict) -> bool:
        """Whether the workflow provides ``name``, without building it where that can be avoided."""
        return hasattr(self, name)

    def _checked_properties(self) -> dict:
        """The properties ``require_properties`` enforces: metadata ones only when metadata is read."""
        props = self.properties or {}
        if self.meta_file is None:
            return {n: p for n, p in props.items() if not str(p.get(ID, "")).startswith("_meta_")}
        return props

    def check_properties(self) -> list[str] | None:
        """Names of the required properties the workflow does not provide (None without properties).

        Nothing is built: a property counts as provided when its id exists (config workflows) or
        its ``get_<name>`` method exists (Python workflows).
        """
        if self.properties is None:
            return None
        return [n for n, p in self.properties.items() if p.get(REQUIRED, False) and not self._has_property(n, p)]

    def require_properties(self) -> None:
        """Raise ``MissingPropertyError`` naming every required property that is missing, its id
        and what it is for. Metadata properties count only when metadata was given, and a
        workflow without a type checks nothing else.

        Raises:
            MissingPropertyError: one or more required properties are missing.
        """
        missing = [
            (n, p) for n, p in self._checked_properties().items()
            if p.get(REQUIRED, False) and not self._has_property(n, p)
        ]  # fmt: skip
        if missing:
            raise MissingPropertyError(missing, workflow_type=self.workflow_type, hint=self._missing_hint(missing),
                                       location=self._missing_location(missing))

    def _missing_hint(self, missing: list) -> str:
        meta_only = all(str(p.get(ID, "")).startswith("_meta_") for _, p in missing)
        if meta_only:
            return "add these keys to the metadata file"
        return (
            "define these ids in the config; or leave out the workflow type (workflow_type=None, or no "
            "--workflow_type) to skip these checks; or give a properties_path file with the ids this bundle uses"
        )

    def _missing_location(self, missing: list) -> Location | None:
        return None
