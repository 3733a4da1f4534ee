"""``Context``: what the checks of one verification share (the bundle, the report, what earlier checks read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bundle.config.loader import positions_of
from bundle.config.locator import ComponentLocator
from bundle.errors import BundleError, Location
from bundle.format.report import ERROR, Problem, VerifyReport, relative_location

__all__ = ["Context"]


@dataclass
class Context:
    """What the checks of one verification share."""

    bundle: Any  # Bundle
    report: VerifyReport
    metadata: dict | None = None
    metadata_text: str = ""
    large_files: list = field(default_factory=list)
    config_files: dict[str, Path] = field(default_factory=dict)  # config name -> file (parsed fine)
    stacks: dict[str, list[Path]] = field(default_factory=dict)  # config name -> files it is checked with
    examined_names: dict = field(default_factory=dict)
    examined_stacks: dict = field(default_factory=dict)
    _locator: Any = None

    @property
    def locator(self) -> Any:
        if self._locator is None:
            self._locator = ComponentLocator()
        return self._locator

    def make_problem(self, check: str, message: str, *, location: Location | None = None,
                     config_id: str | None = None, hint: str = "", severity: str = ERROR) -> Problem:
        return Problem(check, message, relative_location(location, self.bundle.root), config_id, hint, severity)

    def problem(self, check: str, message: str, **kw: Any) -> None:
        self.report.add(self.make_problem(check, message, **kw))

    def as_problem(self, check: str, err: BundleError, *, location: Location | None = None,
                   config_id: str | None = None, severity: str = ERROR) -> Problem:
        problem = Problem.from_error(check, err, root=self.bundle.root, severity=severity, config_id=config_id)
        if problem.location is None and location is not None:
            problem = Problem(check, problem.message, relative_location(location, self.bundle.root),
                              problem.config_id, problem.hint, severity)
        return problem

    def error(self, check: str, err: BundleError, **kw: Any) -> None:
        self.report.add(self.as_problem(check, err, **kw))

    def metadata_location(self, *path: str) -> Location:
        """Where a key path of the metadata is written (the closest enclosing key when it is not)."""
        file = str(self.bundle.metadata_path)
        positions = positions_of(file, self.metadata_text) if self.metadata_text else {}
        for n in range(len(path), -1, -1):
            if path[:n] in positions:
                return Location(file, *positions[path[:n]])
        return Location(file)
