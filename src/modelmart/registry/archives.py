"""Safe unpacking of uploaded model directories (``.zip``, ``.tar``, ``.tar.gz``/``.tgz``).

Uploads are untrusted: an entry may not land outside the target folder (absolute names,
``..``, links that point out, writes through links), special files are refused, and the total
is capped both by the sizes the archive declares and by the bytes actually written. An archive
is unpacked into a temporary folder and renamed into the cache only when complete, so a
half-unpacked model directory is never used.

The cap is the smaller of an absolute limit and ``max_ratio`` times the archive's own size
(:func:`expansion_limit`): a 1 MB upload that declares a gigabyte is refused before anything
is written, and one whose declared sizes lie is stopped as soon as its writes pass the cap.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from modelmart.errors import InvalidArtifact

CHUNK_BYTES = 1024 * 1024
MAX_UNPACK_RATIO = 100.0
"""How many times its own size an archive may expand to, unless the settings say otherwise."""
RATIO_FREE_BYTES = 64 * 1024 * 1024
"""What any archive may expand to whatever its ratio: a small model of mostly zeros
compresses past any sensible ratio, and this much is harmless."""
_DRIVE = re.compile(r"^[A-Za-z]:")
_ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError)


def is_zip(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(4) == b"PK\x03\x04"


def list_members(path: Path) -> list[str]:
    """The names of the entries of a zip or tar archive that are not folders; InvalidArtifact
    when it is truncated or not an archive at all."""
    try:
        if is_zip(path):
            with zipfile.ZipFile(path) as zipped:
                return [info.filename for info in zipped.infolist() if not info.is_dir()]
        with tarfile.open(path) as tarred:
            return [member.name for member in tarred.getmembers() if not member.isdir()]
    except _ARCHIVE_ERRORS as exc:
        raise InvalidArtifact(
            f"the upload is not a complete zip or tar archive ({exc}); check that the file was "
            "fully uploaded and re-create the archive if needed"
        ) from exc


def model_dir(root: Path) -> Path:
    """The model directory inside an unpacked archive: its single top-level folder when it has
    exactly one (``tar czf m.tgz my-model/``), else the root itself."""
    entries = [entry for entry in root.iterdir() if entry.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return root


def expansion_limit(archive: Path, max_unpacked_bytes: int, max_ratio: float) -> int:
    """The bytes ``archive`` may unpack to: at most ``max_unpacked_bytes``, and at most
    ``max_ratio`` times its own size (but never less than :data:`RATIO_FREE_BYTES`)."""
    by_ratio = max(RATIO_FREE_BYTES, int(archive.stat().st_size * max_ratio))
    return min(max_unpacked_bytes, by_ratio)


@contextmanager
def extracted(
    archive: Path,
    scratch_dir: Path,
    max_unpacked_bytes: int,
    max_ratio: float = MAX_UNPACK_RATIO,
) -> Iterator[Path]:
    """Unpack ``archive`` into a new temporary folder under ``scratch_dir`` and yield that
    folder; it is removed on exit unless :func:`publish` moved it away."""
    scratch_dir.mkdir(parents=True, exist_ok=True)
    limit = expansion_limit(archive, max_unpacked_bytes, max_ratio)
    root = Path(tempfile.mkdtemp(prefix=".unpack-", dir=scratch_dir))
    try:
        _Extractor(root, limit, max_unpacked_bytes).extract(archive)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def publish(unpacked: Path, target: Path) -> None:
    """Move a completely unpacked folder to ``target`` in one rename; when another process got
    there first the existing copy (same digest, same bytes) is kept."""
    try:
        os.replace(unpacked, target)
    except OSError:
        if not target.is_dir():
            raise


def unpack_cached(
    archive: Path,
    cache_dir: Path,
    digest: str,
    max_unpacked_bytes: int,
    max_ratio: float = MAX_UNPACK_RATIO,
) -> Path:
    """The unpacked root of the archive whose blob digest is ``digest``, unpacking it into
    ``cache_dir/<digest>`` the first time."""
    target = cache_dir / digest
    if not target.is_dir():
        with extracted(archive, cache_dir, max_unpacked_bytes, max_ratio) as root:
            publish(root, target)
    return target


def _entry_path(root: Path, name: str) -> Path:
    """Where entry ``name`` goes under ``root`` (a path without links); InvalidArtifact if it
    would land anywhere else."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts:
        raise InvalidArtifact(
            f"archive entry {name!r} points outside the model directory; archive entries "
            "must be relative paths without '..'",
            details={"entry": name},
        )
    target = root.joinpath(*parts)
    # A link unpacked earlier must not redirect this entry out of (or around) the folder.
    if parts and os.path.realpath(target.parent) != str(target.parent):
        raise InvalidArtifact(
            f"archive entry {name!r} is written through a symbolic link; archives may not "
            "place files inside linked directories",
            details={"entry": name},
        )
    return target


