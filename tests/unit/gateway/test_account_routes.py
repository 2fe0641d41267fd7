"""The accounts and billing routes: each declares who may call it and applies the tenancy
rule, and another organisation's slug answers byte for byte as a missing one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.registry.service import Registry
from tests.unit.gateway.accounts_app import Platform, build_platform, client_for

MONTH = datetime.now(UTC).strftime("%Y-%m")


@pytest.fixture
async def platform(
    sessions: sessionmaker[Session], registry: Registry, tmp_path: Path
) -> AsyncIterator[Platform]:
    built = build_platform(sessions, registry, tmp_path / "data")
    yield built
    await built.billing.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/orgs/{slug}", None),
        ("PATCH", "/v1/orgs/{slug}", {"monthly_budget": "5"}),
        ("GET", "/v1/orgs/{slug}/keys", None),
        ("POST", "/v1/orgs/{slug}/keys", {"name": "mole"}),
        ("POST", "/v1/orgs/{slug}/keys/1:rotate", None),
        ("DELETE", "/v1/orgs/{slug}/keys/1", None),
        ("GET", "/v1/orgs/{slug}/members", None),
        ("POST", "/v1/orgs/{slug}/members", {"email": "mole@beta.example"}),
        ("DELETE", "/v1/orgs/{slug}/members/1", None),
        ("GET", "/v1/orgs/{slug}/invoices/" + MONTH, None),
        ("GET", "/v1/usage?organisation={slug}", None),
        ("GET", "/v1/revenue?organisation={slug}", None),
    ],
)
async def test_a_foreign_slug_answers_byte_for_byte_as_a_missing_one(
    platform: Platform, method: str, path: str, body: dict[str, str] | None
) -> None:
    async with client_for(platform.app, "beta") as beta:
        foreign = await beta.request(method, path.format(slug="alpha"), json=body)
        missing = await beta.request(method, path.format(slug="nowhere"), json=body)
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "not_found"
    assert foreign.content == missing.content.replace(b"nowhere", b"alpha")


async def test_an_organisation_reads_its_own_and_the_operator_every_one(
    platform: Platform,
) -> None:
    async with (
        client_for(platform.app, "alpha-viewer") as viewer,
        client_for(platform.app, "operator") as operator,
    ):
        own = await viewer.get("/v1/orgs")
        every = await operator.get("/v1/orgs")
        members = await operator.get("/v1/orgs/alpha/members")
        invoice = await viewer.get(f"/v1/orgs/alpha/invoices/{MONTH}")
    assert [org["slug"] for org in own.json()["organisations"]] == ["alpha"]
    assert [org["slug"] for org in every.json()["organisations"]] == ["alpha", "beta", "operator"]
    assert members.status_code == invoice.status_code == 200


@pytest.mark.parametrize("key", ["operator", "alpha", "alpha-viewer", "alpha-inference"])
async def test_every_role_may_ask_who_it_is(platform: Platform, key: str) -> None:
    principal = platform.accounts.principals[key]
    async with client_for(platform.app, key) as client:
        me = await client.get("/v1/me")
    assert me.status_code == 200
    assert me.json() == {
        "organisation": principal.org_slug,
        "role": principal.role.value,
        "key_id": principal.key_id,
        "operator": principal.is_operator,
        "auth_enabled": True,
    }


async def test_who_am_i_needs_a_key(platform: Platform) -> None:
    async with client_for(platform.app) as anonymous:
        assert (await anonymous.get("/v1/me")).status_code == 401


async def test_only_the_operator_makes_organisations_plans_and_star_prices(
    platform: Platform,
) -> None:
    star = {"model": "*", "unit": "requests", "amount": "1"}
    plan = {"name": "gold", "kind": "subscription", "monthly_fee": "9"}
    async with (
        client_for(platform.app, "alpha") as alpha,
        client_for(platform.app, "operator") as operator,
    ):
        assert (
            await alpha.post("/v1/orgs", json={"slug": "gamma", "name": "G"})
        ).status_code == 403
        assert (await alpha.put("/v1/plans/gold", json=plan)).status_code == 403
        assert (await alpha.put("/v1/prices", json=star)).status_code == 403
        refused = await alpha.patch("/v1/orgs/alpha", json={"plan": "pay-as-you-go"})
        assert refused.status_code == 403
        made = await operator.post("/v1/orgs", json={"slug": "gamma", "name": "G"})
        assert made.status_code == 201, made.text
        assert (await operator.put("/v1/prices", json=star)).status_code == 200


async def test_key_scopes_are_stored_by_their_full_names(platform: Platform) -> None:
    async with (
        client_for(platform.app, "alpha") as alpha,
        client_for(platform.app, "beta") as beta,
    ):
        made = await alpha.post(
            "/v1/orgs/alpha/keys", json={"name": "app", "models": ["iris", "langid"]}
        )
        stolen = await beta.post("/v1/orgs/beta/keys", json={"name": "x", "models": ["iris"]})
        qualified = await beta.post(
            "/v1/orgs/beta/keys", json={"name": "x", "models": ["alpha:iris"]}
        )
    assert made.status_code == 201, made.text
    assert made.json()["models"] == ["alpha:iris", "langid"]
    # beta has no iris of its own, and alpha's is not published to it.
    assert stolen.status_code == qualified.status_code == 404
    assert stolen.json()["error"]["code"] == "model_not_found"


async def test_publishing_and_pricing_use_the_models_full_name(platform: Platform) -> None:
    price = {"model": "iris", "unit": "requests", "amount": "0.25"}
    publication = {"model": "iris", "organisation": "beta"}
    async with (
        client_for(platform.app, "alpha") as alpha,
        client_for(platform.app, "beta") as beta,
    ):
        foreign = await beta.post("/v1/publications", json={**publication, "model": "alpha:iris"})
        missing = await beta.post("/v1/publications", json={**publication, "model": "alpha:gone"})
        published = await alpha.post("/v1/publications", json=publication)
        priced = await alpha.put("/v1/prices", json=price)
        unpublished_view = await beta.get("/v1/prices")
        # The principal beta's key loads from now on lists the publication.
        keys = platform.accounts.principals
        keys["beta"] = replace(keys["beta"], published=frozenset({"alpha:iris"}))
        published_view = await beta.get("/v1/prices")
        others = await beta.put("/v1/prices", json={**price, "model": "alpha:iris"})
        catalogue = await beta.put("/v1/prices", json={**price, "model": "langid"})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content.replace(b"alpha:gone", b"alpha:iris")
    assert published.json() == {"model": "alpha:iris", "organisation": "beta"}
    assert (priced.json()["model"], priced.json()["publisher"]) == ("alpha:iris", "alpha")
    assert [p["model"] for p in unpublished_view.json()["prices"]] == []
    assert [p["model"] for p in published_view.json()["prices"]] == ["alpha:iris"]
    # beta may use alpha's and the catalogue's models, not price them.
    assert others.status_code == catalogue.status_code == 403


async def test_prices_list_only_models_the_caller_may_see(platform: Platform) -> None:
    async with (
        client_for(platform.app, "alpha") as alpha,
        client_for(platform.app, "beta") as beta,
        client_for(platform.app, "operator") as operator,
    ):
        await alpha.put("/v1/prices", json={"model": "iris", "unit": "requests", "amount": "1"})
        await operator.put("/v1/prices", json={"model": "langid", "unit": "items", "amount": "2"})
        seen = {
            name: [p["model"] for p in (await client.get("/v1/prices")).json()["prices"]]
            for name, client in (("alpha", alpha), ("beta", beta), ("operator", operator))
        }
    assert seen == {
        "alpha": ["alpha:iris", "langid"],
        "beta": ["langid"],
        "operator": ["alpha:iris", "langid"],
    }


async def test_the_audit_log_shows_an_organisation_only_its_own(platform: Platform) -> None:
    keys = platform.accounts.principals
    platform.audit.record(keys["alpha"], "POST /v1/orgs/{slug}/keys", "/v1/orgs/alpha/keys", "")
    platform.audit.record(keys["beta"], "POST /v1/orgs/{slug}/keys", "/v1/orgs/beta/keys", "")
    async with (
        client_for(platform.app, "beta") as beta,
        client_for(platform.app, "operator") as operator,
        client_for(platform.app, "alpha-viewer") as viewer,
    ):
        own = (await beta.get("/v1/audit")).json()["entries"]
        every = (await operator.get("/v1/audit")).json()["entries"]
        refused = await viewer.get("/v1/audit")
    assert [entry["target"] for entry in own] == ["/v1/orgs/beta/keys"]
    assert len(every) == 2
    assert refused.status_code == 403


async def test_usage_and_retained_inputs_stay_with_their_organisation(
    platform: Platform,
) -> None:
    async with (
        client_for(platform.app, "beta") as beta,
        client_for(platform.app, "alpha") as alpha,
    ):
        usage = await beta.get("/v1/usage")
        retained_foreign = await beta.get("/v1/retained/alpha:iris")
        retained_missing = await beta.get("/v1/retained/alpha:gone")
        retained_own = await alpha.get("/v1/retained/iris")
    assert usage.json()["usage"] == []
    assert retained_foreign.status_code == retained_missing.status_code == 404
    assert retained_own.status_code == 200
