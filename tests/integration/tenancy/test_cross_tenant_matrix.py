"""The cross-tenant matrix: every route of the OpenAPI document with a path parameter or a
list, called by every role of one organisation on the other's objects, both ways.

For each call the foreign object must answer exactly as a missing one (status and body, with
the name asked for as the only difference), lists must not name the other organisation's
objects, and at the end nothing of the other organisation has changed.
"""

from __future__ import annotations

import base64
import io
import re
import uuid
import wave
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.billing.conftest import IRIS_ROW
from tests.integration.tenancy.conftest import ROLES, Tenant, World

PERIOD = datetime.now(UTC).strftime("%Y-%m")
MISSING_KEY_ID = 987_654
MISSING_MEMBER_ID = 876_543
V2_ROW = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [5.1] * 4}]}


@dataclass(frozen=True)
class Refs:
    """How one call names the other organisation's objects (or missing ones)."""

    model: str
    deployment: str
    vader: str
    dataset: str
    job: str
    slug: str
    key_id: int
    member_id: int


def _qualified(owner: Tenant) -> Refs:
    return Refs(
        model=f"{owner.slug}:{owner.model}",
        deployment=f"{owner.slug}:{owner.model}",
        vader=f"{owner.slug}:{owner.vader}",
        dataset=f"{owner.slug}:{owner.dataset}",
        job=owner.job_id,
        slug=owner.slug,
        key_id=owner.key_ids["viewer"],
        member_id=owner.member_id,
    )


def _bare(owner: Tenant) -> Refs:
    """The other organisation's names without its prefix (the caller has none of them)."""
    qualified = _qualified(owner)
    return Refs(
        model=owner.model,
        deployment=owner.model,
        vader=owner.vader,
        dataset=owner.dataset,
        job=qualified.job,
        slug=qualified.slug,
        key_id=qualified.key_id,
        member_id=qualified.member_id,
    )


def _missing(refs: Refs) -> Refs:
    """The same shapes, naming nothing that exists."""

    def twist(name: str) -> str:
        return name[:-1] + ("x" if name[-1] != "x" else "y")

    return Refs(
        model=twist(refs.model),
        deployment=twist(refs.deployment),
        vader=twist(refs.vader),
        dataset=twist(refs.dataset),
        job=uuid.uuid4().hex,
        slug=twist(refs.slug),
        key_id=MISSING_KEY_ID,
        member_id=MISSING_MEMBER_ID,
    )


Call = Callable[[httpx.Client, Refs, Tenant], httpx.Response]


def _png() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\x00\x00" * 1600)
    return buffer.getvalue()


IRIS_UPLOAD = {"artifact": ("iris.skops", b"not really a model")}

