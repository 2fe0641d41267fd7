"""Moving artifacts to cluster nodes without a shared filesystem.

The server packs an artifact (a file, or the directory of an unpacked archive) into one tar
held in Ray's object store; an actor that loads it unpacks a copy into its own temporary
directory on whatever node it runs. Every instance of a version shares one stored copy, freed
when the last of them stops.
"""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from modelmart.errors import InvalidArtifact

_ROOT = "artifact"
Stored = TypeVar("Stored")


def pack_artifact(path: Path) -> bytes:
    """``path`` as an uncompressed tar whose one top-level entry is named ``artifact`` (plus
    the file's suffix, which some runtimes read the format from); links become the files
    they point to."""
    buffer = io.BytesIO()
    # dereference: a catalogue model's directory links to files of its installed package,
    # which the node does not have; the files themselves travel instead.
    with tarfile.open(fileobj=buffer, mode="w", dereference=True) as archive:
        archive.add(path, arcname=_ROOT + (path.suffix if path.is_file() else ""))
    return buffer.getvalue()


def unpack_artifact(packed: bytes, directory: Path) -> Path:
    """Unpack what :func:`pack_artifact` made into ``directory``; returns the artifact's path."""
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r") as archive:
        names = archive.getnames()
        roots = {name.split("/", 1)[0] for name in names}
        if len(roots) != 1 or not next(iter(roots)).startswith(_ROOT):
            raise InvalidArtifact(
                f"the shipped artifact holds {sorted(roots)}, expected one entry named "
                f"{_ROOT!r}; deploy the version again"
            )
        archive.extractall(directory, filter="data")  # refuses links and paths out of it
    return directory / roots.pop()


class SharedArtifacts(Generic[Stored]):
    """One stored copy per artifact path, counted: ``take`` stores it on first use, ``give
    back`` drops it after its last user. ``store`` puts packed bytes in the object store."""

    def __init__(self, store: Callable[[bytes], Stored]) -> None:
        self._store = store
        self._held: dict[Path, tuple[Stored, int]] = {}
        self._lock = threading.Lock()  # instances start and stop in their own threads

    def take(self, path: Path) -> Stored:
        with self._lock:
            stored, users = self._held.get(path) or (self._store(pack_artifact(path)), 0)
            self._held[path] = (stored, users + 1)
            return stored

    def give_back(self, path: Path) -> None:
        with self._lock:
            stored, users = self._held.get(path, (None, 0))
            if users <= 1:
                self._held.pop(path, None)
            elif stored is not None:
                self._held[path] = (stored, users - 1)

    def __len__(self) -> int:
        return len(self._held)
