"""The one error tree of the package: every failure a user can cause is a ``BundleError``.

Errors carry their facts as attributes (file, line, column, config id, ...) and build their
message from them: what is wrong, where, and how to fix it. Where a caller would naturally
catch a builtin (``KeyError`` for a missing id, ``ValueError`` for a bad value, ...), the
error inherits from that builtin too, so code written against ``monai.bundle`` keeps working.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    from bundle.config.safety import SafetyProblem


@dataclass(frozen=True)
class Location:
    """Where something is written: a file (or ``<command line>``, ``<dict>``), line and column.

    Lines and columns count from 1; 0 means unknown.
    """

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line and self.col:
            return f"{self.file}:{self.line}:{self.col}"
        if self.line:
            return f"{self.file}:{self.line}"
        return self.file


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates that look like ``word``, best first."""
    return difflib.get_close_matches(str(word), [str(c) for c in candidates], n=n, cutoff=0.6)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``did you mean ...?`` hint, or an empty string when nothing is close."""
    matches = close_matches(word, candidates)
    if not matches:
        return ""
    return "did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"


class BundleError(Exception):
    """Root of every error this package raises on purpose.

    Args:
        message: what went wrong, one sentence.
        location: where it is written, when that is known.
        config_id: the config id it concerns, when there is one.
        hint: how to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        config_id: str | None = None,
        hint: str = "",
    ) -> None:
        self.message = message
        self.location = location
        self.config_id = config_id
        self.hint = hint
        super().__init__(message)

    @property
    def file(self) -> str | None:
        return self.location.file if self.location else None

    @property
    def line(self) -> int:
        return self.location.line if self.location else 0

    @property
    def col(self) -> int:
        return self.location.col if self.location else 0

    def __str__(self) -> str:
        head = f"{self.location}: " if self.location else ""
        where = f"config id '{self.config_id}': " if self.config_id is not None else ""
        text = f"{head}{where}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def __reduce__(self):  # keep errors picklable (multiprocessing, torchrun)
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls, state):
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


# --- configs -------------------------------------------------------------------------------


class ConfigError(BundleError):
    """A config file or value is wrong."""


class ConfigSyntaxError(ConfigError, ValueError):
    """A file is not valid JSON or YAML, or has an unsupported suffix."""


class DuplicateKeyError(ConfigError, ValueError):
    """A mapping in a config file has the same key twice."""

    def __init__(self, key: str, *, first: Location | None = None, **kw) -> None:
        self.key = key
        self.first = first
        where = f" (first written at {first})" if first else ""
        super().__init__(
            f"duplicate key '{key}'{where}",
            hint="remove one of them; a later value would silently replace the earlier one",
            **kw,
        )


class DuplicateKeyWarning(UserWarning):
    """A mapping in a config file has the same key twice; the later value is kept (MONAI's meaning).

    The message starts as MONAI's does (``Duplicate key: `a```), then says where both are written.
    """

    def __init__(self, key: str, *, first: Location | None = None, location: Location | None = None) -> None:
        self.key = key
        self.first = first
        self.location = location
        where = f" at {location}" if location else ""
        earlier = f" (first written at {first})" if first else ""
        super().__init__(
            f"Duplicate key: `{key}`{where}{earlier}; the later value is kept. Remove one of them "
            "(BUNDLE_DUPLICATE_KEYS=error or MONAI_FAIL_ON_DUPLICATE_CONFIG=1 makes this an error)"
        )


class MissingIdError(ConfigError, KeyError):
    """An id asked for through the API, an override or a merge key does not exist."""

    def __init__(self, missing_id: str, *, candidates: Sequence[str] = (), hint: str = "", **kw):
        self.missing_id = missing_id
        self.candidates = list(candidates)
        hint = hint or did_you_mean(missing_id, candidates)
        super().__init__(f"id '{missing_id}' is not in the config", hint=hint, **kw)


class MissingReferenceError(ConfigError, ValueError):
    """``@id`` names an id that does not exist."""

    def __init__(self, reference: str, *, candidates: Sequence[str] = (), **kw) -> None:
        self.reference = reference
        self.candidates = list(candidates)
        hint = did_you_mean(reference, candidates) or "check the spelling, or define the id"
        super().__init__(f"reference '@{reference}' names no id in the config", hint=hint, **kw)


class CircularReferenceError(ConfigError, ValueError):
    """Ids depend on each other in a cycle. ``cycle`` is the path, first id repeated at the end."""

    def __init__(self, cycle: Sequence[str], *, links: Sequence[str] = (), **kw) -> None:
        self.cycle = list(cycle)
        self.links = list(links)
        path = " -> ".join(self.cycle)
        detail = "".join(f"\n    {link}" for link in self.links)
        super().__init__(
            f"circular reference: {path}{detail}",
            hint="break the cycle: one of these ids must not depend on the others",
            **kw,
        )


class TargetError(ConfigError, ValueError):
    """A ``_target_`` cannot be found, is ambiguous, or is not allowed."""


class UnknownTargetError(TargetError):
    def __init__(self, target: str, *, candidates: Sequence[str] = (), hint: str = "", **kw):
        self.target = target
        self.candidates = list(candidates)
        hint = hint or did_you_mean(target, candidates) or (
            "write the full dotted path (e.g. 'torch.nn.Linear'), or install the package that provides it"
        )
        super().__init__(f"unknown _target_ '{target}'", hint=hint, **kw)


