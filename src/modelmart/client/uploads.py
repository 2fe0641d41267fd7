"""Artifact uploads: directories zipped into a temporary file, files streamed from disk with
progress reports, and the ``metadata`` form field that travels with them."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelmart.client.core import validated
from modelmart.errors import InvalidRequest
from modelmart.schemas.registry import VersionMetadata

Progress = Callable[[int, int], None]
"""Called with (bytes sent so far, total bytes) as an upload reads its file."""


class ProgressReader(io.BufferedReader):
    """A file opened for reading that reports every read to ``progress``.

    The multipart encoder reads the file in chunks while the request is sent, so the reports
    follow the upload: increasing byte counts that end at the file size. Reading again from
    the start (a resent request) starts the count again.
    """

    def __init__(self, path: Path, progress: Progress | None) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self.total = os.fstat(self.fileno()).st_size
        self._progress = progress

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        if chunk and self._progress is not None:
            self._progress(self.tell(), self.total)
        return chunk


def version_metadata(**fields: Any) -> str:
    """The ``metadata`` form field as JSON, checked before anything is uploaded.

    Fields given as ``None`` are left out, so the server detects the format and reads the
    signature from the artifact where it can.
    """
    given = {name: value for name, value in fields.items() if value is not None}
    return validated(VersionMetadata, "version metadata", **given).model_dump_json(
        exclude_unset=True
    )


@contextmanager
def opened_artifact(path: Path, progress: Progress | None) -> Iterator[tuple[str, ProgressReader]]:
    """The upload's file name and an open reader for ``path``; a directory is zipped into a
    temporary ``<name>.zip`` first, which is deleted on exit."""
    if path.is_dir():
        with _zipped(path) as archive, ProgressReader(archive, progress) as reader:
            yield f"{path.resolve().name}.zip", reader
    elif path.is_file():
        with ProgressReader(path, progress) as reader:
            yield path.name, reader
    else:
        raise InvalidRequest(
            f"{path} does not exist; give the model file or model directory to upload"
        )


@contextmanager
def _zipped(directory: Path) -> Iterator[Path]:
    files = _files_in(directory)
    if not files:
        raise InvalidRequest(f"{directory} holds no files; there is no model to upload")
    handle, name = tempfile.mkstemp(prefix="modelmart-upload-", suffix=".zip")
    os.close(handle)
    archive = Path(name)
    try:
        # Level 1: weights barely compress, so a higher level costs time and saves little.
        with zipfile.ZipFile(
            archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1, strict_timestamps=False
        ) as out:
            for file in files:
                out.write(file, file.relative_to(directory).as_posix())
        yield archive
    finally:
        archive.unlink(missing_ok=True)


def _files_in(directory: Path) -> list[Path]:
    """Every file under ``directory``, in a stable order. Links are followed because model
    folders (the Hugging Face cache) are often links into a blob store; each real folder is
    visited once, so a link cycle ends."""
    seen: set[str] = set()
    found: list[Path] = []
    for root, dirs, names in os.walk(directory, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs.clear()
            continue
        seen.add(real)
        dirs.sort()
        for name in sorted(names):
            file = Path(root, name)
            if not file.is_file():
                raise InvalidRequest(
                    f"{file} is not a regular file (a broken link, socket or device); "
                    "remove it from the model directory"
                )
            found.append(file)
    return found
