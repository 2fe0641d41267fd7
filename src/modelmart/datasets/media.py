"""Image and audio datasets: a zip of files plus the labels that go with them.

Images come as class folders (``cat/1.png``, ``dog/7.jpg``) or with a CSV of ``path,label``;
audio comes with a CSV of ``path,transcript`` (or ``path,label``). The zip is checked before
anything is unpacked: no entry may escape the folder, the declared sizes must stay under the
limit, and every image must decode (Pillow) and every audio file must decode (soundfile).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import pandas as pd

from modelmart.errors import InvalidDataset
from modelmart.schemas.datasets import DatasetKind

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg"})
_DRIVE = re.compile(r"^[A-Za-z]:")
_IGNORED = ("__MACOSX/", ".DS_Store")


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def zip_entries(path: Path, max_unpacked_bytes: int) -> list[str]:
    """The file entries of the zip at ``path``, refused when one escapes the folder or they
    declare more than ``max_unpacked_bytes`` in all."""
    try:
        with zipfile.ZipFile(path) as zipped:
            infos = zipped.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidDataset(f"the upload is not a complete zip archive ({exc})") from exc
    total = 0
    for info in infos:
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.filename.startswith(("/", "\\")) or _DRIVE.match(info.filename) or ".." in parts:
            raise InvalidDataset(
                f"zip entry {info.filename!r} escapes the dataset folder; entries must be "
                "relative paths without '..'",
                details={"entry": info.filename},
            )
        total += info.file_size
        if total > max_unpacked_bytes:
            raise InvalidDataset(
                f"the zip expands to more than the {max_unpacked_bytes}-byte limit (at entry "
                f"{info.filename!r}); split the dataset, or raise MODELMART_MAX_UNPACKED_BYTES "
                "(or MODELMART_MAX_UNPACK_RATIO, when the limit is that many times the zip's "
                "size)",
                details={"entry": info.filename, "limit_bytes": max_unpacked_bytes},
            )
    return [
        info.filename
        for info in infos
        if not info.is_dir() and not any(marker in info.filename for marker in _IGNORED)
    ]


def detect_media_kind(entries: Iterable[str]) -> DatasetKind:
    """Audio when the zip holds audio files, images when it holds images."""
    suffixes = {_suffix(name) for name in entries}
    if suffixes & AUDIO_EXTENSIONS:
        return DatasetKind.AUDIO
    if suffixes & IMAGE_EXTENSIONS:
        return DatasetKind.IMAGES
    raise InvalidDataset(
        "the zip holds neither images (" + ", ".join(sorted(IMAGE_EXTENSIONS)) + ") nor "
        "audio (" + ", ".join(sorted(AUDIO_EXTENSIONS)) + ") files"
    )


def media_frame(
    path: Path, kind: DatasetKind, target: str, max_unpacked_bytes: int
) -> pd.DataFrame:
    """One row per example: ``path`` (the entry name) and the ``target`` column."""
    entries = zip_entries(path, max_unpacked_bytes)
    tables = [name for name in entries if _suffix(name) in (".csv", ".tsv")]
    if tables:
        return _listed_frame(path, entries, tables[0], target)
    if kind is DatasetKind.AUDIO:
        raise InvalidDataset(
            "an audio zip needs a CSV with the columns path and transcript (or label) next to "
            "the audio files"
        )
    return _class_folder_frame(path, entries, target)


def _class_folder_frame(path: Path, entries: list[str], target: str) -> pd.DataFrame:
    images = [name for name in entries if _suffix(name) in IMAGE_EXTENSIONS]
    rows = []
    for name in images:
        parts = PurePosixPath(name).parts
        if len(parts) < 2:
            raise InvalidDataset(
                f"image {name!r} is not inside a class folder; put each image in a folder "
                "named after its class (cat/1.png), or add a CSV of path,label",
                details={"entry": name},
            )
        rows.append({"path": name, target: parts[-2]})
    _check_empty_class_folders(path, {PurePosixPath(r["path"]).parent for r in rows})
    return pd.DataFrame(rows, columns=["path", target])


def _check_empty_class_folders(path: Path, used: set[PurePosixPath]) -> None:
    with zipfile.ZipFile(path) as zipped:
        folders = {PurePosixPath(i.filename) for i in zipped.infolist() if i.is_dir()}
    for folder in sorted(folders):
        leaf = not any(other.parent == folder for other in folders)
        if leaf and folder not in used and folder.name not in ("__MACOSX",):
            raise InvalidDataset(
                f"class folder {folder.as_posix()!r} holds no images; add images or remove it",
                details={"entry": folder.as_posix()},
            )


def _listed_frame(path: Path, entries: list[str], table: str, target: str) -> pd.DataFrame:
    with zipfile.ZipFile(path) as zipped, zipped.open(table) as stream:
        frame = pd.read_csv(stream)
    base = PurePosixPath(table).parent
    for column in ("path", target):
        if column not in frame.columns:
            raise InvalidDataset(
                f"{table} has no column {column!r}; it needs the columns path and {target}",
                details={"file": table, "column": column},
            )
    frame = frame[["path", target]].copy()
    known = set(entries)
    resolved = []
    for index, relative in frame["path"].items():
        name = (base / str(relative)).as_posix()
        if name not in known:
            raise InvalidDataset(
                f"{table} row {int(index) + 1} names {relative!r}, which is not in the zip",
                details={"file": table, "row": int(index) + 1},
            )
        resolved.append(name)
    frame["path"] = resolved
    return frame


def check_media_files(path: Path, kind: DatasetKind, names: Iterable[str]) -> None:
    """Decode every image (Pillow) or audio file (soundfile); InvalidDataset names the first
    that does not."""
    with zipfile.ZipFile(path) as zipped:
        for name in names:
            problem = _decode_problem(io.BytesIO(zipped.read(name)), kind)
            if problem is not None:
                what = "image" if kind is DatasetKind.IMAGES else "audio file"
                raise InvalidDataset(
                    f"{what} {name!r} cannot be decoded ({problem}); replace or remove it",
                    details={"entry": name},
                )


def _decode_problem(stream: io.BytesIO, kind: DatasetKind) -> str | None:
    try:
        if kind is DatasetKind.IMAGES:
            from PIL import Image

            with Image.open(stream) as image:
                image.verify()
        else:
            import soundfile

            soundfile.info(stream)
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return None
