"""Registry calls of both SDK clients: the requests they send and what they return."""

from __future__ import annotations

import json

import pytest

from modelmart.client import AliasInfo, Client, ModelInfo, VersionInfo
from modelmart.errors import AlreadyExists, ModelNotFound, ValidationFailed
from modelmart.types import ArtifactFormat, RuntimeName

from .client_fakes import FakeServer, deployment_view, form_parts, model_info, version_info

MODELS = "/v1/registry/models"


def test_create_model_posts_the_model_and_returns_model_info(mm, server: FakeServer):
    server.on("POST", MODELS, 201, model_info(latest_version=None, aliases={}))

    info = mm.create_model("iris", "classification", description="flowers", owner="ana")

    assert isinstance(info, ModelInfo)
    assert info.name == "iris"
    assert info.latest_version is None
    assert server.last.headers["content-type"] == "application/json"
    assert json.loads(server.last.content) == {
        "name": "iris",
        "task": "classification",
        "description": "flowers",
        "owner": "ana",
    }


def test_create_model_refuses_an_unknown_task_before_sending(mm, server: FakeServer):
    with pytest.raises(ValidationFailed, match="unknown task 'astrology'"):
        mm.create_model("iris", "astrology")
    assert server.requests == []


def test_list_and_get_models(mm, server: FakeServer):
    server.on("GET", MODELS, json={"models": [model_info("a"), model_info("b")]})
    server.on("GET", f"{MODELS}/a", json=model_info("a"))

    assert [m.name for m in mm.list_models()] == ["a", "b"]
    assert mm.get_model("a").aliases == {"production": 1}


def test_names_are_escaped_into_one_path_segment(mm, server: FakeServer):
    server.on("GET", f"{MODELS}/team%2Firis/versions/prod%20v2", json=version_info())

    mm.get_version("team/iris", "prod v2")

    assert server.last.url.raw_path == b"/v1/registry/models/team%2Firis/versions/prod%20v2"


def test_list_and_get_versions(mm, server: FakeServer):
    server.on("GET", f"{MODELS}/iris/versions", json={"versions": [version_info()]})
    server.on("GET", f"{MODELS}/iris/versions/production", json=version_info(version=3))

    [listed] = mm.list_versions("iris")
    by_alias = mm.get_version("iris", "production")

    assert isinstance(listed, VersionInfo)
    assert listed.format is ArtifactFormat.ONNX
    assert listed.runtime is RuntimeName.ONNX
    assert listed.signature is not None
    assert listed.signature.inputs[0].shape == (-1, 4)
    assert by_alias.version == 3


def test_set_and_delete_alias(mm, server: FakeServer):
    path = f"{MODELS}/iris/aliases/production"
    server.on("PUT", path, json={"model": "iris", "alias": "production", "version": 2})
    server.on("DELETE", path, 204)

    assert mm.set_alias("iris", "production", 2) == AliasInfo(
        model="iris", alias="production", version=2
    )
    assert json.loads(server.last.content) == {"version": 2}
    assert mm.delete_alias("iris", "production") is None
    assert server.last.method == "DELETE"


def test_push_version_uploads_the_file_and_metadata(mm, server: FakeServer, tmp_path):
    artifact = tmp_path / "iris.onnx"
    artifact.write_bytes(b"onnx-bytes")
    server.on("POST", f"{MODELS}/iris/versions", 201, version_info(version=2))

    version = mm.push_version(
        "iris",
        artifact,
        format="onnx",
        signature={
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
            "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}],
        },
        parameters={"C": 1.0},
        metrics={"accuracy": 0.97},
    )

    assert version.version == 2
    assert server.last.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = form_parts(server.last)
    assert parts["artifact"] == ("iris.onnx", b"onnx-bytes")
    metadata = json.loads(parts["metadata"][1])
    assert metadata["format"] == "onnx"
    assert metadata["signature"]["inputs"][0]["name"] == "input"
    assert metadata["parameters"] == {"C": 1.0}
    assert metadata["metrics"] == {"accuracy": 0.97}
    assert "lineage" not in metadata  # left for the server's default


