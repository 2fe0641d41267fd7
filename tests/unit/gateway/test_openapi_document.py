"""The OpenAPI document describes what the gateway's layers do to each route: errors by
permission, parameters and body, in the shape the route answers them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from modelmart.config import Settings
from modelmart.gateway.app import create_app
from modelmart.gateway.methods import route_methods


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    data = tmp_path_factory.mktemp("openapi") / "data"
    return create_app(Settings(data_dir=Path(data), auth_enabled=True))


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def test_fastapis_validation_shape_is_gone(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in str(document)
    assert {"Error", "OpenAIError"} <= set(document["components"]["schemas"])


def test_routes_that_need_a_key_document_401_and_their_security(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if path in ("/livez", "/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"):
            assert "security" not in operation
            continue
        assert "401" in operation["responses"], (method, path)
        assert operation["security"] == [{"bearer": []}, {"apiKey": []}]


def test_billed_routes_document_quota_rate_limits_and_model_failures(
    document: dict[str, Any],
) -> None:
    predict = document["paths"]["/v1/models/{name}:predict"]["post"]["responses"]
    assert {"402", "404", "413", "415", "429", "500", "502", "503", "504"} <= set(predict)
    assert "Retry-After" in predict["429"]["headers"]
    assert predict["413"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_openai_routes_document_openais_error_shape(document: dict[str, Any]) -> None:
    chat = document["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert "400" in chat
    for status, response in chat.items():
        if status >= "400":
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/OpenAIError"}, status


def test_parameters_are_never_documented_as_null(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            assert "null" not in str(parameter["schema"]), (method, path, parameter["name"])


def test_rules_the_handlers_enforce_are_in_the_schema(document: dict[str, Any]) -> None:
    alias = document["paths"]["/v1/registry/models/{name}/aliases/{alias}"]["put"]
    (alias_parameter,) = [p for p in alias["parameters"] if p["name"] == "alias"]
    assert alias_parameter["schema"]["not"] == {"const": "latest"}
    invoice = document["paths"]["/v1/orgs/{slug}/invoices/{period}"]["get"]
    (period,) = [p for p in invoice["parameters"] if p["name"] == "period"]
    assert period["schema"]["pattern"] == r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"
    assert set(invoice["responses"]["200"]["content"]) == {
        "application/json",
        "text/csv",
        "text/html",
    }


def test_action_paths_allow_only_their_action(app: FastAPI) -> None:
    methods = route_methods(app)
    assert methods.allowed("/v1/jobs/7:cancel") == ["POST"]
    assert methods.allowed("/v1/jobs/7") == ["DELETE", "GET"]
    assert methods.allowed("/v1/orgs/acme") == ["GET", "PATCH"]
    assert methods.action_methods("/v1/models/acme:iris:predict") == {"POST"}
    assert methods.action_methods("/v1/models/acme:iris") == frozenset()
