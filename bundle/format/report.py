"""What verification found: each problem with its check, where it is and how to fix it, and the
report that gathers them all (a bundle is checked completely, never up to its first problem)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from bundle.errors import BundleError, FormatError, Location

__all__ = ["CHECKS", "Problem", "VerifyReport", "VerificationError"]

#: The checks ``verify_bundle`` runs, in the order it runs and reports them.
CHECKS: tuple[str, ...] = (
    "layout", "metadata", "changelog", "license", "large_files", "configs", "files", "network", "weights",
)
# app checks (verify --app NAME; bundle/format/apps/), one line each
CHECKS += ("monai-label",)

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bundle.

    Attributes:
        check: the check that found it (one of ``CHECKS``).
        message: what is wrong, with the value quoted.
        location: where it is written (``file:line:col``, the file relative to the bundle folder).
        config_id: the config id it concerns; for metadata and large_files, the key path
            (``network_data_format::inputs::image``).
        hint: how to fix it.
        severity: ``error`` (the bundle fails verification) or ``warning`` (worth knowing; it passes).
    """

    check: str
    message: str
    location: Location | None = None
    config_id: str | None = None
    hint: str = ""
    severity: str = ERROR

    @property
    def where(self) -> str:
        """``file:line:col`` (or less, when less is known), followed by the config id in parentheses."""
        parts = [str(self.location)] if self.location else []
        if self.config_id:
            parts.append(f"({self.config_id})")
        return " ".join(parts)

    def __str__(self) -> str:
        head = f"{self.where}: " if self.where else ""
        text = f"{head}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def as_dict(self) -> dict[str, Any]:
        loc = self.location
        return {
            "check": self.check,
            "severity": self.severity,
            "message": self.message,
            "file": loc.file if loc else None,
            "line": loc.line if loc else 0,
            "col": loc.col if loc else 0,
            "config_id": self.config_id,
            "where": self.where,
            "hint": self.hint,
        }

    @classmethod
    def from_error(cls, check: str, err: BundleError, *, root: Path | None = None, severity: str = ERROR,
                   config_id: str | None = None) -> "Problem":
        """A problem from a ``BundleError`` (its message, location, config id and hint)."""
        return cls(
            check, err.message, relative_location(err.location, root), err.config_id or config_id, err.hint, severity
        )


def relative_location(location: Location | None, root: Path | None) -> Location | None:
    """``location`` with its file written relative to ``root`` when it lies inside it."""
    if location is None or root is None or not location.file or location.file.startswith("<"):
        return location
    try:
        rel = Path(os.path.abspath(location.file)).relative_to(root)
    except ValueError:
        return location
    return Location(rel.as_posix(), location.line, location.col)


@dataclass
class VerifyReport:
    """Everything ``verify_bundle`` found.

    Attributes:
        root: the bundle folder.
        problems: every problem, in check order (errors and warnings).
        checked: the checks that ran.
        skipped: check -> why it did not run.
    """

    root: Path
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        """True when no check found an error (warnings allowed)."""
        return not self.errors

    def add(self, problem: Problem) -> None:
        if problem not in self.problems:  # layered configs report a shared file's problem once
            self.problems.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            self.add(p)

    def by_check(self) -> dict[str, list[Problem]]:
        """Problems grouped by check, in ``CHECKS`` order."""
        order = {c: i for i, c in enumerate(CHECKS)}
        groups: dict[str, list[Problem]] = {}
        for p in sorted(self.problems, key=lambda p: order.get(p.check, len(order))):
            groups.setdefault(p.check, []).append(p)
        return groups

    def summary(self) -> str:
        """One line: how many errors and warnings, how many checks ran, what was skipped."""
        n_err, n_warn = len(self.errors), len(self.warnings)
        verdict = "verified" if self.ok else "FAILED"
        text = (f"{verdict}: {n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)} "
                f"in {len(self.checked)} checks")
        if self.skipped:
            text += " (skipped: " + ", ".join(f"{c}: {why}" for c, why in self.skipped.items()) + ")"
        return text

    def format(self) -> str:
        """The report for a person: problems grouped by check, each with where and hint, then the summary."""
        lines = [f"bundle {self.root}"]
        for check, problems in self.by_check().items():
            lines.append(f"[{check}]")
            for p in problems:
                tag = "" if p.severity == ERROR else "warning: "
                head = f"{p.where}: " if p.where else ""
                lines.append(f"  {head}{tag}{p.message}")
                if p.hint:
                    lines.append(f"      hint: {p.hint}")
        lines.append(self.summary())
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.root),
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "checked": list(self.checked),
            "skipped": dict(self.skipped),
            "problems": [p.as_dict() for group in self.by_check().values() for p in group],
        }

    def raise_for_problems(self) -> None:
        """Raise ``VerificationError`` listing every error, if there is any.

        Raises:
            VerificationError: the bundle has errors.
        """
        if not self.ok:
            raise VerificationError(self.errors)


class VerificationError(FormatError):
    """Verification found problems; ``problems`` lists every one (the message shows them all)."""

    def __init__(self, problems: list[Problem], *, subject: str = "") -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{subject}: " if subject else ""
        if n == 1:
            only = self.problems[0]
            super().__init__(f"{head}{only.message}", location=only.location, config_id=only.config_id,
                             hint=only.hint)
            return
        listing = "".join(f"\n  - {str(p).replace(chr(10), chr(10) + '  ')}" for p in self.problems)
        super().__init__(f"{head}{n} problems:{listing}")
