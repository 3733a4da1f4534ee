"""What to say when a path given as a bundle folder is not one: it does not exist (with the sibling
folders it may have meant), or it is a file (with the bundle folder above it, when it is inside one).

Example:
    >>> message, hint = folder_problem("zoo/ellipsoid_segmentation/configs/inference.json")
    >>> hint
    "the bundle folder is 'zoo/ellipsoid_segmentation' (this file is its config 'inference'): run zoo/ellipsoid_segmentation inference"
    >>> folder_problem("zoo/ellipsoid_segmentatoin")[1]
    "did you mean 'zoo/ellipsoid_segmentation'?"
"""

from __future__ import annotations

import os
from pathlib import Path

from bundle.errors import did_you_mean

__all__ = ["folder_problem", "bundle_above"]

METADATA = Path("configs") / "metadata.json"
INIT_HINT = "create a bundle with `python -m bundle init DIR`, or point at the folder that holds configs/"


def folder_problem(path: str | os.PathLike, *, command: str = "run") -> tuple[str, str] | None:
    """(message, hint) when ``path`` is not a folder, else None.

    Args:
        path: the path as the user wrote it (kept as written in the message).
        command: the command to suggest in the hint (``run`` adds the config name of a config file).
    """
    given = Path(path).expanduser()
    if given.is_dir():
        return None
    if given.exists():
        above = bundle_above(given)
        if above is None:
            return f"'{path}' is a file, not a bundle folder", INIT_HINT
        shown = _as_written(path, above)
        if given.parent.resolve() == (above / "configs").resolve() and given.suffix in (".json", ".yaml", ".yml"):
            example = f"{command} {shown} {given.stem}" if command == "run" else f"{command} {shown}"
            return (f"'{path}' is a file, not a bundle folder",
                    f"the bundle folder is '{shown}' (this file is its config '{given.stem}'): {example}")
        return f"'{path}' is a file, not a bundle folder", f"the bundle folder above it is '{shown}'"
    return f"bundle folder '{path}' does not exist", _near(given) or f"check the path; {INIT_HINT}"


def bundle_above(path: Path) -> Path | None:
    """The nearest folder above ``path`` that holds ``configs/metadata.json``, or None."""
    for folder in Path(path).resolve().parents:
        if (folder / METADATA).is_file():
            return folder
    return None


def _near(given: Path) -> str:
    parent = given.parent if str(given.parent) else Path(".")
    try:
        siblings = [p.name for p in parent.iterdir() if p.is_dir()]
    except OSError:
        return ""
    hint = did_you_mean(given.name, siblings)
    if hint and str(given.parent) not in ("", "."):
        hint = hint.replace("'", "'" + str(given.parent) + os.sep, 1).replace(
            " or '", " or '" + str(given.parent) + os.sep)
    return hint


def _as_written(path: str | os.PathLike, folder: Path) -> str:
    """``folder`` relative to the current folder when ``path`` was relative, else absolute."""
    if os.path.isabs(os.fspath(path)):
        return str(folder)
    try:
        return os.path.relpath(folder)
    except ValueError:
        return str(folder)
