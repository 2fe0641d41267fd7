"""Deployment, prediction and health calls of both SDK clients."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modelmart.client import DeploymentView, Health, Readiness
from modelmart.errors import DeploymentNotFound, NotReady, SchemaMismatch, ValidationFailed
from modelmart.schemas.deployments import Isolation

from .client_fakes import FakeServer, deployment_view

DEPLOYMENTS = "/v1/deployments"


def test_deploy_posts_the_request_and_waits_by_default(mm, server: FakeServer):
    server.on("POST", DEPLOYMENTS, 201, deployment_view("iris-prod", alias="production"))

    view = mm.deploy("iris", alias="production", name="iris-prod", instances=2)

    assert isinstance(view, DeploymentView)
    assert view.name == "iris-prod"
    assert server.last.url.params["wait"] == "true"
    assert json.loads(server.last.content) == {
        "model": "iris",
        "alias": "production",
        "name": "iris-prod",
        "instances": 2,
        "max_batch_size": 32,
        "max_delay_ms": 5.0,
        "isolation": "process",
    }
    assert server.last.extensions["timeout"]["read"] is None  # loading may take minutes


def test_deploy_without_waiting_keeps_the_read_timeout(mm, server: FakeServer):
    server.on("POST", DEPLOYMENTS, 201, deployment_view(state="loading", ready_instances=0))

    view = mm.deploy("iris", version=3, wait=False, isolation="thread", timeout_s=2.5)

    assert view.state == "loading"
    assert server.last.url.params["wait"] == "false"
    body = json.loads(server.last.content)
    assert (body["version"], body["isolation"], body["timeout_s"]) == (3, "thread", 2.5)
    assert server.last.extensions["timeout"]["read"] == 60.0


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"version": 1, "alias": "production"}, "either version or alias"),
        ({"instances": 0}, "instances"),
        ({"isolation": "container"}, "isolation"),
    ],
)
def test_deploy_checks_the_request_before_sending(mm, server: FakeServer, options, problem):
    with pytest.raises(ValidationFailed, match=problem):
        mm.deploy("iris", **options)
    assert server.requests == []


def test_list_and_get_deployments(mm, server: FakeServer):
    server.on("GET", DEPLOYMENTS, json={"deployments": [deployment_view("a")]})
    server.on("GET", f"{DEPLOYMENTS}/a", json=deployment_view("a", queue_depth=4))

    assert [d.name for d in mm.list_deployments()] == ["a"]
    assert mm.get_deployment("a").queue_depth == 4


def test_update_and_scale_send_only_the_changes(mm, server: FakeServer):
    server.on("PATCH", f"{DEPLOYMENTS}/iris", json=deployment_view(instances=3))

    mm.update_deployment("iris", max_delay_ms=2.0, isolation=Isolation.THREAD)
    assert json.loads(server.last.content) == {"max_delay_ms": 2.0, "isolation": "thread"}
    assert mm.scale("iris", 3).instances == 3
    assert json.loads(server.last.content) == {"instances": 3}


def test_undeploy_deletes_and_reports_unknown_names(mm, server: FakeServer):
    server.on("DELETE", f"{DEPLOYMENTS}/iris", 204)
    server.fail("DELETE", f"{DEPLOYMENTS}/gone", 404, "deployment_not_found", "no 'gone'")

    assert mm.undeploy("iris") is None
    with pytest.raises(DeploymentNotFound, match="no 'gone'"):
        mm.undeploy("gone")


def test_predict_sends_instances_and_returns_predictions(mm, server: FakeServer):
    server.on("POST", "/v1/models/iris:predict", json={"model": "iris", "version": 1,
                                                       "predictions": [0, 2]})  # fmt: skip

    assert mm.predict("iris", [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]) == [0, 2]
    assert json.loads(server.last.content) == {
        "instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    }


def test_predict_accepts_numpy_arrays_and_columns(mm, server: FakeServer):
    outputs = [{"label": 0, "score": 0.9}]
    server.on("POST", "/v1/models/iris:predict", json={"model": "iris", "version": 1,
                                                       "predictions": outputs})  # fmt: skip

    assert mm.predict("iris", np.array([[1.0, 2.0]], dtype=np.float32)) == outputs
    assert json.loads(server.last.content) == {"instances": [[1.0, 2.0]]}
    mm.predict("iris", inputs={"input": np.array([[1, 2]])})
    assert json.loads(server.last.content) == {"inputs": {"input": [[1, 2]]}}


def test_predict_needs_exactly_one_form_of_input(mm, server: FakeServer):
    with pytest.raises(ValidationFailed, match="not both and not neither"):
        mm.predict("iris")
    with pytest.raises(ValidationFailed):
        mm.predict("iris", [[1]], inputs={"x": [1]})
    assert server.requests == []


def test_predict_raises_the_server_error_with_details(mm, server: FakeServer):
    server.fail("POST", "/v1/models/iris:predict", 422, "schema_mismatch", "expected 4 columns")

    with pytest.raises(SchemaMismatch, match="expected 4 columns") as caught:
        mm.predict("iris", [[1.0]])
    assert caught.value.details == {"hint": "x"}


def test_health_and_readiness(mm, server: FakeServer):
    server.on("GET", "/healthz", json={"status": "ok"})
    server.on("GET", "/readyz", json={"status": "ready", "deployments": {"iris": "ready"}})

    assert mm.health() == Health(status="ok")
    assert mm.ready() == Readiness(ready=True, status="ready", deployments={"iris": "ready"})


def test_readiness_while_loading_is_an_answer_not_an_error(mm, server: FakeServer):
    server.on("GET", "/readyz", 503, {"status": "loading", "deployments": {"iris": "loading"}})

    readiness = mm.ready()

    assert readiness.ready is False
    assert readiness.deployments == {"iris": "loading"}


def test_readiness_raises_a_real_503_error(mm, server: FakeServer):
    server.fail("GET", "/readyz", 503, "not_ready", "shutting down")

    with pytest.raises(NotReady, match="shutting down"):
        mm.ready()
