"""Content-addressed artifact blobs: the bytes of every registered model version.

A blob is named by the SHA-256 of its bytes, so storing the same upload twice is free and a
blob without a database row is harmless. Readers only ever see complete blobs: a put writes a
temporary file, syncs it and renames it into place.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from modelmart.errors import ArtifactCorrupted, InvalidRequest, NotFound, PayloadTooLarge

CHUNK_BYTES = 1024 * 1024
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ArtifactRef:
    """A stored blob: its lowercase hex SHA-256 and its size in bytes."""

    digest: str
    size: int


class ArtifactStore(Protocol):
    """Where artifact bytes live. Implementations: :class:`LocalArtifactStore` (a directory)
    and :class:`MemoryArtifactStore` (a fake for unit tests)."""

    def put(self, source: BinaryIO | Path, *, max_bytes: int | None = None) -> ArtifactRef:
        """Store the bytes of ``source`` (read to its end) and return their reference.
        Idempotent. Raises PayloadTooLarge, before anything is stored, past ``max_bytes``."""
        ...

    def path(self, digest: str) -> Path:
        """A local file holding the blob, re-hashed first: ArtifactCorrupted when its bytes no
        longer match ``digest``, NotFound when there is no such blob."""
        ...

    def exists(self, digest: str) -> bool: ...

    def delete(self, digest: str) -> bool:
        """Remove the blob; False when there was none."""
        ...


def check_digest(digest: str) -> str:
    """``digest`` if it is a lowercase hex SHA-256; otherwise InvalidRequest (it also stops a
    digest from naming a path outside the store)."""
    if not _DIGEST.match(digest):
        raise InvalidRequest(
            f"artifact digest {digest!r} is not a SHA-256; expected 64 lowercase hex digits"
        )
    return digest


def _copy_hashing(source: BinaryIO, target: BinaryIO, max_bytes: int | None) -> ArtifactRef:
    sha, size = hashlib.sha256(), 0
    while chunk := source.read(CHUNK_BYTES):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise PayloadTooLarge(
                f"artifact is larger than the {max_bytes}-byte limit; upload a smaller file or "
                "raise MODELMART_MAX_UPLOAD_BYTES"
            )
        sha.update(chunk)
        target.write(chunk)
    return ArtifactRef(digest=sha.hexdigest(), size=size)


def _hash_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as blob:
        while chunk := blob.read(CHUNK_BYTES):
            sha.update(chunk)
    return sha.hexdigest()


def _corrupted(digest: str, actual: str) -> ArtifactCorrupted:
    return ArtifactCorrupted(
        f"artifact {digest} is corrupted: its bytes now hash to {actual}; restore it from a "
        "backup or register the model version again from the original file",
        details={"digest": digest, "actual": actual},
    )


def _missing(digest: str) -> NotFound:
    return NotFound(
        f"artifact {digest} is not in the artifact store; register the model version again "
        "from the original file"
    )


def _fsync_dir(directory: Path) -> None:
    # The rename is only durable once the directory entry itself reaches the disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalArtifactStore:
    """Blobs as files under ``root/sha256/<first two hex digits>/<digest>``."""

    def __init__(self, root: Path) -> None:
        self._root = root / "sha256"
        self._root.mkdir(parents=True, exist_ok=True)

    def _blob(self, digest: str) -> Path:
        check_digest(digest)
        return self._root / digest[:2] / digest

    def put(self, source: BinaryIO | Path, *, max_bytes: int | None = None) -> ArtifactRef:
        # The temporary file lives in the store so the final rename never crosses filesystems.
        fd, temp_name = tempfile.mkstemp(prefix=".upload-", dir=self._root)
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as target:
                ref = self._write(source, target, max_bytes)
                target.flush()
                os.fsync(target.fileno())
            final = self._blob(ref.digest)
            final.parent.mkdir(exist_ok=True)
            # Replacing an existing blob is harmless (same bytes) and repairs a corrupted one.
            os.replace(temp, final)
            _fsync_dir(final.parent)
            return ref
        finally:
            temp.unlink(missing_ok=True)

    @staticmethod
    def _write(source: BinaryIO | Path, target: BinaryIO, max_bytes: int | None) -> ArtifactRef:
        if isinstance(source, Path):
            with source.open("rb") as stream:
                return _copy_hashing(stream, target, max_bytes)
        return _copy_hashing(source, target, max_bytes)

    def path(self, digest: str) -> Path:
        blob = self._blob(digest)
        if not blob.is_file():
            raise _missing(digest)
        actual = _hash_file(blob)
        if actual != digest:
            raise _corrupted(digest, actual)
        return blob

    def exists(self, digest: str) -> bool:
        return self._blob(digest).is_file()

    def delete(self, digest: str) -> bool:
        try:
            self._blob(digest).unlink()
        except FileNotFoundError:
            return False
        return True


class MemoryArtifactStore:
    """An in-memory :class:`ArtifactStore` for unit tests. ``path`` writes the blob into a
    private temporary directory, removed when the store is garbage-collected."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._dir = Path(tempfile.mkdtemp(prefix="modelmart-memory-artifacts-"))
        weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)

    def put(self, source: BinaryIO | Path, *, max_bytes: int | None = None) -> ArtifactRef:
        buffer = io.BytesIO()
        if isinstance(source, Path):
            with source.open("rb") as stream:
                ref = _copy_hashing(stream, buffer, max_bytes)
        else:
            ref = _copy_hashing(source, buffer, max_bytes)
        self._blobs[ref.digest] = buffer.getvalue()
        return ref

    def path(self, digest: str) -> Path:
        data = self._blobs.get(check_digest(digest))
        if data is None:
            raise _missing(digest)
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise _corrupted(digest, actual)
        blob = self._dir / digest
        blob.write_bytes(data)
        return blob

    def exists(self, digest: str) -> bool:
        return check_digest(digest) in self._blobs

    def delete(self, digest: str) -> bool:
        return self._blobs.pop(check_digest(digest), None) is not None

    def corrupt(self, digest: str, data: bytes = b"corrupted") -> None:
        """Test helper: replace a blob's bytes without changing its digest."""
        self._blobs[check_digest(digest)] = data
