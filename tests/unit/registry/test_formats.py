import pickle
from pathlib import Path

import pytest

from modelmart.errors import InvalidArtifact, InvalidRequest, UnsafeFormat, UnsupportedFormat
from modelmart.registry.formats import detect_format, is_directory_format, model_dir_members
from modelmart.types import ArtifactFormat

from .builders import (
    ONNX_BYTES,
    hf_dir_entries,
    skops_file,
    torch_save_file,
    torchscript_file,
    write_tar,
    write_zip,
)


def _file(tmp_path: Path, data: bytes, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_onnx_by_suffix(tmp_path: Path) -> None:
    assert detect_format(_file(tmp_path, ONNX_BYTES), "Model.ONNX") is ArtifactFormat.ONNX


def test_skops_by_suffix(tmp_path: Path) -> None:
    assert detect_format(skops_file(tmp_path / "u"), "iris.skops") is ArtifactFormat.SKOPS


@pytest.mark.parametrize("name", ["m.pt", "m.pth", "m.torchscript"])
def test_torchscript_zip(tmp_path: Path, name: str) -> None:
    assert detect_format(torchscript_file(tmp_path / "u"), name) is ArtifactFormat.TORCHSCRIPT


def test_torch_export_by_suffix(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "u", {"m/archive_format": b"pt2"})
    assert detect_format(path, "m.pt2") is ArtifactFormat.TORCH_EXPORT


@pytest.mark.parametrize("name", ["model.pkl", "model.pickle", "model.joblib"])
def test_pickle_suffixes_are_refused_with_safe_alternatives(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafeFormat) as caught:
        detect_format(_file(tmp_path, b"(lp0\n."), name)
    message = caught.value.message
    for alternative in ("skops", "ONNX", "TorchScript", "torch.export", "safetensors"):
        assert alternative in message


def test_pickle_bytes_are_refused_whatever_the_name(tmp_path: Path) -> None:
    data = pickle.dumps({"weights": [1, 2]}, protocol=4)
    with pytest.raises(UnsafeFormat):
        detect_format(_file(tmp_path, data), "model.onnx")
    with pytest.raises(UnsafeFormat):
        detect_format(_file(tmp_path, data), "model.bin", ArtifactFormat.ONNX)


def test_torch_save_zip_is_refused_as_pickle(tmp_path: Path) -> None:
    with pytest.raises(UnsafeFormat, match=r"torch\.save"):
        detect_format(torch_save_file(tmp_path / "u"), "model.pt")


def test_unknown_suffix_lists_accepted_formats(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormat, match=r"\.onnx.*\.skops.*\.pt2"):
        detect_format(_file(tmp_path, b"hello"), "model.h5")


def test_declared_format_names_an_unknown_suffix(tmp_path: Path) -> None:
    path = _file(tmp_path, ONNX_BYTES)
    assert detect_format(path, "model.bin", ArtifactFormat.ONNX) is ArtifactFormat.ONNX


def test_declared_format_contradicting_the_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="declared format 'skops'"):
        detect_format(_file(tmp_path, ONNX_BYTES), "m.onnx", ArtifactFormat.SKOPS)


def test_empty_upload(tmp_path: Path) -> None:
    with pytest.raises(InvalidArtifact, match="empty"):
        detect_format(_file(tmp_path, b""), "m.onnx")


def test_truncated_zip_is_invalid(tmp_path: Path) -> None:
    data = skops_file(tmp_path / "full").read_bytes()
    with pytest.raises(InvalidArtifact, match="not a complete"):
        detect_format(_file(tmp_path, data[: len(data) // 2]), "m.skops")


def test_skops_that_is_not_a_zip(tmp_path: Path) -> None:
    with pytest.raises(InvalidArtifact, match="not one"):
        detect_format(_file(tmp_path, ONNX_BYTES), "m.skops")


def test_onnx_that_is_a_zip(tmp_path: Path) -> None:
    with pytest.raises(InvalidArtifact, match="zip archive"):
        detect_format(skops_file(tmp_path / "u"), "m.onnx")


@pytest.mark.parametrize("name", ["m.zip", "m.tar.gz", "m.tgz"])
def test_hugging_face_directory(tmp_path: Path, name: str) -> None:
    entries = hf_dir_entries()
    path = (
        write_zip(tmp_path / "u", entries)
        if name.endswith("zip")
        else write_tar(tmp_path / "u", entries)
    )
    assert detect_format(path, name) is ArtifactFormat.TRANSFORMERS


def test_sentence_transformers_directory_and_its_transformers_reading(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "u", hf_dir_entries(top="", sentence_transformers=True))
    assert detect_format(path, "m.zip") is ArtifactFormat.SENTENCE_TRANSFORMERS
    declared = ArtifactFormat.TRANSFORMERS
    assert detect_format(path, "m.zip", declared) is ArtifactFormat.TRANSFORMERS


def test_sentence_transformers_declared_on_a_plain_hf_dir_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "u", hf_dir_entries())
    with pytest.raises(InvalidRequest, match="transformers model directory"):
        detect_format(path, "m.zip", ArtifactFormat.SENTENCE_TRANSFORMERS)


def test_archive_without_model_directory(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "u", {"readme.txt": b"hi", "nested/config.json": b"{}"})
    with pytest.raises(UnsupportedFormat, match=r"config\.json"):
        detect_format(path, "m.zip")


def test_archive_with_pickled_weights_is_refused(tmp_path: Path) -> None:
    entries = {**hf_dir_entries(), "my-model/pytorch_model.bin": pickle.dumps({})}
    with pytest.raises(UnsafeFormat, match=r"pytorch_model\.bin"):
        detect_format(write_zip(tmp_path / "u", entries), "m.zip")


def test_archive_declared_as_file_format_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "u", hf_dir_entries())
    with pytest.raises(InvalidRequest, match="archive of a model directory"):
        detect_format(path, "m.zip", ArtifactFormat.ONNX)


def test_truncated_tarball_is_invalid(tmp_path: Path) -> None:
    data = write_tar(tmp_path / "full", hf_dir_entries()).read_bytes()
    with pytest.raises(InvalidArtifact):
        detect_format(_file(tmp_path, data[:40]), "m.tar.gz")


def test_model_dir_members_strips_one_top_folder() -> None:
    assert model_dir_members(["m/config.json", "m/1_Pooling/config.json"]) == {
        "config.json",
        "1_Pooling/config.json",
    }
    assert model_dir_members(["config.json", "m/x"]) == {"config.json", "m/x"}
    assert model_dir_members(["./config.json"]) == {"config.json"}


def test_directory_formats() -> None:
    assert is_directory_format(ArtifactFormat.TRANSFORMERS)
    assert not is_directory_format(ArtifactFormat.ONNX)