# Routes with path parameters: (method, path) -> the call, naming the other's objects.
PATH_CALLS: dict[tuple[str, str], Call] = {
    ("GET", "/v1/registry/models/{name}"): lambda c, r, me: c.get(f"/v1/registry/models/{r.model}"),
    ("POST", "/v1/registry/models/{name}/versions"): lambda c, r, me: c.post(
        f"/v1/registry/models/{r.model}/versions", files=IRIS_UPLOAD, data={"metadata": "{}"}
    ),
    ("GET", "/v1/registry/models/{name}/versions"): lambda c, r, me: c.get(
        f"/v1/registry/models/{r.model}/versions"
    ),
    ("GET", "/v1/registry/models/{name}/versions/{ref}"): lambda c, r, me: c.get(
        f"/v1/registry/models/{r.model}/versions/1"
    ),
    ("PUT", "/v1/registry/models/{name}/aliases/{alias}"): lambda c, r, me: c.put(
        f"/v1/registry/models/{r.model}/aliases/production", json={"version": 1}
    ),
    ("DELETE", "/v1/registry/models/{name}/aliases/{alias}"): lambda c, r, me: c.delete(
        f"/v1/registry/models/{r.model}/aliases/production"
    ),
    ("GET", "/v1/registry/models/{name}/versions/{ref}/report"): lambda c, r, me: c.get(
        f"/v1/registry/models/{r.model}/versions/1/report"
    ),
    ("GET", "/v1/registry/models/{name}/versions/{ref}/card"): lambda c, r, me: c.get(
        f"/v1/registry/models/{r.model}/versions/1/card"
    ),
    ("GET", "/v1/registry/models/{name}/compare"): lambda c, r, me: c.get(
        f"/v1/registry/models/{r.model}/compare", params={"a": 1, "b": 1}
    ),
    ("GET", "/v1/deployments/{name}"): lambda c, r, me: c.get(f"/v1/deployments/{r.deployment}"),
    ("PATCH", "/v1/deployments/{name}"): lambda c, r, me: c.patch(
        f"/v1/deployments/{r.deployment}", json={"max_delay_ms": 1}
    ),
    ("DELETE", "/v1/deployments/{name}"): lambda c, r, me: c.delete(
        f"/v1/deployments/{r.deployment}"
    ),
    ("POST", "/v1/models/{name}:predict"): lambda c, r, me: c.post(
        f"/v1/models/{r.deployment}:predict", json=IRIS_ROW
    ),
    ("POST", "/v1/models/{name}:explain"): lambda c, r, me: c.post(
        f"/v1/models/{r.deployment}:explain", json=IRIS_ROW
    ),
    ("GET", "/v1/models/{model_id}"): lambda c, r, me: c.get(f"/v1/models/{r.deployment}"),
    ("GET", "/v2/models/{name}"): lambda c, r, me: c.get(f"/v2/models/{r.deployment}"),
    ("GET", "/v2/models/{name}/versions/{version}"): lambda c, r, me: c.get(
        f"/v2/models/{r.deployment}/versions/1"
    ),
    ("GET", "/v2/models/{name}/ready"): lambda c, r, me: c.get(f"/v2/models/{r.deployment}/ready"),
    ("GET", "/v2/models/{name}/versions/{version}/ready"): lambda c, r, me: c.get(
        f"/v2/models/{r.deployment}/versions/1/ready"
    ),
    ("POST", "/v2/models/{name}/infer"): lambda c, r, me: c.post(
        f"/v2/models/{r.deployment}/infer", json=V2_ROW
    ),
    ("POST", "/v2/models/{name}/versions/{version}/infer"): lambda c, r, me: c.post(
        f"/v2/models/{r.deployment}/versions/1/infer", json=V2_ROW
    ),
    ("POST", "/v1/datasets/{name}/versions"): lambda c, r, me: c.post(
        f"/v1/datasets/{r.dataset}/versions",
        files={"file": ("points.csv", b"x,label\n1,a\n2,b\n")},
        data={"metadata": "{}"},
    ),
    ("GET", "/v1/datasets/{name}"): lambda c, r, me: c.get(f"/v1/datasets/{r.dataset}"),
    ("GET", "/v1/datasets/{name}/versions"): lambda c, r, me: c.get(
        f"/v1/datasets/{r.dataset}/versions"
    ),
    ("GET", "/v1/datasets/{name}/versions/{version}"): lambda c, r, me: c.get(
        f"/v1/datasets/{r.dataset}/versions/1"
    ),
    ("GET", "/v1/datasets/{name}/preview"): lambda c, r, me: c.get(
        f"/v1/datasets/{r.dataset}/preview"
    ),
    ("GET", "/v1/jobs/{job_id}"): lambda c, r, me: c.get(f"/v1/jobs/{r.job}"),
    ("POST", "/v1/jobs/{job_id}:cancel"): lambda c, r, me: c.post(f"/v1/jobs/{r.job}:cancel"),
    ("DELETE", "/v1/jobs/{job_id}"): lambda c, r, me: c.delete(f"/v1/jobs/{r.job}"),
    ("GET", "/v1/jobs/{job_id}/logs"): lambda c, r, me: c.get(f"/v1/jobs/{r.job}/logs"),
    ("GET", "/v1/jobs/{job_id}/events"): lambda c, r, me: c.get(f"/v1/jobs/{r.job}/events"),
    ("GET", "/v1/orgs/{slug}"): lambda c, r, me: c.get(f"/v1/orgs/{r.slug}"),
    ("PATCH", "/v1/orgs/{slug}"): lambda c, r, me: c.patch(
        f"/v1/orgs/{r.slug}", json={"data_sharing_consent": True}
    ),
    ("GET", "/v1/orgs/{slug}/members"): lambda c, r, me: c.get(f"/v1/orgs/{r.slug}/members"),
    ("POST", "/v1/orgs/{slug}/members"): lambda c, r, me: c.post(
        f"/v1/orgs/{r.slug}/members", json={"email": "mole@example.com", "role": "owner"}
    ),
    ("DELETE", "/v1/orgs/{slug}/members/{member_id}"): lambda c, r, me: c.delete(
        f"/v1/orgs/{me.slug}/members/{r.member_id}"
    ),
    ("GET", "/v1/orgs/{slug}/keys"): lambda c, r, me: c.get(f"/v1/orgs/{r.slug}/keys"),
    ("POST", "/v1/orgs/{slug}/keys"): lambda c, r, me: c.post(
        f"/v1/orgs/{r.slug}/keys", json={"name": "mole", "role": "owner"}
    ),
    ("POST", "/v1/orgs/{slug}/keys/{key_id}:rotate"): lambda c, r, me: c.post(
        f"/v1/orgs/{me.slug}/keys/{r.key_id}:rotate"
    ),
    ("PATCH", "/v1/orgs/{slug}/keys/{key_id}"): lambda c, r, me: c.patch(
        f"/v1/orgs/{me.slug}/keys/{r.key_id}", json={"requests_per_minute": 1}
    ),
    ("DELETE", "/v1/orgs/{slug}/keys/{key_id}"): lambda c, r, me: c.delete(
        f"/v1/orgs/{me.slug}/keys/{r.key_id}"
    ),
    ("GET", "/v1/orgs/{slug}/invoices/{period}"): lambda c, r, me: c.get(
        f"/v1/orgs/{r.slug}/invoices/{PERIOD}"
    ),
    ("POST", "/v1/orgs/{slug}/invoices/{period}:finalize"): lambda c, r, me: c.post(
        f"/v1/orgs/{r.slug}/invoices/{PERIOD}:finalize"
    ),
    ("DELETE", "/v1/publications/{model}/{organisation}"): lambda c, r, me: c.delete(
        f"/v1/publications/{r.model}/{me.slug}"
    ),
    ("DELETE", "/v1/prices/{model}/{unit}"): lambda c, r, me: c.delete(
        f"/v1/prices/{r.model}/requests"
    ),
    ("GET", "/v1/retained/{model}"): lambda c, r, me: c.get(f"/v1/retained/{r.model}"),
}

