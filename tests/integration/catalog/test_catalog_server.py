"""The catalogue on a real server: installed on first start, unchanged by a restart, and
deployable by name."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from modelmart.catalog.entries import ENTRIES
from modelmart.config import Settings
from tests.integration.servers import live_server

NAMES = [entry.name for entry in ENTRIES]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", json_logs=False)


def versions(client: httpx.Client) -> dict[str, list[int]]:
    found = {}
    for name in NAMES:
        listed = client.get(f"/v1/registry/models/{name}/versions").json()["versions"]
        found[name] = [version["version"] for version in listed]
    return found


def test_first_start_lists_the_catalogue_and_a_restart_adds_no_versions(settings: Settings):
    with live_server(settings) as server, httpx.Client(base_url=server.url) as client:
        listing = client.get("/v1/catalog")
        assert listing.status_code == 200, listing.text
        models = listing.json()["models"]
        assert [model["name"] for model in models] == NAMES
        for model in models:
            assert model["available"], model["unavailable_reason"]
            assert (model["latest_version"], model["deployed"]) == (1, False)
            assert model["size_bytes"] > 0
            assert model["quality"]
        registered = client.get("/v1/registry/models/minilm-int8").json()
        assert (registered["owner"], registered["task"]) == ("modelmart", "embedding")
        first = versions(client)

    with live_server(settings) as server, httpx.Client(base_url=server.url) as client:
        assert versions(client) == first == {name: [1] for name in NAMES}


def test_one_card_and_unknown_names(settings: Settings):
    with live_server(settings) as server, httpx.Client(base_url=server.url) as client:
        card = client.get("/v1/catalog/langid").json()
        assert card["licences"] == {"langid": "BSD-2-Clause"}
        assert [spec["name"] for spec in card["signature"]["outputs"]] == [
            "language", "probability"
        ]  # fmt: skip

        missing = client.get("/v1/catalog/gpt")
        assert missing.status_code == 404
        error = missing.json()["error"]
        assert error["code"] == "not_found"
        assert error["details"]["entries"] == NAMES


def test_a_catalogue_model_deploys_and_predicts_by_name(settings: Settings):
    with live_server(settings) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        deployed = client.post("/v1/deployments", json={"model": "vader-sentiment"})
        assert deployed.status_code == 201, deployed.text
        assert deployed.json()["state"] == "ready"

        answer = client.post(
            "/v1/models/vader-sentiment:predict", json={"instances": ["I love it"]}
        )
        assert answer.status_code == 200, answer.text
        (prediction,) = answer.json()["predictions"]
        assert prediction["label"] == "positive"
        assert prediction["compound"] > 0.5
        assert len(prediction["scores"]) == 3

        card = client.get("/v1/catalog/vader-sentiment").json()
        assert card["deployed"] is True