def _check_link_target(name: str, link_target: str) -> None:
    """A symlink target may climb at most to the archive root, then only descend."""
    parts = PurePosixPath(link_target).parts
    ups = next((i for i, part in enumerate(parts) if part != ".."), len(parts))
    depth = len(PurePosixPath(name).parts) - 1
    if link_target.startswith("/") or ".." in parts[ups:] or ups > depth:
        raise InvalidArtifact(
            f"archive entry {name!r} links to {link_target!r}, outside the model directory; "
            "replace the link with the file it points to",
            details={"entry": name},
        )


class _Extractor:
    """One extraction: tracks the bytes written against the limit."""

    def __init__(self, root: Path, limit: int, max_unpacked_bytes: int) -> None:
        # Resolved once so that any difference realpath finds later comes from the archive.
        self.root = Path(os.path.realpath(root))
        self.limit = limit
        self.by_ratio = limit < max_unpacked_bytes  # which cap is the binding one
        self.written = 0

    def extract(self, archive: Path) -> None:
        try:
            if is_zip(archive):
                with zipfile.ZipFile(archive) as zipped:
                    self._extract_zip(zipped)
            else:
                with tarfile.open(archive) as tarred:
                    self._extract_tar(tarred)
        except InvalidArtifact:
            raise
        except _ARCHIVE_ERRORS as exc:
            raise InvalidArtifact(
                f"the archive could not be unpacked ({exc}); check that it is complete and "
                "re-create it if needed"
            ) from exc

    def _too_large(self, name: str) -> InvalidArtifact:
        if self.by_ratio:
            return InvalidArtifact(
                f"archive expands past {self.limit} bytes (at entry {name!r}), more than "
                "MODELMART_MAX_UNPACK_RATIO times its own size allows; it looks like a "
                "decompression bomb. Upload the model less compressed, or raise "
                "MODELMART_MAX_UNPACK_RATIO",
                details={"entry": name, "limit": self.limit, "reason": "ratio"},
            )
        return InvalidArtifact(
            f"archive expands past the {self.limit}-byte limit (at entry {name!r}); upload a "
            "smaller model or raise MODELMART_MAX_UNPACKED_BYTES",
            details={"entry": name, "limit": self.limit, "reason": "size"},
        )

    def _check_declared(self, sizes: list[tuple[str, int]]) -> None:
        total = 0
        for name, size in sizes:
            total += size
            if total > self.limit:
                raise self._too_large(name)

    def _copy(self, name: str, source: IO[bytes], target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: an entry never overwrites, or writes through, something already there.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK_BYTES):
                self.written += len(chunk)
                if self.written > self.limit:
                    raise self._too_large(name)
                out.write(chunk)

    def _symlink(self, name: str, link_target: str) -> None:
        _check_link_target(name, link_target)
        target = _entry_path(self.root, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(link_target, target)

    def _extract_zip(self, archive: zipfile.ZipFile) -> None:
        infos = archive.infolist()
        self._check_declared([(info.filename, info.file_size) for info in infos])
        for info in infos:
            target = _entry_path(self.root, info.filename)
            mode = info.external_attr >> 16
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif stat.S_ISLNK(mode):
                self._symlink(info.filename, archive.read(info).decode())
            else:
                with archive.open(info) as source:
                    self._copy(info.filename, source, target)

    def _extract_tar(self, archive: tarfile.TarFile) -> None:
        members = archive.getmembers()
        self._check_declared([(member.name, member.size) for member in members])
        for member in members:
            target = _entry_path(self.root, member.name)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                source = archive.extractfile(member)
                assert source is not None  # regular files always have content
                with source:
                    self._copy(member.name, source, target)
            elif member.issym():
                self._symlink(member.name, member.linkname)
            elif member.islnk():
                self._hardlink(member, target)
            else:
                raise InvalidArtifact(
                    f"archive entry {member.name!r} is a device, FIFO or other special file; "
                    "model archives may hold only files, folders and links",
                    details={"entry": member.name},
                )

    def _hardlink(self, member: tarfile.TarInfo, target: Path) -> None:
        source = _entry_path(self.root, member.linkname)
        if source.is_symlink() or not source.is_file():
            raise InvalidArtifact(
                f"archive entry {member.name!r} is a hard link to {member.linkname!r}, which is "
                "not a file unpacked before it; replace the link with the file itself",
                details={"entry": member.name},
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, target)
