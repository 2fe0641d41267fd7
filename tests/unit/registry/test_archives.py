import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from modelmart.errors import InvalidArtifact
from modelmart.registry import archives
from modelmart.registry.archives import extracted, model_dir, publish, unpack_cached

from .builders import add_tar_member, hf_dir_entries, write_tar, write_zip

LIMIT = 1024 * 1024


def _extract_error(archive: Path, tmp_path: Path, limit: int = LIMIT) -> InvalidArtifact:
    scratch = tmp_path / "scratch"
    with pytest.raises(InvalidArtifact) as caught, extracted(archive, scratch, limit):
        pass
    assert list(scratch.iterdir()) == []  # the half-extracted folder is gone
    return caught.value


def test_zip_extracts_and_model_dir_is_the_single_top_folder(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "m.zip", hf_dir_entries(top="my-model/"))
    with extracted(archive, tmp_path / "scratch", LIMIT) as root:
        directory = model_dir(root)
        assert directory.name == "my-model"
        assert (directory / "config.json").read_bytes() == b'{"model_type": "bert"}'
    assert not root.exists()


def test_model_dir_is_the_root_without_a_single_top_folder(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "m.tgz", hf_dir_entries(top="./"))
    with extracted(archive, tmp_path / "scratch", LIMIT) as root:
        assert model_dir(root) == root
        assert (root / "tokenizer.json").exists()


@pytest.mark.parametrize(
    "name", ["../evil.txt", "a/../../evil.txt", "/etc/evil", "..\\evil.txt", "C:/evil.txt"]
)
def test_zip_slip_entries_are_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("config.json", b"{}")
        zipped.writestr(zipfile.ZipInfo(name), b"pwned")
    error = _extract_error(archive, tmp_path)
    assert error.details["entry"] == name
    assert repr(name) in error.message
    assert not (tmp_path / "evil.txt").exists()


def test_tar_slip_entry_is_refused(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "m.tgz", {"config.json": b"{}", "../evil.txt": b"x"})
    assert _extract_error(archive, tmp_path).details["entry"] == "../evil.txt"


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside", "sub/../../outside"])
def test_symlinks_pointing_out_are_refused(tmp_path: Path, target: str) -> None:
    archive = write_tar(tmp_path / "m.tar", {"config.json": b"{}"}, mode="w")
    add_tar_member(archive, _symlink("link", target))
    assert _extract_error(archive, tmp_path).details["entry"] == "link"


def test_symlinks_inside_are_kept(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "m.tar", {"m/blobs/abc": b"weights"}, mode="w")
    add_tar_member(archive, _symlink("m/sub/model.safetensors", "../blobs/abc"))
    with extracted(archive, tmp_path / "scratch", LIMIT) as root:
        assert (root / "m" / "sub" / "model.safetensors").read_bytes() == b"weights"


def test_writing_through_a_symlinked_directory_is_refused(tmp_path: Path) -> None:
    # "a" -> "." is inside, but "a/../x" style tricks through it must not be possible.
    archive = write_tar(tmp_path / "m.tar", {"config.json": b"{}"}, mode="w")
    add_tar_member(archive, _symlink("a", "."))
    info = tarfile.TarInfo("a/file")
    info.size = 1
    add_tar_member(archive, info, b"x")
    assert _extract_error(archive, tmp_path).details["entry"] == "a/file"


def test_hardlink_pointing_out_is_refused(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "m.tar", {"config.json": b"{}"}, mode="w")
    info = tarfile.TarInfo("stolen")
    info.type, info.linkname = tarfile.LNKTYPE, "../../etc/passwd"
    add_tar_member(archive, info)
    assert _extract_error(archive, tmp_path).details["entry"] == "../../etc/passwd"


def test_hardlink_inside_is_kept(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "m.tar", {"a.bin": b"data"}, mode="w")
    info = tarfile.TarInfo("b.bin")
    info.type, info.linkname = tarfile.LNKTYPE, "a.bin"
    add_tar_member(archive, info)
    with extracted(archive, tmp_path / "scratch", LIMIT) as root:
        assert (root / "b.bin").read_bytes() == b"data"


def test_device_files_are_refused(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "m.tar", {"config.json": b"{}"}, mode="w")
    info = tarfile.TarInfo("fifo")
    info.type = tarfile.FIFOTYPE
    add_tar_member(archive, info)
    assert _extract_error(archive, tmp_path).details["entry"] == "fifo"


def test_zip_symlink_pointing_out_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        zipped.writestr(info, "/etc/passwd")
    assert _extract_error(archive, tmp_path).details["entry"] == "link"


def test_archive_bomb_refused_by_declared_sizes(tmp_path: Path) -> None:
    # 4 MiB of zeros compresses to a few KiB: only the expanded size tells.
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("config.json", b"{}")
        zipped.writestr("zeros.bin", bytes(4 * LIMIT))
    assert archive.stat().st_size < LIMIT // 10
    error = _extract_error(archive, tmp_path)
    assert error.details["entry"] == "zeros.bin"
    assert "MODELMART_MAX_UNPACKED_BYTES" in error.message


def test_archive_bomb_refused_by_bytes_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand-in for an archive whose declared sizes lie: only the running count can stop it.
    monkeypatch.setattr(archives._Extractor, "_check_declared", lambda self, sizes: None)
    archive = write_tar(tmp_path / "m.tar", {"a": bytes(600 * 1024), "b": bytes(600 * 1024)})
    error = _extract_error(archive, tmp_path, limit=1_000_000)
    assert error.details["entry"] == "b"
    assert "expands past" in error.message


def test_zip_whose_declared_size_lies_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("big.bin", bytes(LIMIT))
    # Rewrite the declared size in the central directory to claim the entry is tiny.
    data = bytearray(archive.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    _extract_error(archive, tmp_path, limit=LIMIT // 2)


def test_truncated_archive(tmp_path: Path) -> None:
    data = write_tar(tmp_path / "full.tgz", hf_dir_entries()).read_bytes()
    (tmp_path / "cut.tgz").write_bytes(data[: len(data) - 30])
    _extract_error(tmp_path / "cut.tgz", tmp_path)


def test_publish_and_cache(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "m.zip", hf_dir_entries())
    cache = tmp_path / "cache"
    first = unpack_cached(archive, cache, "d" * 64, LIMIT)
    assert first == cache / ("d" * 64)
    assert (model_dir(first) / "config.json").exists()
    # A second publish of the same digest keeps the existing copy.
    with extracted(archive, cache, LIMIT) as again:
        publish(again, first)
    assert sorted(os.listdir(cache)) == ["d" * 64]
    assert unpack_cached(archive, cache, "d" * 64, LIMIT) == first
