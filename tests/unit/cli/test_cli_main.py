"""Global options, the client factory and how errors end a command."""

from __future__ import annotations

import shlex

import httpx

from modelmart.cli import main, session
from modelmart.client import Client

from .cli_fakes import FakeServer, deployment_view, model_info, version_info


def test_url_option_and_environment_choose_the_server(cli, server: FakeServer, monkeypatch):
    server.on("GET", "/v1/registry/models", json={"models": [model_info()]})

    assert cli("models", "list").exit_code == 0
    assert cli("--url", "http://a.example:9000", "models", "list").exit_code == 0
    monkeypatch.setenv("MODELMART_URL", "http://b.example")
    assert cli("models", "list").exit_code == 0

    assert server.urls == ["http://127.0.0.1:8000", "http://a.example:9000", "http://b.example"]


def test_make_client_builds_a_client_for_the_url():
    with session.make_client("http://c.example:1234") as client:
        assert isinstance(client, Client)
        assert client.base_url == "http://c.example:1234"


def test_an_unreachable_server_tells_how_to_start_one(cli, monkeypatch):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    monkeypatch.setattr(
        session, "make_client", lambda url: Client(url, transport=httpx.MockTransport(refuse))
    )

    result = cli("deployments")

    assert result.exit_code == 1
    assert result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith(
        "error [server_unreachable]: cannot reach ModelMart at http://127.0.0.1:8000"
    )
    assert "modelmart serve" in line
    assert "\n" not in line


def test_a_server_error_body_becomes_one_red_line(cli, server: FakeServer):
    server.fail("GET", "/v1/registry/models/nope", 404, "model_not_found", "no model 'nope'")

    result = cli("models", "show", "nope")

    assert result.exit_code == 1
    assert result.stderr == "error [model_not_found]: no model 'nope'\n"


def test_no_arguments_shows_help(cli):
    result = cli()

    assert "deploy" in result.output
    assert "models" in result.output


def test_empty_listings_say_what_to_do_next(cli, server: FakeServer):
    server.on("GET", "/v1/registry/models", json={"models": []})
    server.on("GET", "/v1/deployments", json={"deployments": []})

    assert "modelmart models push" in cli("models", "list").stdout
    assert "modelmart deploy MODEL" in cli("deployments").stdout


def test_the_examples_in_the_module_docstring_run(cli, server: FakeServer, tmp_path, monkeypatch):
    server.on("GET", "/v1/registry/models/iris", json=model_info())
    server.on("POST", "/v1/registry/models/iris/versions", 201, version_info())
    server.on("POST", "/v1/deployments", 201, deployment_view(instances=2))
    server.on("POST", "/v1/models/iris:predict", json={"model": "iris", "version": 1,
                                                       "predictions": [0]})  # fmt: skip
    server.on("GET", "/v1/catalog", json={"models": []})
    (tmp_path / "iris.onnx").write_bytes(b"onnx")
    monkeypatch.chdir(tmp_path)
    examples = [line.strip() for line in main.__doc__.splitlines()]
    commands = [shlex.split(line)[1:] for line in examples if line.startswith("modelmart ")]

    for args in commands:
        if args[0] == "serve":
            continue  # covered by test_cli_serve, with uvicorn faked
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
    assert len(commands) == 5
