"""The cross-tenant attacks reported against the URL-prefix design, as regression tests (the
job that wrote into another tenant's model is in tests/integration/jobs/test_job_tenancy.py)."""

from __future__ import annotations

from tests.integration.billing.conftest import client_for
from tests.integration.tenancy.conftest import World


def test_an_inference_key_cannot_run_another_tenants_private_deployment(world: World) -> None:
    acme, globex = world.tenants["acme"], world.tenants["globex"]
    with globex.client(world.server, "inference") as intruder:
        for ref in (acme.vader, f"acme:{acme.vader}"):
            foreign = intruder.post("/v1/tasks/sentiment", json={"model": ref, "input": "great"})
            missing = intruder.post(
                "/v1/tasks/sentiment", json={"model": ref + "x", "input": "great"}
            )
            assert foreign.status_code == missing.status_code == 404
            assert foreign.json()["error"]["message"].replace(ref, "<ref>") == missing.json()[
                "error"
            ]["message"].replace(ref + "x", "<ref>")
            assert "serving" not in foreign.json()["error"]["details"]
    with acme.client(world.server, "inference") as owner:
        answer = owner.post("/v1/tasks/sentiment", json={"model": acme.vader, "input": "great"})
        assert answer.status_code == 200, answer.text


def test_a_key_scoped_to_one_model_calls_no_other_on_any_route(world: World) -> None:
    globex = world.tenants["globex"]
    with globex.client(world.server) as owner:
        made = owner.post(
            f"/v1/orgs/{globex.slug}/keys",
            json={"name": "iris only", "role": "inference", "models": [globex.model]},
        )
        assert made.status_code == 201, made.text
        assert made.json()["models"] == [f"globex:{globex.model}"]
    with client_for(world.server, made.json()["key"]) as scoped:
        iris = scoped.post(
            f"/v1/models/{globex.model}:predict", json={"instances": [[5.1, 3.5, 1.4, 0.2]]}
        )
        assert iris.status_code == 200, iris.text
        task = scoped.post("/v1/tasks/sentiment", json={"model": globex.vader, "input": "great"})
        assert task.status_code == 404
        default = scoped.post("/v1/tasks/sentiment", json={"input": "great"})
        assert default.status_code == 404
        listed = scoped.get("/v1/models")
        assert listed.status_code == 403  # an inference key reads nothing


def test_default_task_traffic_never_lands_on_another_tenants_deployment(world: World) -> None:
    acme, globex = world.tenants["acme"], world.tenants["globex"]
    with globex.client(world.server) as owner:
        squat = owner.post(
            "/v1/deployments",
            json={"model": "vader-sentiment", "isolation": "thread"},  # the default's name
        )
        assert squat.status_code == 201, squat.text
        assert squat.json()["name"] == "globex:vader-sentiment"
        own = owner.post("/v1/tasks/sentiment", json={"input": "great"})
        assert own.status_code == 200, own.text
    try:
        with acme.client(world.server, "inference") as other:
            answer = other.post("/v1/tasks/sentiment", json={"input": "great"})
            assert answer.status_code == 404
            assert "globex" not in answer.text
    finally:
        with globex.client(world.server) as owner:
            assert owner.delete("/v1/deployments/vader-sentiment").status_code == 204
