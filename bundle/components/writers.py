"""Writers of inference outputs: one ``.pt`` tensor per input, or one table of class predictions.

A writer has ``begin()`` (before the first input), ``write(name, prediction)`` per input and
``finish()`` (after the last; returns where the outputs are). Every file is written whole through
a temporary file and a rename, so an interrupted run leaves complete files or none, never half
of one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from bundle.atomic import write_atomic
from bundle.components.distributed import all_gather_objects, is_rank0

_UNSAFE = re.compile(r"[^\w.\-]+")


def _file_stem(name: str) -> str:
    """A file name from an input's name: its last path part, unusual characters replaced by ``_``."""
    stem = _UNSAFE.sub("_", os.path.basename(str(name).replace("\\", "/").rstrip("/")))
    return stem if stem and not stem.startswith(".") else f"_{stem}"


class TensorWriter:
    """Save each prediction as ``<output_dir>/<name><suffix>`` (``torch.save`` of a CPU tensor).

    Load one back with ``torch.load(path, weights_only=True)``.

    Args:
        output_dir: created if missing.
        suffix: file name ending.
        dtype: convert before saving, e.g. ``"uint8"`` for label maps; ``None`` keeps the dtype.

    Example:
        ``"writer": {"_target_": "TensorWriter", "output_dir": "$@bundle_root + '/eval'"}``
    """

    def __init__(
        self, output_dir: str | os.PathLike, suffix: str = ".pt", dtype: str | torch.dtype | None = None
    ) -> None:
        self.output_dir = Path(output_dir)
        self.suffix = suffix
        if isinstance(dtype, str):
            resolved = getattr(torch, dtype, None)
            if not isinstance(resolved, torch.dtype):
                raise ValueError(f"dtype must name a torch dtype (e.g. 'uint8', 'float16'), not {dtype!r}")
            dtype = resolved
        self.dtype = dtype
        self._written: set[str] = set()

    def begin(self) -> None:
        """Create the output folder."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._written = set()

    def write(self, name: str, prediction: torch.Tensor) -> Path:
        """Save one prediction; returns its path.

        Raises:
            ValueError: two inputs of this run map to the same file name.
        """
        stem = _file_stem(name)
        if stem in self._written:
            raise ValueError(f"two inputs are named {stem!r}: their outputs would overwrite each other")
        self._written.add(stem)
        tensor = prediction.detach().cpu().contiguous()
        if self.dtype is not None:
            tensor = tensor.to(self.dtype)
        buffer = io.BytesIO()
        torch.save(tensor.clone(), buffer)
        path = self.output_dir / f"{stem}{self.suffix}"
        write_atomic(path, buffer.getvalue())
        return path

    def finish(self) -> Path:
        """Where the outputs are."""
        return self.output_dir


class ClassPredictionWriter:
    """Write one table of predicted classes, ``name,label[,class_name]``, as CSV or JSON.

    A prediction is a vector of class scores (the class is its argmax) or a class index. The
    table is written once, by ``finish()``, after every input was predicted: on rank 0, with the
    rows of all ranks in dataset order. A run that fails leaves no table.

    Args:
        output_dir: created if missing.
        filename: ``*.csv`` or ``*.json`` (a list of ``{"name", "label", "class_name"}`` objects).
        class_names: names of the classes by index, added as a ``class_name`` column.

    Example:
        ``"writer": {"_target_": "ClassPredictionWriter", "output_dir": "eval", "filename": "classes.json"}``
    """

    def __init__(
        self, output_dir: str | os.PathLike, filename: str = "predictions.csv", class_names: Sequence[str] | None = None
    ) -> None:
        self.output_dir = Path(output_dir)
        if Path(filename).name != filename or Path(filename).suffix.lower() not in (".csv", ".json"):
            raise ValueError(f"filename must be a plain file name ending in .csv or .json, not {filename!r}")
        self.filename = filename
        self.class_names = list(class_names) if class_names is not None else None
        self._rows: list[dict] = []

    def begin(self) -> None:
        """Forget rows of an earlier run."""
        self._rows = []

    def write(self, name: str, prediction: torch.Tensor) -> None:
        """Record one prediction (written by ``finish``)."""
        values = prediction.detach().reshape(-1)
        label = int(values.argmax()) if values.numel() > 1 else int(values[0].round())
        row = {"name": str(name), "label": label}
        if self.class_names is not None:
            row["class_name"] = self.class_names[label] if 0 <= label < len(self.class_names) else ""
        self._rows.append(row)

    def finish(self) -> Path:
        """Gather every rank's rows and write the table (rank 0); returns its path."""
        shards = all_gather_objects(self._rows)
        rows = [shard[i] for i in range(max(map(len, shards), default=0)) for shard in shards if i < len(shard)]
        path = self.output_dir / self.filename
        if is_rank0():
            if path.suffix.lower() == ".json":
                text = json.dumps(rows, indent=1) + "\n"
            else:
                out = io.StringIO()
                fields = ["name", "label"] + (["class_name"] if self.class_names is not None else [])
                writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
                text = out.getvalue()
            write_atomic(path, text)
        return path
