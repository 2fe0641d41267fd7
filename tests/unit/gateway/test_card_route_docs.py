"""The model-card route documents both of its answers: the card as JSON and as Markdown."""

from __future__ import annotations

from pathlib import Path

from modelmart.config import Settings
from modelmart.gateway.app import create_app

CARD = "/v1/registry/models/{name}/versions/{ref}/card"


def test_the_card_route_documents_json_and_markdown(tmp_path: Path) -> None:
    spec = create_app(Settings(data_dir=tmp_path / "data")).openapi()
    operation = spec["paths"][CARD]["get"]
    content = operation["responses"]["200"]["content"]

    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/VersionCard"}
    assert content["text/markdown"]["schema"] == {"type": "string"}
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {"name", "ref", "format", "accept"} <= parameters.keys()
    assert '"json"' in str(parameters["format"]).replace("'", '"')
    assert '"markdown"' in str(parameters["format"]).replace("'", '"')
    fields = spec["components"]["schemas"]["VersionCard"]["properties"]
    for field in ("intended_use", "training", "quality", "limits", "licence", "energy_per_item"):
        assert field in fields
