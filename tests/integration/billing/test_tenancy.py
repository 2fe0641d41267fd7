"""Keys, roles and tenants: every route but the probes needs a key, and two organisations never
see or use each other's models, deployments, keys, usage or invoices. An organisation's objects
are stored and shown as ``org:name``; it names its own by the bare name."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.integration.billing.conftest import IRIS_ROW, client_for, make_org, serve_iris
from tests.integration.servers import LiveServer


def test_every_route_but_the_probes_needs_a_valid_key(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/metrics").status_code == 401
        missing = anonymous.get("/v1/registry/models")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "unauthenticated"
        assert "Authorization: Bearer" in missing.json()["error"]["message"]
        assert missing.headers["www-authenticate"] == "Bearer"
        forged = anonymous.get("/v1/deployments", headers={"Authorization": "Bearer mm_nope"})
        assert forged.status_code == 401
        openai_shape = anonymous.post("/v1/embeddings", json={"model": "x", "input": "hi"})
        assert openai_shape.status_code == 401
        assert openai_shape.json()["error"]["code"] == "unauthenticated"
        assert "type" in openai_shape.json()["error"]


def test_two_organisations_see_nothing_of_each_other(
    server: LiveServer, operator: httpx.Client, iris_file: Path
) -> None:
    alpha, beta = make_org(operator, "alpha"), make_org(operator, "beta")
    with alpha.client(server) as a, beta.client(server) as b:
        serve_iris(a, "alpha-iris", iris_file)
        assert a.post("/v1/models/alpha-iris:predict", json=IRIS_ROW).status_code == 200
        own = [model["name"] for model in a.get("/v1/registry/models").json()["models"]]
        assert "alpha:alpha-iris" in own

        names = [model["name"] for model in b.get("/v1/registry/models").json()["models"]]
        assert not [name for name in names if "alpha-iris" in name]
        for ref in ("alpha-iris", "alpha:alpha-iris"):
            assert b.get(f"/v1/registry/models/{ref}").status_code == 404
            assert b.get(f"/v1/deployments/{ref}").status_code == 404
            assert b.post(f"/v1/models/{ref}:predict", json=IRIS_ROW).status_code == 404
            assert b.delete(f"/v1/deployments/{ref}").status_code == 404
        deployments = [d["name"] for d in b.get("/v1/deployments").json()["deployments"]]
        assert not [name for name in deployments if name.startswith("alpha:")]
        assert b.get("/v1/orgs/alpha/keys").status_code == 404
        assert b.get("/v1/orgs/alpha/invoices/2026-11").status_code == 404
        assert b.get("/v1/usage", params={"organisation": "alpha"}).status_code == 404
        assert [org["slug"] for org in b.get("/v1/orgs").json()["organisations"]] == ["beta"]
        assert b.get("/v1/usage", params={"group_by": "model"}).json()["usage"] == []
        assert "alpha:alpha-iris" not in [p["model"] for p in b.get("/v1/prices").json()["prices"]]

        # Publishing lets beta see and call the model (and be billed for it), by its full name
        # or, having no alpha-iris of its own, by the bare one.
        published = a.post("/v1/publications", json={"model": "alpha-iris", "organisation": "beta"})
        assert published.status_code == 201, published.text
        assert published.json() == {"model": "alpha:alpha-iris", "organisation": "beta"}
        assert b.get("/v1/registry/models/alpha:alpha-iris").json()["name"] == "alpha:alpha-iris"
        assert b.get("/v1/registry/models/alpha-iris").json()["name"] == "alpha:alpha-iris"
        assert b.post("/v1/models/alpha:alpha-iris:predict", json=IRIS_ROW).status_code == 200
        # ... but not change it.
        assert b.delete("/v1/deployments/alpha:alpha-iris").status_code == 403
        # Alpha prices its model: it earns what beta pays for using it.
        price = {"model": "alpha-iris", "unit": "requests", "amount": "0.25"}
        priced = a.put("/v1/prices", json=price).json()
        assert (priced["model"], priced["publisher"]) == ("alpha:alpha-iris", "alpha")
        assert b.put("/v1/prices", json=price).status_code == 403
        assert "alpha:alpha-iris" in [p["model"] for p in b.get("/v1/prices").json()["prices"]]
        for _ in range(3):
            assert b.post("/v1/models/alpha-iris:predict", json=IRIS_ROW).status_code == 200
        revenue = a.get("/v1/revenue").json()["revenue"]
        assert {"model": "alpha:alpha-iris", "customer": "beta", "amount": "1.00"} in revenue
        assert b.get("/v1/revenue", params={"organisation": "alpha"}).status_code == 404


def test_roles_limit_what_a_key_can_do(server: LiveServer, operator: httpx.Client) -> None:
    gamma = make_org(operator, "gamma")
    with gamma.client(server) as owner:
        viewer = owner.post("/v1/orgs/gamma/keys", json={"name": "dash", "role": "viewer"})
        inference = owner.post("/v1/orgs/gamma/keys", json={"name": "app", "role": "inference"})
        assert viewer.status_code == inference.status_code == 201
        listed = owner.get("/v1/orgs/gamma/keys").json()["keys"]
        assert all("key" not in key and "secret_hash" not in key for key in listed)
    with client_for(server, viewer.json()["key"]) as read_only:
        assert read_only.get("/v1/deployments").status_code == 200
        refused = read_only.post("/v1/deployments", json={"model": "langid"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        assert read_only.post("/v1/orgs/gamma/keys", json={"name": "x"}).status_code == 403
    with client_for(server, inference.json()["key"]) as app_key:
        assert app_key.get("/v1/orgs/gamma/keys").status_code == 403
        assert (
            app_key.post("/v1/orgs/gamma/keys", json={"name": "x", "role": "owner"}).status_code
            == 403
        )


def test_revoked_and_rotated_keys_stop_working(server: LiveServer, operator: httpx.Client) -> None:
    delta = make_org(operator, "delta")
    with delta.client(server) as owner:
        made = owner.post("/v1/orgs/delta/keys", json={"name": "ci", "role": "developer"}).json()
        with client_for(server, made["key"]) as ci:
            assert ci.get("/v1/me").json()["organisation"] == "delta"
            rotated = owner.post(f"/v1/orgs/delta/keys/{made['id']}:rotate")
            assert rotated.status_code == 201
            assert ci.get("/v1/me").status_code == 401
        with client_for(server, rotated.json()["key"]) as new_ci:
            assert new_ci.get("/v1/me").json()["role"] == "developer"
            assert owner.delete(f"/v1/orgs/delta/keys/{rotated.json()['id']}").status_code == 200
            assert new_ci.get("/v1/me").status_code == 401
        audit = owner.get("/v1/audit").json()["entries"]
        actions = [entry["action"] for entry in audit]
        assert "POST /v1/orgs/{slug}/keys" in actions
        assert "DELETE /v1/orgs/{slug}/keys/{key_id}" in actions
        assert all(entry["address"] == "127.0.0.1" for entry in audit)


def test_errors_never_list_other_tenants_names(server: LiveServer, operator: httpx.Client) -> None:
    epsilon = make_org(operator, "epsilon")
    with epsilon.client(server) as client:
        missing = client.post("/v1/models/nothing-here:predict", json=IRIS_ROW)
        assert missing.status_code == 404
        assert missing.json()["error"]["details"] == {"deployment": "nothing-here"}
        assert client.get("/v1/deployments/nothing").json()["error"]["details"] == {
            "deployment": "nothing"
        }


def test_datasets_and_jobs_belong_to_their_organisation(
    server: LiveServer, operator: httpx.Client, tmp_path: Path
) -> None:
    zeta, eta = make_org(operator, "zeta"), make_org(operator, "eta")
    table = tmp_path / "points.csv"
    table.write_text("x,y,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    with zeta.client(server) as z, eta.client(server) as e:
        with table.open("rb") as file:
            pushed = z.post(
                "/v1/datasets/zeta-points/versions",
                files={"file": ("points.csv", file)},
                data={"metadata": '{"target": "label"}'},
            )
        assert pushed.status_code == 201, pushed.text
        assert "zeta:zeta-points" in [d["name"] for d in z.get("/v1/datasets").json()["datasets"]]
        seen = [d["name"] for d in e.get("/v1/datasets").json()["datasets"]]
        assert not [name for name in seen if "zeta-points" in name]
        assert "iris" in seen
        for ref in ("zeta-points", "zeta:zeta-points"):
            assert e.get(f"/v1/datasets/{ref}").status_code == 404
            stolen = e.post("/v1/jobs", json={"dataset": ref, "spec": {"task": "classification"}})
            assert stolen.status_code == 404
        job = e.post("/v1/jobs", json={"dataset": "iris", "spec": {"task": "classification"}})
        assert job.status_code == 201, job.text
        assert z.get(f"/v1/jobs/{job.json()['id']}").status_code == 404
        assert job.json()["id"] not in [j["id"] for j in z.get("/v1/jobs").json()["jobs"]]
        assert e.get(f"/v1/jobs/{job.json()['id']}").status_code == 200


def test_probes_are_open_and_name_nothing(
    server: LiveServer, operator: httpx.Client, iris_file: Path
) -> None:
    theta = make_org(operator, "theta")
    with theta.client(server) as client:
        serve_iris(client, "theta-secret-iris", iris_file)
    with httpx.Client(base_url=server.url) as anonymous:
        deadline = time.monotonic() + 60
        while (ready := anonymous.get("/readyz")).status_code != 200:
            assert ready.json() == {"status": "loading"}
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        assert ready.json() == {"status": "ready"}
        for probe in ("/livez", "/healthz"):
            live = anonymous.get(probe)
            assert (live.status_code, live.json()) == (200, {"status": "ok"})


def test_metrics_are_the_operators_alone(server: LiveServer, operator: httpx.Client) -> None:
    iota = make_org(operator, "iota")
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/metrics").status_code == 401
    with iota.client(server) as tenant:
        refused = tenant.get("/metrics")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
    scraped = operator.get("/metrics")
    assert scraped.status_code == 200
    assert "modelmart_requests" in scraped.text


@pytest.fixture(scope="module")
def kappa_key(operator: httpx.Client) -> str:
    """The owner key of kappa, beside lambda (with a member and keys of its own)."""
    make_org(operator, "lambda")
    return make_org(operator, "kappa").key


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/orgs/{slug}/keys", None),
        ("POST", "/v1/orgs/{slug}/keys", {"name": "mole"}),
        ("DELETE", "/v1/orgs/{slug}/keys/1", None),
        ("GET", "/v1/orgs/{slug}/members", None),
        ("POST", "/v1/orgs/{slug}/members", {"email": "mole@example.com"}),
        ("GET", "/v1/orgs/{slug}/invoices/{month}", None),
        ("GET", "/v1/usage?organisation={slug}", None),
    ],
)
def test_a_foreign_organisation_answers_byte_for_byte_as_a_missing_one(
    server: LiveServer, kappa_key: str, method: str, path: str, body: dict[str, str] | None
) -> None:
    month = datetime.now(UTC).strftime("%Y-%m")
    with client_for(server, kappa_key) as kappa:
        foreign = kappa.request(method, path.format(slug="lambda", month=month), json=body)
        missing = kappa.request(method, path.format(slug="mu-none", month=month), json=body)
    assert foreign.status_code == 404, foreign.text
    assert foreign.json()["error"]["code"] == "not_found"
    assert foreign.content == missing.content.replace(b"mu-none", b"lambda")