# The same routes, called with the other organisation's slug in the path where the first
# call used the caller's own (keys and members are found through their organisation).
OWN_SLUG_VARIANTS: dict[tuple[str, str], Call] = {
    ("DELETE", "/v1/orgs/{slug}/members/{member_id}"): lambda c, r, me: c.delete(
        f"/v1/orgs/{r.slug}/members/{r.member_id}"
    ),
    ("POST", "/v1/orgs/{slug}/keys/{key_id}:rotate"): lambda c, r, me: c.post(
        f"/v1/orgs/{r.slug}/keys/{r.key_id}:rotate"
    ),
    ("PATCH", "/v1/orgs/{slug}/keys/{key_id}"): lambda c, r, me: c.patch(
        f"/v1/orgs/{r.slug}/keys/{r.key_id}", json={"requests_per_minute": 1}
    ),
    ("DELETE", "/v1/orgs/{slug}/keys/{key_id}"): lambda c, r, me: c.delete(
        f"/v1/orgs/{r.slug}/keys/{r.key_id}"
    ),
}

# Routes that name another organisation's objects in the body.
BODY_CALLS: dict[tuple[str, str], Call] = {
    ("POST", "/v1/deployments"): lambda c, r, me: c.post(
        "/v1/deployments", json={"model": r.model, "name": "mole", "isolation": "thread"}
    ),
    ("POST", "/v1/jobs"): lambda c, r, me: c.post(
        "/v1/jobs", json={"dataset": r.dataset, "spec": {"task": "classification"}}
    ),
    ("POST", "/v1/publications"): lambda c, r, me: c.post(
        "/v1/publications", json={"model": r.model, "organisation": me.slug}
    ),
    ("PUT", "/v1/prices"): lambda c, r, me: c.put(
        "/v1/prices", json={"model": r.model, "unit": "requests", "amount": "0"}
    ),
    ("POST", "/v1/tasks/sentiment"): lambda c, r, me: c.post(
        "/v1/tasks/sentiment", json={"model": r.vader, "input": "great"}
    ),
    ("POST", "/v1/tasks/language"): lambda c, r, me: c.post(
        "/v1/tasks/language", json={"model": r.vader, "input": "great"}
    ),
    ("POST", "/v1/tasks/entities"): lambda c, r, me: c.post(
        "/v1/tasks/entities", json={"model": r.vader, "input": "great"}
    ),
    ("POST", "/v1/tasks/translation"): lambda c, r, me: c.post(
        "/v1/tasks/translation",
        json={"model": r.vader, "input": "great", "source": "en", "target": "es"},
    ),
    ("POST", "/v1/tasks/image-classification"): lambda c, r, me: c.post(
        "/v1/tasks/image-classification", json={"model": r.deployment, "image": _png()}
    ),
    ("POST", "/v1/tasks/face-detection"): lambda c, r, me: c.post(
        "/v1/tasks/face-detection", json={"model": r.deployment, "image": _png()}
    ),
    ("POST", "/v1/tasks/face-verification"): lambda c, r, me: c.post(
        "/v1/tasks/face-verification",
        json={"model": r.deployment, "image": _png(), "other_image": _png()},
    ),
    ("POST", "/v1/tasks/ocr"): lambda c, r, me: c.post(
        "/v1/tasks/ocr", json={"model": r.deployment, "image": _png()}
    ),
    ("POST", "/v1/tasks/transcription"): lambda c, r, me: c.post(
        "/v1/tasks/transcription",
        json={"model": r.deployment, "audio": base64.b64encode(_wav()).decode()},
    ),
    ("POST", "/v1/tasks/speech"): lambda c, r, me: c.post(
        "/v1/tasks/speech", json={"model": r.deployment, "input": "hello"}
    ),
    ("POST", "/v1/embeddings"): lambda c, r, me: c.post(
        "/v1/embeddings", json={"model": r.vader, "input": "hello"}
    ),
    ("POST", "/v1/chat/completions"): lambda c, r, me: c.post(
        "/v1/chat/completions",
        json={"model": r.deployment, "messages": [{"role": "user", "content": "hi"}]},
    ),
    ("POST", "/v1/audio/transcriptions"): lambda c, r, me: c.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", _wav())},
        data={"model": r.deployment},
    ),
    ("POST", "/v1/audio/speech"): lambda c, r, me: c.post(
        "/v1/audio/speech", json={"model": r.deployment, "input": "hello", "voice": "default"}
    ),
}

