"""Keys, roles and tenants: every route but health needs a key, and two organisations never
see or use each other's models, deployments, keys, usage or invoices."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.billing.conftest import IRIS_ROW, client_for, make_org, serve_iris
from tests.integration.servers import LiveServer


def test_every_route_but_health_needs_a_valid_key(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/healthz").status_code == 200
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

        names = [model["name"] for model in b.get("/v1/registry/models").json()["models"]]
        assert "alpha-iris" not in names
        assert b.get("/v1/registry/models/alpha-iris").status_code == 404
        assert "alpha-iris" not in [
            d["name"] for d in b.get("/v1/deployments").json()["deployments"]
        ]
        assert b.get("/v1/deployments/alpha-iris").status_code == 404
        assert b.post("/v1/models/alpha-iris:predict", json=IRIS_ROW).status_code == 404
        assert b.delete("/v1/deployments/alpha-iris").status_code == 404
        assert b.get("/v1/orgs/alpha/keys").status_code == 404
        assert b.get("/v1/orgs/alpha/invoices/2026-11").status_code == 404
        assert b.get("/v1/usage", params={"organisation": "alpha"}).status_code == 404
        assert [org["slug"] for org in b.get("/v1/orgs").json()["organisations"]] == ["beta"]
        assert b.get("/v1/usage", params={"group_by": "model"}).json()["usage"] == []

        # Publishing lets beta see and call the model (and be billed for it).
        published = a.post("/v1/publications", json={"model": "alpha-iris", "organisation": "beta"})
        assert published.status_code == 201, published.text
        assert b.get("/v1/registry/models/alpha-iris").status_code == 200
        assert b.post("/v1/models/alpha-iris:predict", json=IRIS_ROW).status_code == 200
        # ... but not change it.
        assert b.delete("/v1/deployments/alpha-iris").status_code == 403
        # Alpha prices its model: it earns what beta pays for using it.
        price = {"model": "alpha-iris", "unit": "requests", "amount": "0.25"}
        assert a.put("/v1/prices", json=price).json()["publisher"] == "alpha"
        assert b.put("/v1/prices", json=price).status_code == 403
        for _ in range(3):
            assert b.post("/v1/models/alpha-iris:predict", json=IRIS_ROW).status_code == 200
        revenue = a.get("/v1/revenue").json()["revenue"]
        assert {"model": "alpha-iris", "customer": "beta", "amount": "1.00"} in revenue
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
        assert "zeta-points" not in [d["name"] for d in e.get("/v1/datasets").json()["datasets"]]
        assert "iris" in [d["name"] for d in e.get("/v1/datasets").json()["datasets"]]
        assert e.get("/v1/datasets/zeta-points").status_code == 404
        stolen = e.post(
            "/v1/jobs", json={"dataset": "zeta-points", "spec": {"task": "classification"}}
        )
        assert stolen.status_code == 404
        job = e.post("/v1/jobs", json={"dataset": "iris", "spec": {"task": "classification"}})
        assert job.status_code == 201, job.text
        assert z.get(f"/v1/jobs/{job.json()['id']}").status_code == 404
        assert job.json()["id"] not in [j["id"] for j in z.get("/v1/jobs").json()["jobs"]]
        assert e.get(f"/v1/jobs/{job.json()['id']}").status_code == 200
