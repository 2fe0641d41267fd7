"""Artifact uploads: progress reports, directory zipping and cleanup."""

from __future__ import annotations

import io
import tempfile
import zipfile

import httpx
import pytest

from modelmart.client import Client
from modelmart.errors import InvalidArtifact, InvalidRequest, NotReady

from .client_fakes import FakeServer, form_parts, version_info

VERSIONS = "/v1/registry/models/m/versions"


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The temporary folder uploads zip directories into, to check that nothing is left."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_progress_reports_increasing_counts_ending_at_the_size(mm, server: FakeServer, tmp_path):
    artifact = tmp_path / "big.onnx"
    payload = bytes(range(256)) * 1000  # several multipart chunks
    artifact.write_bytes(payload)
    server.on("POST", VERSIONS, 201, version_info("m"))
    reports: list[tuple[int, int]] = []

    mm.push_version("m", artifact, progress=lambda sent, total: reports.append((sent, total)))

    sent = [s for s, _ in reports]
    assert len(reports) > 1
    assert sent == sorted(set(sent))
    assert sent[-1] == len(payload)
    assert {total for _, total in reports} == {len(payload)}
    assert form_parts(server.last)["artifact"][1] == payload


def test_a_directory_is_sent_as_a_zip_of_its_files(mm, server, tmp_path, scratch):
    model = tmp_path / "my-model"
    (model / "tokenizer").mkdir(parents=True)
    (model / "config.json").write_text('{"a": 1}')
    (model / "tokenizer" / "vocab.txt").write_text("hello\nworld\n")
    server.on("POST", VERSIONS, 201, version_info("m"))

    mm.push_version("m", model, format="transformers")

    filename, content = form_parts(server.last)["artifact"]
    assert filename == "my-model.zip"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == ["config.json", "tokenizer/vocab.txt"]
        assert archive.read("tokenizer/vocab.txt") == b"hello\nworld\n"
    assert list(scratch.iterdir()) == []


def test_linked_files_are_zipped_with_their_content(mm, server, tmp_path, scratch):
    blobs, model = tmp_path / "blobs", tmp_path / "snapshot"
    blobs.mkdir()
    model.mkdir()
    (blobs / "abc123").write_bytes(b"weights")
    (model / "model.safetensors").symlink_to(blobs / "abc123")
    (model / "loop").symlink_to(model)  # a cycle must not recurse forever
    server.on("POST", VERSIONS, 201, version_info("m"))

    mm.push_version("m", model)

    with zipfile.ZipFile(io.BytesIO(form_parts(server.last)["artifact"][1])) as archive:
        assert archive.namelist() == ["model.safetensors"]
        assert archive.read("model.safetensors") == b"weights"


def test_the_temporary_zip_is_removed_when_the_upload_fails(mm, server, tmp_path, scratch):
    model = tmp_path / "model"
    model.mkdir()
    (model / "a.bin").write_bytes(b"1")
    server.fail("POST", VERSIONS, 422, "invalid_artifact")

    with pytest.raises(InvalidArtifact, match="boom"):
        mm.push_version("m", model)
    assert list(scratch.iterdir()) == []


def test_the_temporary_zip_is_removed_when_the_server_is_unreachable(tmp_path, scratch):
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    model = tmp_path / "model"
    model.mkdir()
    (model / "a.bin").write_bytes(b"1")
    with Client(transport=httpx.MockTransport(refuse)) as client, pytest.raises(NotReady):
        client.push_version("m", model)
    assert list(scratch.iterdir()) == []


def test_missing_paths_and_empty_directories_are_refused_before_sending(mm, server, tmp_path):
    (tmp_path / "empty").mkdir()

    with pytest.raises(InvalidRequest, match="does not exist"):
        mm.push_version("m", tmp_path / "nope.onnx")
    with pytest.raises(InvalidRequest, match="holds no files"):
        mm.push_version("m", tmp_path / "empty")
    assert server.requests == []


def test_broken_links_in_a_directory_are_refused(mm, server, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").symlink_to(tmp_path / "gone")

    with pytest.raises(InvalidRequest, match="not a regular file"):
        mm.push_version("m", model)
    assert server.requests == []
