"""``PythonicWorkflow``: a workflow written as a Python class; properties come from values set on
it, the metadata, or its ``get_<property>()`` methods."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from bundle.config.parser import ConfigParser
from bundle.errors import FormatError
from bundle.workflows.base import BundleWorkflow, MissingPropertyError, WorkflowError
from bundle.workflows.config_workflow import apply_config_overrides, as_config_files
from bundle.workflows.properties import ID, REQUIRED

__all__ = ["PythonicWorkflow"]


class PythonicWorkflow(BundleWorkflow):
    """Base class for workflows written in Python (MONAI's ``PythonicWorkflow``).

    Subclasses write ``run()`` and ``finalize()`` (and usually ``initialize()``, calling
    ``super().initialize()``), and provide properties as ``get_<name>()`` methods. A property is
    served, in order, from a value set on the workflow (``wf.network_def = net``), a value already
    computed since ``initialize()``, the metadata (properties whose id is under ``_meta_``), and
    ``get_<name>()``. Setting a property marks the workflow uninitialized.

    Args:
        workflow_type: ``train``/``infer`` (or synonyms); None for metadata properties only.
        properties_path: a JSON/YAML properties file instead of the built-in sets.
        config_file: optional config file(s) for hyperparameters, read into ``self.parser``.
        meta_file: the metadata file(s) (none by default; MONAI falls back to ``./metadata.json``).
        logging_file: a logging file (``.conf`` INI in trusted mode, or YAML/JSON dictConfig).
        trusted: False is safe mode for the config and logging files; None (default) follows the trust
            rule (``bundle.trust``): config files in the download cache are untrusted, others trusted.
        override: ``{id: value}`` set in the config (``parser[id] = value``).

    Example:
        >>> class Infer(PythonicWorkflow):
        ...     def initialize(self):
        ...         super().initialize()
        ...         self.net = torch.nn.Linear(2, 1)
        ...     def run(self): return self.net(torch.ones(1, 2))
        ...     def finalize(self): ...
        ...     def get_network_def(self): return self.net
    """

    def __init__(
        self,
        workflow_type: str | None = None,
        properties_path: str | os.PathLike | None = None,
        config_file: str | Sequence[str] | Mapping[str, Any] | None = None,
        meta_file: str | Sequence[str] | None = None,
        logging_file: str | None = None,
        *,
        trusted: bool | None = None,
        **override: Any,
    ) -> None:
        from bundle.trust import resolve_trusted

        # a dict is the config itself (MONAI's meaning); otherwise one file or several
        given = isinstance(config_file, Mapping)
        files = as_config_files(config_file) if config_file is not None and not given else []
        trusted = resolve_trusted(trusted, Path(files[0]).parent if files else None)
        super().__init__(workflow_type, properties_path, meta_file, logging_file, trusted=trusted)
        self._props_vals: dict = {}
        self._set_props_vals: dict = {}
        self.parser = ConfigParser(trusted=trusted)
        if isinstance(config_file, Mapping):
            self.parser.read_config(dict(config_file))  # read_config copies it: the caller's dict stays as it is
        elif files:
            self.parser.read_config(files)
        if self.meta_file is not None:
            self.parser.read_meta(self.meta_file)
            if not isinstance(self.parser.get(self.parser.meta_key), dict):
                raise FormatError(f"metadata file '{self.meta_file}' is not a mapping")
        apply_config_overrides(self.parser, override, strict=False, label="<overrides>")
        self._is_initialized = False

    def initialize(self, *args: Any, **kwargs: Any) -> Any:
        """Forget computed property values and mark the workflow ready."""
        self._props_vals = {}
        self._is_initialized = True

    def _meta_id(self, property: dict) -> str | None:
        prop_id = property.get(ID)
        if self.meta_file is not None and isinstance(prop_id, str) and prop_id.startswith("_meta_"):
            return prop_id if prop_id in self.parser else None
        return None

    def _has_property(self, name: str, property: dict) -> bool:
        return (
            name in self._set_props_vals
            or name in self._props_vals
            or self._meta_id(property) is not None
            or callable(getattr(type(self), f"get_{name}", None))
        )

    def _get_property(self, name: str, property: dict) -> Any:
        if not self._is_initialized:
            raise WorkflowError(
                f"property '{name}' was read before the workflow was initialized",
                hint="call initialize() first (and again after setting a property)",
            )
        if name in self._set_props_vals:
            return self._set_props_vals[name]
        if name in self._props_vals:
            return self._props_vals[name]
        meta_id = self._meta_id(property)
        if meta_id is not None:
            return self.parser[meta_id]
        getter = getattr(type(self), f"get_{name}", None)
        if getter is None:
            if property.get(REQUIRED, False):
                raise MissingPropertyError(
                    [(name, property)], workflow_type=self.workflow_type,
                    hint=f"write a method get_{name}(self) on {type(self).__name__}, or set it: wf.{name} = value",
                )
            value = None
        else:
            value = getter(self)
        self._props_vals[name] = value
        return value

    def _set_property(self, name: str, property: dict, value: Any) -> None:
        self._set_props_vals[name] = value
        self._is_initialized = False

    def _missing_hint(self, missing: list) -> str:
        if all(self._meta_id(p) is None and str(p.get(ID, "")).startswith("_meta_") for _, p in missing):
            return super()._missing_hint(missing)
        names = ", ".join(f"get_{n}()" for n, _ in missing)
        return f"write {names} on {type(self).__name__}, or set the values before running"
