"""``modelmart models ...`` against a fake server."""

from __future__ import annotations

import io
import json
import zipfile

from .cli_fakes import FakeServer, form_parts, model_info, version_info

MODELS = "/v1/registry/models"


def test_models_list_prints_a_table(cli, server: FakeServer):
    server.on("GET", MODELS, json={"models": [model_info("iris"), model_info("digits")]})

    result = cli("models", "list")

    assert result.exit_code == 0, result.output
    assert "iris" in result.stdout
    assert "digits" in result.stdout
    assert "production→v1" in result.stdout


def test_models_list_prints_raw_json_for_scripts(cli, server: FakeServer):
    server.on("GET", MODELS, json={"models": [model_info("iris")]})

    result = cli("--json", "models", "list")

    assert result.exit_code == 0, result.output
    [model] = json.loads(result.stdout)
    assert model["name"] == "iris"
    assert model["aliases"] == {"production": 1}


def test_models_show(cli, server: FakeServer):
    server.on("GET", f"{MODELS}/iris", json=model_info(description="flowers", owner="ana"))

    result = cli("models", "show", "iris")

    assert result.exit_code == 0, result.output
    assert "flowers" in result.stdout
    assert "v2" in result.stdout


def test_models_create(cli, server: FakeServer):
    server.on("POST", MODELS, 201, model_info(task="regression"))

    result = cli("models", "create", "iris", "--task", "regression", "--description", "d")

    assert result.exit_code == 0, result.output
    assert json.loads(server.last.content) == {
        "name": "iris", "task": "regression", "description": "d", "owner": ""
    }  # fmt: skip
    assert "Created model iris" in result.stdout


def test_models_create_refuses_an_unknown_task_as_a_usage_error(cli, server: FakeServer):
    result = cli("models", "create", "iris", "--task", "astrology")

    assert result.exit_code == 2
    assert server.requests == []


def test_models_push_uploads_with_metadata(cli, server: FakeServer, tmp_path):
    artifact = tmp_path / "iris.onnx"
    artifact.write_bytes(b"onnx" * 50_000)
    signature = tmp_path / "signature.json"
    signature.write_text(json.dumps({
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}],
    }))  # fmt: skip
    server.on("POST", f"{MODELS}/iris/versions", 201, version_info(version=3))

    result = cli(
        "models", "push", "iris", str(artifact), "--format", "onnx",
        "--signature", str(signature), "--param", "C=1.5", "--param", "solver=lbfgs",
        "--metric", "accuracy=0.97",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Pushed iris v3" in result.stdout
    parts = form_parts(server.last)
    assert parts["artifact"] == ("iris.onnx", artifact.read_bytes())
    metadata = json.loads(parts["metadata"][1])
    assert metadata["format"] == "onnx"
    assert metadata["parameters"] == {"C": 1.5, "solver": "lbfgs"}
    assert metadata["metrics"] == {"accuracy": 0.97}
    assert metadata["signature"]["outputs"][0]["name"] == "label"


def test_models_push_a_directory_creating_the_model(cli, server: FakeServer, tmp_path):
    model = tmp_path / "minilm"
    model.mkdir()
    (model / "config.json").write_text("{}")
    server.fail("GET", f"{MODELS}/minilm", 404, "model_not_found", "no model")
    server.on("POST", MODELS, 201, model_info("minilm", task="embedding"))
    server.on("POST", f"{MODELS}/minilm/versions", 201, version_info("minilm"))

    result = cli("models", "push", "minilm", str(model), "--task", "embedding")

    assert result.exit_code == 0, result.output
    assert json.loads(server.requests[1].content)["task"] == "embedding"
    filename, content = form_parts(server.last)["artifact"]
    assert filename == "minilm.zip"
    assert zipfile.ZipFile(io.BytesIO(content)).namelist() == ["config.json"]


def test_models_push_rejects_malformed_options(cli, server: FakeServer, tmp_path):
    artifact = tmp_path / "m.onnx"
    artifact.write_bytes(b"x")
    bad_json = tmp_path / "sig.json"
    bad_json.write_text("{nope")

    assert cli("models", "push", "m", str(tmp_path / "missing.onnx")).exit_code == 2
    assert cli("models", "push", "m", str(artifact), "--param", "novalue").exit_code == 2
    assert cli("models", "push", "m", str(artifact), "--signature", str(bad_json)).exit_code == 2
    assert cli("models", "push", "m", str(artifact), "--format", "pickle").exit_code == 2
    assert server.requests == []


def test_models_push_reports_an_invalid_signature_as_an_error(cli, server, tmp_path):
    artifact = tmp_path / "m.onnx"
    artifact.write_bytes(b"x")
    signature = tmp_path / "sig.json"
    signature.write_text('{"inputs": []}')

    result = cli("models", "push", "m", str(artifact), "--signature", str(signature))

    assert result.exit_code == 1
    assert result.stderr.startswith("error [validation_failed]: the version metadata")


def test_models_versions_and_alias(cli, server: FakeServer):
    server.on(
        "GET",
        f"{MODELS}/iris/versions",
        json={"versions": [version_info(), version_info(version=2)]},
    )
    server.on("PUT", f"{MODELS}/iris/aliases/production",
              json={"model": "iris", "alias": "production", "version": 2})  # fmt: skip

    listed = cli("models", "versions", "iris")
    moved = cli("models", "alias", "iris", "production", "2")

    assert listed.exit_code == 0, listed.output
    assert "v2" in listed.stdout
    assert "2.0 KiB" in listed.stdout
    assert "accuracy=0.97" in listed.stdout
    assert moved.exit_code == 0, moved.output
    assert "iris@production → v2" in moved.stdout
    assert json.loads(server.last.content) == {"version": 2}
