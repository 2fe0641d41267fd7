"""What the ledger records for a served request (:class:`UsageEntry`) and, with an
idempotency key, the response it keeps for a replay (:class:`StoredResponse`).

A record's energy is kept apart from its billed units, in whole microjoules; everything that
adds records up (rollups, reports, invoices) counts it as the unit :data:`ENERGY_UNIT`, whose
millionths are exactly microjoules (:func:`recorded_micros`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from modelmart.billing.money import micro_units

ENERGY_UNIT = "energy_joules"


def recorded_micros(units: Mapping[str, Any], energy_uj: int) -> Iterator[tuple[str, int]]:
    """A record's units in millionths, its energy (if any) as :data:`ENERGY_UNIT`."""
    for unit, amount in units.items():
        yield unit, micro_units(amount)
    if energy_uj:
        yield ENERGY_UNIT, energy_uj


@dataclass(frozen=True)
class StoredResponse:
    status: int
    media_type: str
    body: bytes


class UsageEntry(NamedTuple):
    """One served request as the ledger records it (a named tuple: one is built per request,
    in about half the time of a frozen dataclass)."""

    request_id: str
    org_id: int
    key_id: int | None
    model: str
    version: int
    units: dict[str, float]
    latency_ms: float
    idempotency_key: str | None = None
    response: StoredResponse | None = None
    request_hash: str | None = None  # with an idempotency key: the request it belongs to
    energy_uj: int = 0  # the energy the request's share of its batches used, in microjoules
