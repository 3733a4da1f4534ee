"""``init_bundle``: a new bundle folder from a template, complete enough to verify, train, evaluate
and infer at once; written beside its destination and renamed into place, so a failure leaves
nothing behind.

Templates are folders under ``bundle/format/templates/`` (shipped in the package). Every file is
copied; text files have ``{{name}}``, ``{{folder}}``, ``{{authors}}``, ``{{year}}`` and
``{{pytorch_version}}`` filled in (escaped for JSON in ``.json`` files). ``docs/data_license.txt``
is written only when asked for (``dataset_license=True``, MONAI's argument) or when the template
ships data under ``data/``, whose license must travel with it.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import re
import shutil
import tempfile
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from bundle.atomic import current_umask
from bundle.errors import BundleError, FormatError, did_you_mean
from bundle.format.network import build_network

__all__ = ["TEMPLATES_DIR", "DEFAULT_TEMPLATE", "list_templates", "init_bundle"]

logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).with_name("templates")
DEFAULT_TEMPLATE = "segmentation"

_DATA_LICENSE = "docs/data_license.txt"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
_TEXT_SUFFIXES = (".json", ".yaml", ".yml", ".md", ".txt", "")


def list_templates() -> dict[str, str]:
    """The templates ``init_bundle`` can use: name -> the task its metadata describes.

    Example:
        >>> list_templates()
        {'classification': '2D image classification of ...', 'segmentation': '2D segmentation of ...'}
    """
    found = {}
    for folder in sorted(TEMPLATES_DIR.iterdir()) if TEMPLATES_DIR.is_dir() else []:
        meta = folder / "configs" / "metadata.json"
        if meta.is_file():
            found[folder.name] = json.loads(meta.read_text(encoding="utf-8")).get("task", "")
    return found


def init_bundle(
    bundle_dir: str | os.PathLike,
    ckpt_file: str | os.PathLike | None = None,
    network: Any = None,
    dataset_license: bool = False,
    metadata_str: dict | str | None = None,
    inference_str: dict | str | None = None,
    *,
    template: str = DEFAULT_TEMPLATE,
    name: str | None = None,
    authors: str | None = None,
) -> Path:
    """Create a bundle folder from a template (MONAI's ``init_bundle`` arguments, plus the template).

    The bundle is complete: ``configs/`` (metadata, train, evaluate, inference, multi_gpu_train),
    ``docs/README.md`` (a model card to fill in), ``LICENSE`` (Apache-2.0) and
    ``models/model.pt``. The weights are ``ckpt_file`` copied, or ``network``'s state dict, or
    else the template network's random initial weights (seed 0), so that ``verify`` passes and
    every config runs before any training; ``train`` replaces them. (MONAI writes no weights in
    that case, and configs with ``"???"`` targets that do not run.)

    Args:
        bundle_dir: the folder to create. Its parent must exist; the folder itself must not, or
            be empty.
        ckpt_file: a weights file (a state dict saved with ``torch.save``) to copy to
            ``models/model.pt``.
        network: a ``torch.nn.Module`` whose state dict becomes ``models/model.pt`` (instead of
            ``ckpt_file``).
        dataset_license: also write ``docs/data_license.txt``, to fill in with the license of
            the data the bundle uses (always written when the template ships data).
        metadata_str: the metadata, as a dict or JSON text, instead of the template's.
        inference_str: the inference config, as a dict or JSON text, instead of the template's.
        template: the template's name (``list_templates()``).
        name: the bundle's display name (metadata ``name``, model card title); default: the
            folder's name.
        authors: who made the bundle (metadata ``authors`` and ``copyright``).

    Returns:
        The bundle folder (absolute).

    Raises:
        FormatError: the folder exists and is not empty, its parent is missing, the template is
            unknown, ``ckpt_file`` is missing, a given metadata/inference text is not a JSON
            object, or the network cannot be built for the initial weights. Nothing is written
            then.

    Example:
        >>> init_bundle("my_bundle", template="segmentation", authors="Jane Doe")
        PosixPath('/home/jane/my_bundle')
    """
    target = Path(bundle_dir).expanduser().absolute()
    _check_target(target)
    source = _template_dir(template)
    if ckpt_file is not None and not Path(ckpt_file).is_file():
        raise FormatError(f"checkpoint file '{ckpt_file}' does not exist", hint="give the path of a saved state dict")
    values = _values(str(name) if name is not None else target.name, target.name,
                     str(authors) if authors is not None else None)
    documents = {
        "configs/metadata.json": _json_text(metadata_str, "metadata_str"),
        "configs/inference.json": _json_text(inference_str, "inference_str"),
    }
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".init", dir=target.parent))
    try:
        _render(source, work, values, with_data_license=dataset_license)
        for rel, text in documents.items():
            if text is not None:
                (work / rel).write_text(text, encoding="utf-8")
        if dataset_license and not (work / _DATA_LICENSE).is_file():
            (work / _DATA_LICENSE).write_text(_DEFAULT_DATA_LICENSE.format(**values), encoding="utf-8")
        (work / "models").mkdir(exist_ok=True)
        _write_weights(work, ckpt_file, network)
        os.chmod(work, 0o777 & ~current_umask())  # mkdtemp made it private
        _move_into_place(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    logger.info("created bundle %s from template '%s'", target, template)
    return target


_DEFAULT_DATA_LICENSE = """{name}: data license

Write here where the data this bundle uses comes from, its license (with a link to the full
text), the attribution it requires, and the changes you made to it.
"""


def _check_target(target: Path) -> None:
    if not target.parent.is_dir():
        raise FormatError(
            f"cannot create bundle '{target}': its parent folder '{target.parent}' does not exist",
            hint=f"create it first: mkdir -p '{target.parent}'",
        )
    if target.exists() or target.is_symlink():
        if not target.is_dir() or target.is_symlink():
            raise FormatError(f"cannot create bundle '{target}': a file of that name exists",
                              hint="choose another name")
        if any(target.iterdir()):
            raise FormatError(
                f"cannot create bundle '{target}': the folder exists and is not empty",
                hint="choose a new folder name (init never overwrites), or move the existing folder away",
            )


def _template_dir(template: str) -> Path:
    known = list_templates()
    if template not in known:
        near = did_you_mean(str(template), list(known))
        raise FormatError(
            f"unknown bundle template '{template}' (templates: {', '.join(known) or 'none'})",
            hint=near or "see 'bundle init --list_templates'",
        )
    return TEMPLATES_DIR / template


def _values(name: str, folder: str, authors: str | None) -> dict[str, str]:
    return {
        "name": name,
        "folder": folder,
        "authors": authors or "the authors of " + name,
        "year": str(datetime.date.today().year),
        "pytorch_version": _pytorch_version(),
    }


def _pytorch_version() -> str:
    """The installed torch's release (``2.13.0`` of ``2.13.0+cpu``), read without importing torch."""
    try:
        version = importlib_metadata.version("torch")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"
    return version.split("+")[0]


def _json_text(value: dict | str | None, what: str) -> str | None:
    """A given metadata/inference document as JSON text; MONAI takes both a dict and a string."""
    if value is None:
        return None
    if isinstance(value, dict):
        return json.dumps(value, indent=4) + "\n"
    if not isinstance(value, str):
        raise FormatError(f"{what} must be a dict or JSON text, not {type(value).__name__}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as err:
        raise FormatError(f"{what} is not valid JSON: {err}", hint="give a JSON object, or a dict") from err
    if not isinstance(parsed, dict):
        raise FormatError(f"{what} must be a JSON object, not {type(parsed).__name__}")
    return value if value.endswith("\n") else value + "\n"


def _render(source: Path, work: Path, values: dict[str, str], *, with_data_license: bool) -> None:
    ships_data = (source / "data").is_dir()
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or "__pycache__" in rel.parts:
            continue
        if rel.as_posix() == _DATA_LICENSE and not (with_data_license or ships_data):
            continue
        out = work / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() in _TEXT_SUFFIXES and rel.parts[0] != "data":
            text = path.read_text(encoding="utf-8")
            filled = _fill(text, values, json_strings=path.suffix.lower() == ".json", where=rel)
            out.write_text(filled, encoding="utf-8")
        else:
            shutil.copyfile(path, out)


def _fill(text: str, values: dict[str, str], *, json_strings: bool, where: Path) -> str:
    def value(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:  # a template's own mistake: fail loudly rather than ship "{{nmae}}"
            raise FormatError(f"template file '{where}' uses unknown placeholder '{match.group(0)}'",
                              hint=f"placeholders: {', '.join(values)}")
        # inside a JSON string: escape quotes, backslashes and control characters
        return json.dumps(values[key])[1:-1] if json_strings else values[key]

    return _PLACEHOLDER.sub(value, text)


def _write_weights(work: Path, ckpt_file: str | os.PathLike | None, network: Any) -> None:
    target = work / "models" / "model.pt"
    if ckpt_file is not None:
        shutil.copyfile(ckpt_file, target)
        return
    import torch

    if network is None:
        network = _initial_network(work)
    network = getattr(network, "module", network)  # DistributedDataParallel / DataParallel
    buffer = io.BytesIO()
    torch.save(network.state_dict(), buffer)
    target.write_bytes(buffer.getvalue())


def _initial_network(work: Path) -> Any:
    """Build ``network_def`` of the new bundle (inference, else train) with random weights, seed 0."""
    import torch

    configs = [work / "configs" / f"{n}.json" for n in ("inference", "train")]
    config_file = next((c for c in configs if c.is_file()), None)
    if config_file is None:
        raise FormatError("cannot write initial weights: the bundle has neither configs/inference.json nor "
                          "configs/train.json to build 'network_def' from", hint="give ckpt_file (or network)")
    try:
        with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
            torch.manual_seed(0)
            return build_network([config_file], root=work, meta=work / "configs" / "metadata.json")
    except BundleError as err:  # whatever stops the build, there are no weights to write
        rel = config_file.relative_to(work).as_posix()
        raise FormatError(
            f"cannot build 'network_def' of {rel} to write the initial weights: {err.message}",
            location=err.location, config_id=err.config_id,
            hint="give the weights with ckpt_file (or network), or fix 'network_def' in the inference config",
        ) from err


def _move_into_place(work: Path, target: Path) -> None:
    """Rename the finished folder to ``target`` (which is absent, or an empty folder)."""
    try:
        os.rename(work, target)  # POSIX replaces an empty folder in one step
    except OSError:
        if not target.is_dir() or any(target.iterdir()):
            raise FormatError(
                f"cannot create bundle '{target}': something was written there while the bundle was made",
                hint="choose a new folder name",
            ) from None
        os.rmdir(target)  # Windows does not rename over a folder
        os.rename(work, target)
