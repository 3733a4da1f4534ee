"""Finding the callable a ``_target_`` names: dotted paths, and short names in component namespaces.

A short name (``"LoadImaged"``, ``"Conv2d"``) is looked up in the index of each component namespace
(``bundle.config.name_index``: built from source text without importing anything, cached as JSON);
only the one module that defines the chosen component is imported.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from bundle.config import name_index
from bundle.config.name_index import INDEXES, MODES, NameIndex, NameIndexes
from bundle.errors import AmbiguousTargetError, MissingDependencyError, UnknownTargetError, did_you_mean

__all__ = ["ComponentLocator"]

# Used only where the rules give no single answer, so that MONAI zoo bundles keep working: a name
# MONAI resolves by taking the first of several candidates (the first module in import order, with a
# warning), and a name MONAI has since renamed. Every other ambiguous or unknown name is an error.
MONAI_COMPAT = {
    "Interaction": "monai.apps.deepedit.interaction.Interaction",  # also in monai.apps.deepgrow
    "IgniteMetric": "monai.handlers.ignite_metric.IgniteMetricHandler",  # its old name
}

class ComponentLocator:
    """Finds the class or function a ``_target_`` names; MONAI-compatible ``ComponentLocator(excludes=None)``.

    Args:
        excludes: substrings of module names whose components are ignored for short names.
        namespaces: extra ``(module, mode)`` namespaces searched after the default ones; ``mode``
            is ``"tree"`` or ``"exports"``.
        indexes: where the name indexes are kept (default ``name_index.INDEXES``, the process's own).

    Raises:
        ValueError: a namespace mode is not ``"tree"`` or ``"exports"``.

    Example:
        >>> ComponentLocator().resolve_name("Adam")
        'torch.optim.Adam'
    """

    def __init__(
        self,
        excludes: Sequence[str] | str | None = None,
        namespaces: Sequence[tuple[str, str]] | None = None,
        *,
        indexes: NameIndexes | None = None,
    ) -> None:
        self.excludes: tuple[str, ...] = (excludes,) if isinstance(excludes, str) else tuple(excludes or ())
        self.namespaces = [(str(module), str(mode)) for module, mode in namespaces or ()]
        for module, mode in self.namespaces:
            if mode not in MODES:
                raise ValueError(f"namespace '{module}': mode must be one of {MODES}, not '{mode}'")
        self.indexes = indexes if indexes is not None else INDEXES
        self._loaded: list[NameIndex] | None = None

    def get_component_module_name(self, name: str) -> str | list[str] | None:
        """The module(s) that provide the short name ``name``, as MONAI's locator answers.

        Returns:
            ``None`` when no namespace has it, the module when one does, a list when several do.

        Raises:
            ValueError: ``name`` is not a string.
        """
        if not isinstance(name, str):
            raise ValueError(f"`name` must be a string, not {type(name).__name__}: {name!r}")
        modules = list(dict.fromkeys(path.rpartition(".")[0] for path in self._candidates(name)))
        if not modules:
            return None
        return modules[0] if len(modules) == 1 else modules

    def resolve_name(self, target: str) -> str:
        """The full dotted path of ``target``, without importing it; a dotted path is returned as is.

        Raises:
            UnknownTargetError: no namespace has the short name; the hint lists close names.
            AmbiguousTargetError: several components have it; ``candidates`` lists their paths.
            ValueError: ``target`` is not a string.
        """
        if not isinstance(target, str):
            raise ValueError(f"a _target_ name must be a string, not {type(target).__name__}")
        if "." in target:
            return target
        candidates = self._candidates(target)
        if len(candidates) != 1 and self._is_compatible(target, candidates):
            return MONAI_COMPAT[target]
        if len(candidates) > 1:
            raise AmbiguousTargetError(target, candidates=sorted(candidates))
        if not candidates:
            close = difflib.get_close_matches(target, self.short_names(), n=5)
            raise UnknownTargetError(target, candidates=close)
        return candidates[0]

    def locate(self, target: Any) -> Any:
        """The object ``target`` names, importing only the module that defines it.

        A non-string target (an already evaluated expression) is returned unchanged.

        Raises:
            UnknownTargetError: the name is unknown, a module is missing, or an attribute is missing.
            AmbiguousTargetError: a short name names several components.
        """
        if not isinstance(target, str):
            return target
        return _import_path(self.resolve_name(target), target)

    def short_names(self) -> list[str]:
        """Every short name the namespaces know, sorted (used for "did you mean" hints)."""
        return sorted({name for index in self._all_indexes() for name in index.names})

    def _is_compatible(self, name: str, candidates: list[str]) -> bool:
        """Whether ``MONAI_COMPAT`` answers for ``name``: its path is a candidate, or a known component."""
        path = MONAI_COMPAT.get(name)
        if path is None:
            return False
        return path in candidates or (not candidates and path in self._candidates(path.rpartition(".")[2]))

    def _candidates(self, name: str) -> list[str]:
        found: dict[str, None] = {}
        for index in self._all_indexes():
            found.update(dict.fromkeys(index.candidates(name, self.excludes)))
        return list(found)

    def _all_indexes(self) -> list[NameIndex]:
        if self._loaded is None:
            specs = dict.fromkeys([*name_index.default_namespaces(), *self.namespaces])
            namespaces = (name_index.find_namespace(module, mode) for module, mode in specs)
            self._loaded = [self.indexes.load(ns) for ns in namespaces if ns is not None]
        return self._loaded


# --- importing a dotted path ---------------------------------------------------------------------


def _import_path(path: str, target: str) -> Any:
    """Import the longest module prefix of ``path`` and get the remaining attributes from it."""
    parts = path.split(".")
    if not all(part.isidentifier() for part in parts):
        raise UnknownTargetError(target, hint="write Python names joined by dots, e.g. 'torch.nn.Linear'")
    obj: Any = _import_module(parts[0], target)
    for i, part in enumerate(parts[1:], start=1):
        prefix = ".".join(parts[: i + 1])
        if isinstance(obj, ModuleType) and not hasattr(obj, part) and hasattr(obj, "__path__"):
            module = _import_module(prefix, target, may_be_missing=True)
            if module is not None:
                obj = module
                continue
        try:
            obj = getattr(obj, part)
        except AttributeError:
            owner = ".".join(parts[:i])
            public = [name for name in dir(obj) if not name.startswith("_")]
            candidates = [f"{owner}.{name}" for name in difflib.get_close_matches(part, public, n=5)]
            hint = did_you_mean(path, candidates) or f"'{owner}' has no attribute '{part}'"
            raise UnknownTargetError(target, candidates=candidates, hint=hint) from None
    return obj


def _import_module(name: str, target: str, may_be_missing: bool = False) -> ModuleType | None:
    """Import ``name``; ``None`` when it does not exist and ``may_be_missing`` (it is an attribute then)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name == name and may_be_missing:
            return None
        missing = err.name or name
        if missing == name or name.startswith(missing + "."):
            hint = f"module '{missing}' cannot be found: install its package, or add its folder to sys.path"
        else:
            hint = f"importing '{name}' needs module '{missing}', which is not installed"
        cause = MissingDependencyError(missing.partition(".")[0], purpose=f"importing '{name}'")
        cause.__cause__ = err
        raise UnknownTargetError(target, hint=hint) from cause
    except ImportError as err:
        raise UnknownTargetError(target, hint=f"importing '{name}' failed: {err}") from err
