"""Bundle archives: deterministic zips to publish, and extraction that cannot leave its folder or fill the disk.

``pack`` gives the same bytes for the same bundle files on any machine: entries ``NAME/relpath`` in
sorted order, a fixed timestamp, modes 0644/0755 (only the executable bit is kept), deflate.
``extract`` reads zip and tar (.gz, .bz2, .xz) and refuses members that would land outside the
destination (absolute paths, ``..``, drive letters, links leading out), device files, too many
members, or more bytes than allowed (counted as they are written, so a zip bomb stops early).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

from bundle import settings
from bundle.atomic import current_umask
from bundle.errors import FormatError, UnsafeArchiveError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date zip can store: every entry gets it
MAX_FILES = 100_000  # members an archive may have (default of extract's max_files)
EXCLUDED_TOP = frozenset({"eval", "logs"})  # run outputs at the bundle's top level


@dataclass(frozen=True)
class ArchiveInfo:
    """A written archive: where, its sha256 (hex) and its size in bytes."""

    path: Path
    sha256: str
    size: int


def archive_name(name: str, version: str) -> str:
    """The file name of a bundle archive: ``NAME_vVERSION.zip``."""
    return f"{name}_v{version}.zip"


def is_excluded(relpath: str) -> bool:
    """Whether a bundle file (POSIX path relative to the bundle folder) stays out of archives and the cache.

    Excluded: ``__pycache__/``, ``*.pyc``, ``.git*``, ``.DS_Store`` anywhere, and top-level ``eval/``, ``logs/``.
    """
    parts = relpath.split("/")
    if parts[0] in EXCLUDED_TOP and len(parts) > 1:
        return True
    return parts[-1].endswith(".pyc") or any(
        p == "__pycache__" or p.startswith(".git") or p == ".DS_Store" for p in parts
    )


def bundle_files(bundle_dir: str | os.PathLike, *, skip: tuple[Path, ...] = ()) -> list[tuple[str, Path]]:
    """The files of a bundle folder that belong in its archive: ``(relpath, path)`` sorted by relpath.

    Links to files are followed (their content is packed); links to folders are refused.

    Raises:
        FormatError: a folder link, or a link to a file that does not exist.
    """
    root = Path(bundle_dir)
    skipped = {os.path.abspath(p) for p in skip}
    found: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        for d in list(dirs):
            rel = (here / d).relative_to(root).as_posix()
            if is_excluded(rel + "/x"):
                dirs.remove(d)
            elif (here / d).is_symlink():
                raise FormatError(f"'{here / d}' is a link to a folder",
                                  hint="copy the folder in; links to folders are not packed")
        for f in files:
            path = here / f
            rel = path.relative_to(root).as_posix()
            if is_excluded(rel) or os.path.abspath(path) in skipped:
                continue
            if not path.exists():
                raise FormatError(f"'{path}' is a link to a file that does not exist")
            found.append((rel, path))
    return sorted(found)


def pack(bundle_dir: str | os.PathLike, dest: str | os.PathLike) -> ArchiveInfo:
    """Write a bundle folder as a deterministic zip (the same files give the same bytes).

    Args:
        bundle_dir: the bundle folder; its name becomes the archive's top folder.
        dest: the archive file, or an existing folder to write ``NAME_vVERSION.zip`` into (the
            version read from ``configs/metadata.json``). Written atomically.

    Returns:
        ArchiveInfo(path, sha256, size).

    Raises:
        FormatError: not a folder, or no version to name the archive by.

    Example:
        >>> pack("zoo/digits_classification", "dist/")  # doctest: +SKIP
        ArchiveInfo(path=PosixPath('dist/digits_classification_v0.1.0.zip'), sha256='…', size=123456)
    """
    from bundle.registry.fetch import sha256_file

    root = Path(bundle_dir).resolve()
    if not root.is_dir():
        raise FormatError(f"'{bundle_dir}' is not a folder", hint="give the bundle folder to pack")
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / archive_name(root.name, _metadata_version(root))
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel, path in bundle_files(root, skip=(dest, Path(tmp))):
                _add_file(zf, f"{root.name}/{rel}", path)
        info = ArchiveInfo(dest, sha256_file(tmp), os.path.getsize(tmp))
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("packed %s -> %s (%d bytes)", root, dest, info.size)
    return info


def _add_file(zf: zipfile.ZipFile, arcname: str, path: Path) -> None:
    st = path.stat()
    info = zipfile.ZipInfo(arcname, ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, on every OS: the mode bits below mean the same everywhere
    info.external_attr = (stat.S_IFREG | (0o755 if st.st_mode & 0o111 else 0o644)) << 16
    info.file_size = st.st_size  # lets zipfile choose zip64 up front for big files
    with open(path, "rb") as src, zf.open(info, "w") as out:
        shutil.copyfileobj(src, out, CHUNK)


def _metadata_version(root: Path) -> str:
    meta = root / "configs" / "metadata.json"
    try:
        version = json.loads(meta.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError) as err:
        raise FormatError(f"cannot read the version from '{meta}': {err}",
                          hint="give the archive's file name instead of a folder") from err
    if not isinstance(version, str) or not version:
        raise FormatError(f"'{meta}' has no \"version\"", hint="add one, or give the archive's file name")
    return version


# --- extraction ------------------------------------------------------------------------------------


def extract(
    archive: str | os.PathLike,
    dest_dir: str | os.PathLike,
    *,
    max_bytes: int | None = None,
    max_files: int | None = None,
) -> Path:
    """Extract a zip or tar(.gz/.bz2/.xz) archive safely into ``dest_dir``, all or nothing.

    Members are written into a staging folder next to ``dest_dir``, which is renamed into place
    only when every member passed; on any refusal nothing is left behind.

    Args:
        archive: the archive file.
        dest_dir: the folder to create (it may exist if empty).
        max_bytes: most bytes the members may expand to (default ``BUNDLE_MAX_EXTRACT_BYTES``, else 20 GiB).
        max_files: most members (default 100000).

    Returns:
        The bundle root: the single top folder if the archive has one (other than ``configs/``),
        else ``dest_dir``.

    Raises:
        UnsafeArchiveError: a member is unsafe (absolute, ``..``, drive letter, link out of the folder,
            device file, duplicate) or the archive is too big; says which member and why.
        FormatError: not a zip or tar archive, or a corrupt one.

    Example:
        >>> extract("digits_classification_v0.1.0.zip", "bundles/digits")  # doctest: +SKIP
        PosixPath('bundles/digits/digits_classification')
    """
    archive, dest = Path(archive), Path(dest_dir)
    limit_bytes = settings.max_extract_bytes() if max_bytes is None else int(max_bytes)
    limit_files = MAX_FILES if max_files is None else int(max_files)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FormatError(f"cannot extract into '{dest}': it exists and is not an empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extract", dir=dest.parent))
    try:
        out = _Extraction(str(archive), staging, limit_bytes, limit_files)
        kind = _archive_kind(archive)
        try:
            if kind == "zip":
                _extract_zip(archive, out)
            else:
                _extract_tar(archive, out)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as err:
            if isinstance(err, FormatError) or (isinstance(err, OSError) and err.errno is not None):
                raise  # our own refusal, or the disk (full, read-only): not the archive's fault
            raise FormatError(f"'{archive}' is not a readable {kind} archive: {err}",
                              hint="download it again; the cache re-checks its hash") from err
        out.check_links()
        if dest.exists():
            dest.rmdir()
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    entries = list(dest.iterdir())
    # a lone configs/ is a bundle packed without its top folder (configs/ is the one folder a bundle must have)
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() and entries[0].name != "configs":
        return entries[0]
    return dest


def _archive_kind(archive: Path) -> str:
    try:
        with open(archive, "rb") as f:
            magic = f.read(4)
    except OSError as err:
        raise FormatError(f"cannot read archive '{archive}': {err.strerror or err}") from err
    if magic[:2] == b"PK":
        return "zip"
    if tarfile.is_tarfile(archive):
        return "tar"
    raise FormatError(f"'{archive}' is neither a zip nor a tar archive")


def _extract_zip(archive: Path, out: _Extraction) -> None:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > out.max_files:  # the central directory says so before anything is written
            out.refuse(members[out.max_files].filename, f"is beyond the limit of {out.max_files} members")
        for info in members:
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            kind = stat.S_IFMT(mode)
            if info.is_dir() or kind == stat.S_IFDIR:
                out.directory(info.filename)
            elif kind == stat.S_IFLNK:
                with zf.open(info) as f:
                    target = f.read(4097)
                if len(target) > 4096:
                    out.refuse(info.filename, "is a link with an overlong target")
                out.symlink(info.filename, target.decode("utf-8", "replace"))
            elif kind in (0, stat.S_IFREG):
                with zf.open(info) as f:
                    out.file(info.filename, f, executable=bool(mode & 0o100))
            else:
                out.refuse(info.filename, "is a device file, pipe or socket")


def _extract_tar(archive: Path, out: _Extraction) -> None:
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:  # one header at a time: a tar bomb stops at the first limit it crosses
            if member.isdir():
                out.directory(member.name)
            elif member.isreg():
                data = tf.extractfile(member)
                assert data is not None  # a regular member always has data
                with data as f:
                    out.file(member.name, f, executable=bool(member.mode & 0o100))
            elif member.issym():
                out.symlink(member.name, member.linkname)
            elif member.islnk():
                out.hardlink(member.name, member.linkname)
            elif member.ischr() or member.isblk() or member.isfifo():
                out.refuse(member.name, "is a device file or pipe")
            else:
                out.refuse(member.name, f"has an unsupported type ({member.type!r})")


class _Extraction:
    """Writes members under a staging folder, checking each name and the running totals."""

    def __init__(self, archive: str, root: Path, max_bytes: int, max_files: int) -> None:
        self.archive = archive
        self.root = root
        self.real_root = os.path.realpath(root)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.written = 0
        self.members = 0
        self.links: list[tuple[str, Path]] = []
        self.umask = current_umask()

    def refuse(self, member: str, why: str) -> NoReturn:
        raise UnsafeArchiveError(self.archive, member, why)

    def path(self, name: str) -> Path | None:
        """Where member ``name`` goes, after every check on the name; None for the archive's root itself."""
        self.members += 1
        if self.members > self.max_files:
            self.refuse(name, f"is beyond the limit of {self.max_files} members")
        parts = self.parts(name, name)
        if parts is None:
            return None
        path = self.root
        for part in parts[:-1]:
            path = path / part
            if path.is_symlink():
                self.refuse(name, f"would be written through the link '{path.relative_to(self.root)}'")
        return path / parts[-1]

    def parts(self, member: str, name: str, what: str = "has") -> list[str] | None:
        text = name.replace("\\", "/")  # an archive made on Windows may use either separator
        if "\x00" in text:
            self.refuse(member, f"{what} a NUL character in its path")
        if text.startswith("/"):
            self.refuse(member, f"{what} an absolute path")
        if re.match(r"^[A-Za-z]:", text):
            self.refuse(member, f"{what} a drive letter")
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if ".." in parts:
            self.refuse(member, f"{what} a '..' component: it would land outside the folder")
        return parts or None

    def directory(self, name: str) -> None:
        path = self.path(name)
        if path is not None:
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                self.refuse(name, "appears twice in the archive")
            path.mkdir(parents=True, exist_ok=True)

    def file(self, name: str, src: IO[bytes], *, executable: bool) -> None:
        path = self.path(name)
        if path is None:
            self.refuse(name, "is a file without a name")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            dst = open(path, "xb")  # noqa: SIM115 (closed by the with below; "xb" refuses a second member)
        except FileExistsError:
            self.refuse(name, "appears twice in the archive")
        with dst:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                self.written += len(chunk)  # bytes actually decompressed: headers can lie
                if self.written > self.max_bytes:
                    self.refuse(name, f"expands the archive beyond {self.max_bytes} bytes "
                                      "(BUNDLE_MAX_EXTRACT_BYTES raises the limit)")
                dst.write(chunk)
        os.chmod(path, (0o777 if executable else 0o666) & ~self.umask)

    def symlink(self, name: str, target: str) -> None:
        path = self.path(name)
        if path is None:
            self.refuse(name, "is a link without a name")
        if not target or os.path.isabs(target) or re.match(r"^[A-Za-z]:", target) or "\x00" in target:
            self.refuse(name, f"is a link to '{target}', outside the folder")
        if not self._inside(os.path.join(path.parent, target)):
            self.refuse(name, f"is a link to '{target}', outside the folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(path):
            self.refuse(name, "appears twice in the archive")
        os.symlink(target, path)
        self.links.append((name, path))

    def hardlink(self, name: str, target: str) -> None:
        parts = self.parts(name, target, what="is a hard link to a path with")
        source = self.root.joinpath(*parts) if parts else self.root
        if not parts or source.is_symlink() or not source.is_file() or not self._inside(source):
            self.refuse(name, f"is a hard link to '{target}', which is not a file extracted before it")
        with open(source, "rb") as src:  # a copy: the extracted tree never shares inodes with anything
            self.file(name, src, executable=bool(source.stat().st_mode & 0o100))

    def check_links(self) -> None:
        # a later member can change what an earlier link's target resolves to: check them all at the end
        for name, path in self.links:
            if not self._inside(path):
                self.refuse(name, f"is a link to '{os.readlink(path)}', which resolves outside the folder")

    def _inside(self, path: str | Path) -> bool:
        real = os.path.realpath(path)
        return real == self.real_root or real.startswith(self.real_root + os.sep)
