from __future__ import annotations

from pathlib import Path

import pytest

from modelmart.errors import InvalidArtifact
from modelmart.registry.formats import detect_format
from modelmart.types import ArtifactFormat


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_gguf_is_known_by_its_suffix_and_by_its_magic_bytes(tmp_path: Path) -> None:
    gguf = write(tmp_path / "blob", b"GGUF\x03\x00\x00\x00rest")
    assert detect_format(gguf, "model.gguf") is ArtifactFormat.GGUF
    assert detect_format(gguf, "upload.bin") is ArtifactFormat.GGUF
    assert detect_format(gguf, "model", ArtifactFormat.GGUF) is ArtifactFormat.GGUF


def test_a_gguf_name_without_gguf_content_is_refused(tmp_path: Path) -> None:
    fake = write(tmp_path / "blob", b"not a model at all")
    with pytest.raises(InvalidArtifact, match="not a GGUF file"):
        detect_format(fake, "model.gguf")
