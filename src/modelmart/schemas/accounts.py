"""What the accounts API returns: plain pydantic views of the rows, never secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from modelmart.schemas.pii import POLICY_FIELD_DOC
from modelmart.schemas.roles import Role

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MAX_PER_MINUTE = 10**9
"""A rate no key needs more of (and well within what the database's integers hold)."""
BUDGET_PATTERN = r"^([0-9]{1,12}(\.[0-9]{1,6})?)?$"
"""A monthly budget: a plain decimal amount, or '' for none."""


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=SLUG_PATTERN, description="lower-case letters, digits and '-'")
    name: str = Field(min_length=1, max_length=128)
    plan: str = Field(default="free", min_length=1)
    data_sharing_consent: StrictBool = False
    owner_email: str | None = Field(
        default=None,
        pattern=EMAIL_PATTERN,
        description="first member, as owner; their key is returned once",
    )


class OrganizationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str | None = None
    data_sharing_consent: StrictBool | None = None
    monthly_budget: str | None = Field(
        default=None,
        pattern=BUDGET_PATTERN,
        description="spend limit per month as a decimal string, '' to remove",
    )
    budget_action: str | None = Field(default=None, pattern=r"^(stop|alert)$")
    pii_policy: str | None = Field(default=None, json_schema_extra=POLICY_FIELD_DOC)


class OrganizationView(BaseModel):
    id: int
    slug: str
    name: str
    plan: str
    is_operator: bool
    data_sharing_consent: bool
    monthly_budget: str | None
    budget_action: str
    pii_policy: str | None = None
    created_at: datetime


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL_PATTERN)
    role: Role = Role.DEVELOPER


class MemberView(BaseModel):
    id: int
    email: str
    role: Role
    created_at: datetime


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    role: Role = Role.INFERENCE
    models: list[str] | None = Field(
        default=None, description="models this key may use; all the organisation's if omitted"
    )
    expires_in_days: int | None = Field(default=None, gt=0, le=3650)
    requests_per_minute: int | None = Field(
        default=None, gt=0, le=MAX_PER_MINUTE, description="this key's own limit, below the plan's"
    )
    pii_policy: str | None = Field(default=None, json_schema_extra=POLICY_FIELD_DOC)


class KeyUpdate(BaseModel):
    """What may change on a key while it stays the same key (its role and models do not: make
    a new key for those). Omitted fields keep their value; null clears one."""

    model_config = ConfigDict(extra="forbid")

    requests_per_minute: int | None = Field(
        default=None,
        gt=0,
        le=MAX_PER_MINUTE,
        description="this key's own limit, below the plan's; null leaves the plan's alone",
    )
    pii_policy: str | None = Field(
        default=None,
        json_schema_extra={
            **POLICY_FIELD_DOC,
            "description": "this key's PII policy; null leaves the organisation's and the "
            "deployment's",
        },
    )


class KeyView(BaseModel):
    id: int
    name: str
    prefix: str
    role: Role
    models: list[str] | None
    requests_per_minute: int | None
    pii_policy: str | None = None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class CreatedKey(KeyView):
    """Returned once, when a key is made or rotated: the only time ``key`` is shown."""

    key: str


class AuditEntry(BaseModel):
    id: int
    at: datetime
    org_id: int | None
    key_id: int | None
    action: str
    target: str
    details: dict[str, Any]
    address: str