# Lists: what the caller sees must name nothing of the other organisation.
LIST_PATHS = (
    "/v1/registry/models",
    "/v1/deployments",
    "/v1/models",
    "/v1/datasets",
    "/v1/jobs",
    "/v1/orgs",
    "/v1/audit",
    "/v1/prices",
    "/v1/usage",
    "/v1/revenue",
    "/v1/catalog",
    "/v1/plans",
    "/v2",
    "/metrics",
    "/readyz",
    "/livez",
    "/healthz",
    "/v2/health/live",
    "/v2/health/ready",
    "/v1/metrics",
    "/v1/me",
    "/v1/energy/method",
)

# Platform-wide objects with a path parameter: not any tenant's (the catalogue, plans,
# the console's files), covered by their own tests.
PLATFORM_PATHS = frozenset(
    {
        ("GET", "/v1/catalog/{name}"),
        ("PUT", "/v1/plans/{name}"),
        ("GET", "/console/{relative:path}"),
    }
)


# A bare name in a route that creates makes the caller's own object of that name: not foreign.
CREATES_UNDER_ITS_NAME = frozenset({("POST", "/v1/datasets/{name}/versions")})


def _normalised(response: httpx.Response, refs: Refs, owner: Tenant) -> tuple[int, str]:
    """The answer with the names asked for (and the owner's slug, which a qualified name
    carries whether or not the object exists) replaced by placeholders."""
    text = response.text
    for value in (refs.model, refs.deployment, refs.vader, refs.dataset, refs.job, refs.slug):
        text = text.replace(value, "<ref>")
    text = text.replace(owner.slug, "<ref>")
    for number in (refs.key_id, refs.member_id):
        text = re.sub(rf"\b{number}\b", "<id>", text)
    return response.status_code, text


def _other(world: World, me: Tenant) -> Tenant:
    return next(t for t in world.tenants.values() if t.slug != me.slug)


