"""Writing an export's files (the model and its companions: ``.data``, ``.json``) under their final
names in a temporary folder beside the output, and moving them into place only once verified."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

__all__ = ["Staging"]

logger = logging.getLogger(__name__)


class Staging:
    """A temporary folder beside ``output`` holding the export until it is published.

    The exporter writes ``staging.path`` (``output``'s name, inside the folder) and may write
    companions beside it whose names start with that name (``model.onnx.data``,
    ``model.engine.json``); names recorded inside a model (ONNX's external data location) are
    then already the final ones. ``publish`` renames the companions, then the model, into
    ``output``'s folder (same file system: each rename is atomic). Leaving the ``with`` block
    removes the folder and whatever is still in it, so a failed export leaves nothing.

    Args:
        output: the final path of the model file.
        companions: suffixes of companion files this format may write (``.data``); one left
            from an earlier export beside ``output`` is removed when this export writes none.

    Example:
        >>> with Staging(Path("models/model.onnx"), companions=(".data",)) as staging:
        ...     write_model(staging.path)
        ...     staging.publish()
    """

    def __init__(self, output: Path, companions: Sequence[str] = ()) -> None:
        self.output = Path(output)
        self.companions = tuple(companions)
        self.folder: Path | None = None

    @property
    def path(self) -> Path:
        """Where the exporter writes the model: the output's name inside the temporary folder."""
        if self.folder is None:
            raise RuntimeError("Staging is used outside its with block")
        return self.folder / self.output.name

    def __enter__(self) -> "Staging":
        self.folder = Path(tempfile.mkdtemp(prefix=f".{self.output.name}.", suffix=".tmp", dir=self.output.parent))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def publish(self) -> list[Path]:
        """Move the model and its companions into place; return their final paths, the model first.

        Companions go first: once the model is renamed, everything it refers to is already there.

        Raises:
            FileNotFoundError: the exporter wrote no model file.
        """
        if not self.path.is_file():
            raise FileNotFoundError(f"the exporter wrote no file at {self.path}")
        name = self.output.name
        written = sorted(p for p in self.path.parent.iterdir()
                         if p.is_file() and p.name != name and p.name.startswith(name))
        for source in [*written, self.path]:
            _fsync(source)
        moved = []
        for source in [*written, self.path]:
            target = self.output.parent / source.name
            os.replace(source, target)
            moved.append(target)
        for suffix in self.companions:  # a companion of the file just replaced, which the new one does not use
            stale = self.output.parent / (name + suffix)
            if stale not in moved and stale.is_file():
                logger.info("removing %s, left from an earlier export of %s", stale, name)
                stale.unlink()
        return [moved[-1], *moved[:-1]]


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
