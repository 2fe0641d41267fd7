"""The task routes against fake endpoints: one shape for every task, ModelMart's errors."""

from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from modelmart.gateway.routes.tasks import TASKS
from tests.unit.gateway.route_fakes import (
    FakeEndpoint,
    app_with,
    client_for,
    energy,
    fake_endpoints,
)


@pytest.fixture
def endpoints() -> dict[str, FakeEndpoint]:
    return fake_endpoints()


@pytest.fixture
async def http(endpoints: dict[str, FakeEndpoint]) -> AsyncIterator[AsyncClient]:
    async with client_for(app_with(endpoints)) as client:
        yield client


async def test_sentiment_defaults_to_vader_and_reports_usage(http: AsyncClient) -> None:
    response = await http.post("/v1/tasks/sentiment", json={"input": ["good day", "a table"]})
    assert response.status_code == 200
    assert response.json() == {
        "model": "vader-sentiment",
        "version": 3,
        "results": [
            {
                "label": "positive",
                "score": 0.4404,
                "scores": {"negative": 0.0, "neutral": 0.5, "positive": 0.5},
            },
            {
                "label": "neutral",
                "score": 0.0,
                "scores": {"negative": 0.0, "neutral": 1.0, "positive": 0.0},
            },
        ],
        "usage": {"items": 2, "characters": 15, **energy()},
    }


async def test_language_takes_one_string(http: AsyncClient) -> None:
    response = await http.post("/v1/tasks/language", json={"input": "ceci est un test"})
    assert response.json() == {
        "model": "langid",
        "version": 3,
        "results": [{"language": "fr", "probability": 0.875}],
        "usage": {"items": 1, "characters": 16, **energy()},
    }


async def test_another_deployment_of_the_right_kind_can_be_named(
    endpoints: dict[str, FakeEndpoint],
) -> None:
    copy = endpoints["vader-sentiment"]
    endpoints["sentiment-v2"] = FakeEndpoint("sentiment-v2", copy.signature, copy.run, "vader")
    async with client_for(app_with(endpoints)) as http:
        body = {"model": "sentiment-v2", "input": "good"}
        response = (await http.post("/v1/tasks/sentiment", json=body)).json()
    assert (response["model"], response["results"][0]["label"]) == ("vader", "positive")


async def test_blank_text_is_a_400(http: AsyncClient) -> None:
    response = await http.post("/v1/tasks/sentiment", json={"input": ["fine", ""]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"] == "'input item 1' is blank; every text needs some content"


async def test_an_undeployed_model_says_how_to_deploy_it(
    endpoints: dict[str, FakeEndpoint],
) -> None:
    del endpoints["langid"]
    async with client_for(app_with(endpoints)) as http:
        response = await http.post("/v1/tasks/language", json={"input": "hello"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "deployment_not_found"
    assert error["message"] == (
        "no deployment named 'langid' is serving; list yours with GET /v1/deployments or "
        "deploy the model with POST /v1/deployments"
    )
    assert error["details"] == {"deployment": "langid", "param": "model"}


async def test_a_model_of_another_kind_is_a_400_naming_what_fits(http: AsyncClient) -> None:
    response = await http.post("/v1/tasks/language", json={"model": "embedder", "input": "hi"})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "model 'embedder' cannot do language identification" in message
    assert "such as langid; deployed models that fit: ['langid']" in message


async def test_a_malformed_body_is_modelmarts_validation_error(http: AsyncClient) -> None:
    response = await http.post("/v1/tasks/sentiment", json={"text": "hi"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"


async def test_every_task_has_a_documented_route(http: AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    for name, task in TASKS.items():
        operation = paths[f"/v1/tasks/{name}"]["post"]
        assert operation["summary"] == task.summary
        example = operation["requestBody"]["content"]["application/json"]["example"]
        assert example["model"] == task.default_model


async def test_token_arrays_are_refused_as_on_the_openai_routes(http: AsyncClient) -> None:
    response = await http.post("/v1/tasks/language", json={"input": [101, 2023]})
    assert response.status_code == 400
    assert "this server takes text only" in response.json()["error"]["message"]
