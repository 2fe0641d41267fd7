"""Small dataset files written on the fly for the validation tests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image


def png(value: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def wav(seconds: float = 0.1, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(int(seconds * rate), dtype=np.float32), rate, format="WAV")
    return buffer.getvalue()


def write_zip(path: Path, entries: dict[str, bytes | None]) -> Path:
    """A zip of ``entries``; a None value makes a folder entry."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            if data is None:
                archive.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
            else:
                archive.writestr(name, data)
    return path


def image_zip(path: Path, classes: dict[str, int]) -> Path:
    entries: dict[str, bytes | None] = {}
    for label, count in classes.items():
        for index in range(count):
            entries[f"{label}/{index}.png"] = png(index * 10)
    return write_zip(path, entries)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


TABLE = "x1,x2,label\n" + "".join(f"{i},{i * 2},{'ab'[i % 2]}\n" for i in range(20))
