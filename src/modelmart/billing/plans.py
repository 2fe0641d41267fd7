"""Plans: what an organisation pays monthly, what is included, and its limits."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_serializer

UNITS = (
    "requests",
    "items",
    "tokens",
    "images",
    "audio_seconds",
    "characters",
    "explanations",
)
"""The units routes report (see :mod:`modelmart.gateway.usage`) and prices are set in."""


class PlanKind(StrEnum):
    FREE = "free"  # included units only; a hard stop when they are used up
    PAY_AS_YOU_GO = "pay-as-you-go"  # every unit at list price
    SUBSCRIPTION = "subscription"  # monthly fee, included units, overage at list price
    DATA_SHARING = "data-sharing"  # free, in exchange for keeping (redacted) inputs


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    kind: PlanKind
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    monthly_fee: Decimal = Field(default=Decimal(0), ge=0)
    included_units: dict[str, Decimal] = Field(
        default_factory=dict, description="units per month at no charge, e.g. {'requests': 1000}"
    )
    monthly_quota: dict[str, Decimal] = Field(
        default_factory=dict, description="hard monthly limits per unit; requests stop beyond"
    )
    requests_per_minute: int | None = Field(default=None, gt=0)
    units_per_minute: dict[str, Annotated[int, Field(strict=True, gt=0)]] = Field(
        default_factory=dict, description="per-minute limits per unit, e.g. {'tokens': 20000}"
    )

    @field_serializer("monthly_fee")
    def _fee(self, value: Decimal) -> str:
        return str(value)

    @field_serializer("included_units", "monthly_quota")
    def _units(self, value: dict[str, Decimal]) -> dict[str, str]:
        return {unit: str(amount) for unit, amount in value.items()}


DEFAULT_PLANS = (
    Plan(
        name="free",
        kind=PlanKind.FREE,
        included_units={"requests": Decimal(1000)},
        monthly_quota={"requests": Decimal(1000)},
        requests_per_minute=60,
    ),
    Plan(name="pay-as-you-go", kind=PlanKind.PAY_AS_YOU_GO, requests_per_minute=600),
    Plan(
        name="pro",
        kind=PlanKind.SUBSCRIPTION,
        monthly_fee=Decimal("49.00"),
        included_units={"requests": Decimal(100_000), "tokens": Decimal(5_000_000)},
        requests_per_minute=3000,
    ),
    Plan(name="data-sharing", kind=PlanKind.DATA_SHARING, requests_per_minute=60),
)
"""Seeded on first start; the operator can change prices and add plans through the API."""
