"""Uploaded images for ``/predict``: NumPy ``.npy``, NIfTI (``.nii``, ``.nii.gz``, through nibabel) and
PNG (through Pillow, when installed), read to ``(C, *spatial)`` arrays and the label image written
back in the same format."""

from __future__ import annotations

import gzip
import io
import zlib

import numpy as np

from bundle.serve.errors import RequestError

__all__ = ["decode_image", "encode_image", "image_kind"]

MEDIA = {"npy": "application/octet-stream", "nifti": "application/octet-stream", "png": "image/png"}


def image_kind(filename: str, data: bytes) -> str:
    """``npy``, ``nifti`` or ``png``, from the file's first bytes (its name when they say nothing)."""
    raw = data
    if data[:2] == b"\x1f\x8b":
        try:
            raw = gzip.GzipFile(fileobj=io.BytesIO(data)).read(348)
        except (OSError, EOFError, zlib.error):
            raise RequestError(f"'{filename}' is a truncated or damaged gzip file") from None
    if raw[:6] == b"\x93NUMPY":
        return "npy"
    if raw[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if len(raw) >= 348 and raw[344:348] in (b"n+1\x00", b"n+2\x00") or raw[:4] in (b"\x5c\x01\x00\x00", b"\x00\x00\x01\x5c"):
        return "nifti"
    raise RequestError(f"'{filename}' is not a NumPy .npy, NIfTI or PNG file (its first bytes say nothing known)",
                       status=415, hint="upload a .npy, .nii, .nii.gz or .png file")


def decode_image(filename: str, data: bytes) -> tuple[np.ndarray, str, dict]:
    """The image as ``(C, *spatial)`` (or ``(*spatial)`` for one channel), its kind, and what writing
    the result back needs (NIfTI: the affine and whether it was gzipped)."""
    kind = image_kind(filename, data)
    try:
        if kind == "npy":
            array = np.load(io.BytesIO(data), allow_pickle=False)
            return np.asarray(array, dtype=np.float32), kind, {}
        if kind == "nifti":
            return _read_nifti(data)
        return _read_png(data), kind, {}
    except RequestError:
        raise
    except Exception as err:  # noqa: BLE001 - a decoder's errors on damaged input are of many kinds
        raise RequestError(f"'{filename}' cannot be read as {kind}: {type(err).__name__}: {err}",
                           hint="the file is truncated or damaged; upload it again") from None


def _read_nifti(data: bytes) -> tuple[np.ndarray, str, dict]:
    import nibabel

    gz = data[:2] == b"\x1f\x8b"
    raw = gzip.decompress(data) if gz else data
    image = nibabel.Nifti1Image.from_bytes(raw)
    array = np.asarray(image.dataobj, dtype=np.float32)
    if array.ndim == 4:  # NIfTI keeps channels last
        array = np.moveaxis(array, -1, 0)
    return array, "nifti", {"affine": image.affine, "gzip": gz}


def _read_png(data: bytes) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise RequestError("PNG uploads need Pillow, which this server does not have", status=415,
                           hint="pip install pillow on the server, or upload a .npy file") from None
    image = Image.open(io.BytesIO(data))
    array = np.asarray(image, dtype=np.float32)
    return np.moveaxis(array, -1, 0) if array.ndim == 3 else array


def encode_image(array: np.ndarray, kind: str, info: dict) -> bytes:
    """``array`` (``(C, *spatial)``; one channel is written without its channel dim) in ``kind``'s format."""
    out = array[0] if array.ndim > 2 and array.shape[0] == 1 else array
    if np.issubdtype(out.dtype, np.integer) and out.size and out.min() >= 0 and out.max() < 256:
        out = out.astype(np.uint8)
    if kind == "npy":
        buffer = io.BytesIO()
        np.save(buffer, out, allow_pickle=False)
        return buffer.getvalue()
    if kind == "nifti":
        import nibabel

        data = np.moveaxis(out, 0, -1) if out.ndim == 4 else out
        body = nibabel.Nifti1Image(data, info.get("affine")).to_bytes()
        return gzip.compress(body, mtime=0) if info.get("gzip") else body
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(out.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