def _snapshot(world: World, tenant: Tenant) -> dict[str, Any]:
    """Everything of ``tenant`` another could change, as its owner sees it."""
    with tenant.client(world.server) as owner:
        models = owner.get("/v1/registry/models").json()["models"]
        own = [m for m in models if m["owner"] == tenant.slug]
        deployments = owner.get("/v1/deployments").json()["deployments"]
        return {
            "models": own,
            "versions": {
                m["name"]: owner.get(f"/v1/registry/models/{m['name']}/versions").json()
                for m in own
            },
            "deployments": [
                {k: d[k] for k in ("name", "model", "version", "alias", "instances", "state")}
                for d in deployments
            ],
            "datasets": owner.get("/v1/datasets").json(),
            "jobs": sorted(j["id"] for j in owner.get("/v1/jobs").json()["jobs"]),
            "org": owner.get(f"/v1/orgs/{tenant.slug}").json(),
            "members": owner.get(f"/v1/orgs/{tenant.slug}/members").json(),
            "keys": owner.get(f"/v1/orgs/{tenant.slug}/keys").json(),
            "prices": owner.get("/v1/prices").json(),
            "invoice": owner.get(f"/v1/orgs/{tenant.slug}/invoices/{PERIOD}").status_code,
            "audit": len(owner.get("/v1/audit", params={"limit": 1000}).json()["entries"]),
        }


def test_every_route_with_a_path_parameter_or_a_list_is_in_the_matrix(world: World) -> None:
    document = httpx.get(f"{world.server.url}/openapi.json").json()
    with_parameters = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if "{" in path
    }
    lists = {
        path
        for path, operations in document["paths"].items()
        if "get" in operations and "{" not in path
    }
    assert with_parameters - PATH_CALLS.keys() - PLATFORM_PATHS == set()
    assert lists - set(LIST_PATHS) == set()


@pytest.mark.parametrize("role", ROLES)
def test_a_foreign_object_answers_exactly_as_a_missing_one(world: World, role: str) -> None:
    before = {slug: _snapshot(world, tenant) for slug, tenant in world.tenants.items()}
    calls = {**PATH_CALLS, **BODY_CALLS}
    variants = list(calls.items()) + [
        ((method, path + " (in the other's organisation)"), call)
        for (method, path), call in OWN_SLUG_VARIANTS.items()
    ]
    differences = []
    for me in world.tenants.values():
        owner = _other(world, me)
        with me.client(world.server, role) as client:
            for refs in (_qualified(owner), _bare(owner)):
                missing = _missing(refs)
                for (method, path), call in variants:
                    if refs.model == owner.model and (method, path) in CREATES_UNDER_ITS_NAME:
                        continue
                    foreign_answer = call(client, refs, me)
                    missing_answer = call(client, missing, me)
                    if foreign_answer.is_success:
                        differences.append(f"{me.slug} {role} {method} {path}: 2xx on a foreign")
                    if _normalised(foreign_answer, refs, owner) != _normalised(
                        missing_answer, missing, owner
                    ):
                        differences.append(
                            f"{me.slug} {role} {method} {path}: foreign "
                            f"{foreign_answer.status_code} {foreign_answer.text[:300]} != missing "
                            f"{missing_answer.status_code} {missing_answer.text[:300]}"
                        )
    assert differences == []
    after = {slug: _snapshot(world, tenant) for slug, tenant in world.tenants.items()}
    assert after == before


@pytest.mark.parametrize("role", ROLES)
def test_lists_name_nothing_of_the_other_organisation(world: World, role: str) -> None:
    leaks = []
    for me in world.tenants.values():
        other = _other(world, me)
        with me.client(world.server, role) as client:
            for path in LIST_PATHS:
                answer = client.get(path)
                secrets = (f"{other.slug}:", other.model, other.vader, other.dataset, other.job_id)
                found = [secret for secret in secrets if secret in answer.text]
                if found:
                    leaks.append(f"{me.slug} {role} GET {path} names {found}")
    assert leaks == []


def test_anonymous_probes_name_nothing(world: World) -> None:
    with httpx.Client(base_url=world.server.url) as anonymous:
        for path in ("/livez", "/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"):
            answer = anonymous.get(path)
            assert answer.status_code == 200, path
            for tenant in world.tenants.values():
                assert tenant.slug not in answer.text, path
        assert anonymous.get("/metrics").status_code == 401
