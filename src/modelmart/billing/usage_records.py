"""What the ledger records for a served request (:class:`UsageEntry`) and, with an
idempotency key, the response it keeps for a replay (:class:`StoredResponse`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


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