def test_push_version_sends_empty_metadata_when_none_is_given(mm, server, tmp_path):
    artifact = tmp_path / "m.skops"
    artifact.write_bytes(b"x")
    server.on("POST", f"{MODELS}/iris/versions", 201, version_info())

    mm.push_version("iris", str(artifact))

    assert json.loads(form_parts(server.last)["metadata"][1]) == {}


def test_push_version_checks_metadata_before_uploading(mm, server: FakeServer, tmp_path):
    artifact = tmp_path / "m.onnx"
    artifact.write_bytes(b"x")

    with pytest.raises(ValidationFailed, match="format"):
        mm.push_version("iris", artifact, format="pickle")
    with pytest.raises(ValidationFailed, match="signature"):
        mm.push_version("iris", artifact, signature={"inputs": []})
    assert server.requests == []


def test_push_version_with_task_creates_a_missing_model(mm, server: FakeServer, tmp_path):
    artifact = tmp_path / "m.onnx"
    artifact.write_bytes(b"x")
    server.fail("GET", f"{MODELS}/iris", 404, "model_not_found")
    server.on("POST", MODELS, 201, model_info())
    server.on("POST", f"{MODELS}/iris/versions", 201, version_info())

    mm.push_version("iris", artifact, task="classification")

    assert [(r.method, r.url.path) for r in server.requests] == [
        ("GET", f"{MODELS}/iris"),
        ("POST", MODELS),
        ("POST", f"{MODELS}/iris/versions"),
    ]
    assert json.loads(server.requests[1].content)["task"] == "classification"


def test_push_version_with_task_keeps_an_existing_model(mm, server: FakeServer, tmp_path):
    artifact = tmp_path / "m.onnx"
    artifact.write_bytes(b"x")
    server.on("GET", f"{MODELS}/iris", json=model_info())
    server.on("POST", f"{MODELS}/iris/versions", 201, version_info())

    mm.push_version("iris", artifact, task="classification")

    assert [r.method for r in server.requests] == ["GET", "POST"]


def test_push_version_with_task_accepts_a_model_created_meanwhile(mm, server, tmp_path):
    artifact = tmp_path / "m.onnx"
    artifact.write_bytes(b"x")
    server.fail("GET", f"{MODELS}/iris", 404, "model_not_found")
    server.fail("POST", MODELS, 409, "already_exists")
    server.on("POST", f"{MODELS}/iris/versions", 201, version_info())

    assert mm.push_version("iris", artifact, task="classification").version == 1


def test_push_version_without_task_reports_a_missing_model(mm, server, tmp_path):
    artifact = tmp_path / "m.onnx"
    artifact.write_bytes(b"x")
    server.fail("POST", f"{MODELS}/iris/versions", 404, "model_not_found", "no model 'iris'")

    with pytest.raises(ModelNotFound, match="no model 'iris'"):
        mm.push_version("iris", artifact)


def test_create_model_reports_a_taken_name(mm, server: FakeServer):
    server.fail("POST", MODELS, 409, "already_exists", "model 'iris' exists")

    with pytest.raises(AlreadyExists, match="model 'iris' exists"):
        mm.create_model("iris")


def test_the_client_docstring_example_runs(server: FakeServer, tmp_path, monkeypatch):
    server.on("GET", f"{MODELS}/iris", json=model_info())
    server.on("POST", f"{MODELS}/iris/versions", 201, version_info())
    server.on("POST", "/v1/deployments", 201, deployment_view())
    server.on("POST", "/v1/models/iris:predict", json={"model": "iris", "version": 1,
                                                       "predictions": [0]})  # fmt: skip
    (tmp_path / "iris.onnx").write_bytes(b"onnx")
    monkeypatch.chdir(tmp_path)
    lines = [line.strip() for line in Client.__doc__.splitlines() if line.startswith(" " * 8)]
    code = "\n".join(line if line.startswith("with") else "    " + line for line in lines)
    real_client = Client
    namespace = {"Client": lambda url: real_client(url, transport=server.transport())}

    exec(code, namespace)  # our own docstring, run as written

    assert [r.url.path for r in server.requests][-1] == "/v1/models/iris:predict"
