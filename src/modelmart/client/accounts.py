"""Flows for accounts and billing: keys, usage and invoices."""

from __future__ import annotations

from typing import Any, TypedDict

from modelmart.client.core import (
    Call,
    Flow,
    load_json,
    parse,
    parse_list,
    raise_for_error,
    segment,
    validated,
)
from modelmart.schemas.accounts import CreatedKey, KeyCreate, KeyUpdate, KeyView, OrganizationView
from modelmart.schemas.roles import Role


def whoami() -> Flow[dict[str, Any]]:
    response = yield Call("GET", "/v1/me")
    data: dict[str, Any] = load_json(response)
    return data


def create_key(
    org: str,
    name: str,
    role: Role | str,
    models: list[str] | None,
    expires_in_days: int | None,
    pii_policy: str | None = None,
) -> Flow[CreatedKey]:
    body = validated(
        KeyCreate,
        "key",
        name=name,
        role=role,
        models=models,
        expires_in_days=expires_in_days,
        pii_policy=pii_policy,
    )
    response = yield Call(
        "POST", f"/v1/orgs/{segment(org)}/keys", json=body.model_dump(mode="json")
    )
    return parse(response, CreatedKey)


def set_org_pii_policy(org: str, policy: str) -> Flow[OrganizationView]:
    """Set ``org``'s PII policy; the server names the valid ones if ``policy`` is not."""
    response = yield Call("PATCH", f"/v1/orgs/{segment(org)}", json={"pii_policy": policy})
    return parse(response, OrganizationView)


def list_keys(org: str) -> Flow[list[KeyView]]:
    response = yield Call("GET", f"/v1/orgs/{segment(org)}/keys")
    return parse_list(response, "keys", KeyView)


def revoke_key(org: str, key_id: int) -> Flow[KeyView]:
    response = yield Call("DELETE", f"/v1/orgs/{segment(org)}/keys/{key_id}")
    return parse(response, KeyView)


class KeyChanges(TypedDict, total=False):
    """What :meth:`update_key` may change; None clears it."""

    requests_per_minute: int | None
    pii_policy: str | None


def update_key(org: str, key_id: int, changes: KeyChanges) -> Flow[KeyView]:
    """Change a key's own rate limit or PII policy: only the fields given are sent."""
    update = validated(KeyUpdate, "key update", **changes)
    response = yield Call(
        "PATCH",
        f"/v1/orgs/{segment(org)}/keys/{key_id}",
        json=update.model_dump(mode="json", exclude_unset=True),
    )
    return parse(response, KeyView)


def rotate_key(org: str, key_id: int) -> Flow[CreatedKey]:
    response = yield Call("POST", f"/v1/orgs/{segment(org)}/keys/{key_id}:rotate")
    return parse(response, CreatedKey)


def usage(group_by: str, organisation: str | None) -> Flow[list[dict[str, Any]]]:
    params = {"group_by": group_by}
    if organisation:
        params["organisation"] = organisation
    response = yield Call("GET", "/v1/usage", params=params)
    rows: list[dict[str, Any]] = load_json(response)["usage"]
    return rows


def invoice(org: str, period: str, format: str) -> Flow[Any]:
    """The invoice as a dict (``json``) or as text (``csv``, ``html``)."""
    response = yield Call(
        "GET", f"/v1/orgs/{segment(org)}/invoices/{segment(period)}", params={"format": format}
    )
    if format == "json":
        return load_json(response)
    raise_for_error(response)
    return response.text
