"""Archives may expand to a bounded multiple of their own size, checked before and while
unpacking."""

import zipfile
from pathlib import Path

import pytest

from modelmart.errors import InvalidArtifact
from modelmart.registry import archives
from modelmart.registry.archives import expansion_limit, extracted

MIB = 1024 * 1024
ABSOLUTE = 64 * MIB


@pytest.fixture(autouse=True)
def _no_free_allowance(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 64 MiB any archive may use would hide the ratio at test sizes."""
    monkeypatch.setattr(archives, "RATIO_FREE_BYTES", 1024)


def zeros_zip(path: Path, size: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("config.json", b"{}")
        zipped.writestr("zeros.bin", bytes(size))
    return path


def test_the_limit_is_the_smaller_of_the_ratio_and_the_absolute_cap(tmp_path: Path) -> None:
    archive = tmp_path / "a.bin"
    archive.write_bytes(bytes(1000))
    assert expansion_limit(archive, ABSOLUTE, 100) == 100_000
    assert expansion_limit(archive, 50_000, 100) == 50_000


def test_the_free_allowance_keeps_small_archives_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archives, "RATIO_FREE_BYTES", 64 * MIB)
    archive = tmp_path / "a.bin"
    archive.write_bytes(bytes(10))
    assert expansion_limit(archive, 2048 * MIB, 100) == 64 * MIB


def test_a_bomb_by_ratio_is_refused_from_its_declared_sizes(tmp_path: Path) -> None:
    archive = zeros_zip(tmp_path / "bomb.zip", 4 * MIB)  # a few KiB, 1000x and more
    scratch = tmp_path / "scratch"

    with pytest.raises(InvalidArtifact) as refused, extracted(archive, scratch, ABSOLUTE, 100):
        pass

    assert refused.value.details["reason"] == "ratio"
    assert refused.value.details["limit"] == archive.stat().st_size * 100
    assert "MODELMART_MAX_UNPACK_RATIO" in refused.value.message
    assert list(scratch.iterdir()) == []  # nothing was left written


def test_a_bomb_whose_declared_sizes_lie_is_stopped_while_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = zeros_zip(tmp_path / "liar.zip", 4 * MIB)
    written: list[int] = []
    copy = archives._Extractor._copy

    def counting_copy(self: archives._Extractor, *args: object) -> None:
        try:
            copy(self, *args)  # type: ignore[arg-type]
        finally:
            written.append(self.written)

    monkeypatch.setattr(archives._Extractor, "_check_declared", lambda self, sizes: None)
    monkeypatch.setattr(archives._Extractor, "_copy", counting_copy)

    with pytest.raises(InvalidArtifact) as refused, extracted(archive, tmp_path / "s", ABSOLUTE):
        pass

    assert refused.value.details["entry"] == "zeros.bin"
    limit = archive.stat().st_size * 100
    assert written[-1] <= limit + archives.CHUNK_BYTES  # stopped within one chunk of the cap


def test_an_archive_within_the_ratio_unpacks(tmp_path: Path) -> None:
    archive = tmp_path / "ok.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zipped:
        zipped.writestr("weights.bin", bytes(range(256)) * 100)
    with extracted(archive, tmp_path / "scratch", ABSOLUTE, 2) as root:
        assert (root / "weights.bin").stat().st_size == 25_600