class AmbiguousTargetError(TargetError):
    def __init__(self, target: str, *, candidates: Sequence[str], **kw) -> None:
        self.target = target
        self.candidates = list(candidates)
        listing = ", ".join(f"'{c}'" for c in self.candidates)
        super().__init__(
            f"short _target_ '{target}' is ambiguous: it names {listing}",
            hint=f"write the full path, e.g. '{self.candidates[0]}'",
            **kw,
        )


class ExpressionError(ConfigError, RuntimeError):
    """A ``$`` expression cannot be compiled or raised while it was evaluated."""

    def __init__(self, message: str, *, expression: str = "", **kw) -> None:
        self.expression = expression
        super().__init__(message, **kw)


class ExpressionSyntaxError(ExpressionError, SyntaxError):
    """A ``$`` expression is not valid Python."""


class MacroError(ConfigError, ValueError):
    """A ``%`` macro names a file or id that does not exist, or macros form a cycle."""


class InvalidConfigError(ConfigError, ValueError):
    """A value has the wrong form: bad ``_mode_``, ``_requires_``, ``+`` merge of a scalar, ..."""


class InstantiationError(ConfigError, RuntimeError):
    """Calling a component's ``_target_`` raised; the original error is chained."""

    def __init__(self, message: str, *, target: str = "", **kw) -> None:
        self.target = target
        super().__init__(message, **kw)


class UnsafeConfigError(ConfigError, PermissionError):
    """Safe mode refused to run something: a target outside the allowlist, an unsafe expression.

    When safe mode's checker refused a piece of source text, ``problems`` lists every refusal in it and
    ``source`` is that text; other refusals leave them empty.
    """

    problems: tuple[SafetyProblem, ...] = ()
    source: str = ""


# --- the rest of the package -----------------------------------------------------------------


class FormatError(BundleError, ValueError):
    """A bundle's layout, metadata or files are wrong."""


class NetworkBuildError(FormatError):
    """A bundle's network cannot be built: no such config id, not a ``torch.nn.Module``, the bundle's code
    raised while building it, or the weights do not fit (``bundle.format.network``)."""


class BundleFileNotFoundError(FormatError, FileNotFoundError):
    """A bundle file that was asked for (a config, metadata, a logging file) does not exist.

    A ``FileNotFoundError`` too, so code written for MONAI's ``FileNotFoundError`` still catches it.
    """


class ZooError(BundleError):
    """The zoo index, a download, or the cache failed.

    When every source of a file failed, ``failures`` holds ``(url, error)`` for each, in the order tried.
    """

    failures: Sequence[tuple[str, ZooError]] = ()


class DownloadError(ZooError):
    """A file could not be downloaded or copied. ``status`` is the HTTP status when there was a reply."""

    def __init__(self, url: str, reason: str, *, status: int | None = None, hint: str = "", **kw) -> None:
        self.url = url
        self.status = status
        self.reason = reason
        super().__init__(f"could not download '{url}': {reason}", hint=hint, **kw)


class IntegrityError(ZooError):
    """Downloaded or cached bytes are not the ones expected (``kind``: 'sha256' or 'size')."""

    def __init__(self, url: str, *, expected: str | int, actual: str | int, kind: str = "sha256", **kw) -> None:
        self.url = url
        self.expected = expected
        self.actual = actual
        self.kind = kind
        kw.setdefault(
            "hint",
            "the file changed at its source or was corrupted on the way; the partial file was deleted. "
            "If the source is right, the index entry's sha256/size is out of date",
        )
        super().__init__(f"'{url}' has the wrong {kind}: expected {expected}, got {actual}", **kw)


class UnsafeArchiveError(FormatError, ZooError):
    """An archive member would land outside the destination, is a link or device, or the archive is too big."""

    def __init__(self, archive: str, member: str, why: str, **kw) -> None:
        self.archive = archive
        self.member = member
        self.why = why
        kw.setdefault("hint", "nothing was extracted; do not use this archive unless you trust and inspect it")
        super().__init__(f"unsafe archive '{archive}': member '{member}' {why}", **kw)


class ExportError(BundleError, RuntimeError):
    """An export failed or its outputs do not match PyTorch's."""


class MissingDependencyError(BundleError, ImportError):
    """An optional dependency is not installed. ``extra`` names the extra that installs it."""

    def __init__(self, package: str, *, extra: str = "", purpose: str = "", **kw) -> None:
        self.package = package
        self.extra = extra
        what = f" (needed for {purpose})" if purpose else ""
        hint = f"pip install 'bundle[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"'{package}' is not installed{what}", hint=hint, **kw)


class SettingError(BundleError, ValueError):
    """An environment variable of the package has a value it cannot use (``bundle.settings``).

    Attributes:
        variable: the variable's name (``BUNDLE_OFFLINE``).
        value: its value as set.
        expected: what it must be (``a boolean``).
    """

    def __init__(self, variable: str, value: str, expected: str, **kw) -> None:
        self.variable = variable
        self.value = value
        self.expected = expected
        super().__init__(f"{variable}='{value}' is not {expected}", **kw)


class LabelError(BundleError, ValueError):
    """Labeling input is wrong: an image of the wrong dimension or channels, an unreadable or truncated
    image, a label that does not fit its image, a dataset folder with unmatched names, a bundle without
    the config a task needs, a request value out of range (``bundle.label``)."""
