"""What a request used, in billable units, as the route that served it reports it.

Every inference route calls :func:`report_usage` once it has a result, with the deployment
that served it and the units consumed (``requests``, ``tokens``, ``images``,
``audio_seconds``, ``characters``, ...). Its route class
(:class:`~modelmart.gateway.metering.MeteredRoute`) reads it back with :func:`reported_usage`
when the response goes out; a request that reports nothing (an error) is not billed. The
units also appear in the response body, so a customer can check their bill against what they
were told.

A usage's ``energy_joules`` (:mod:`modelmart.gateway.energy`) is not a billed unit: it is
kept apart, in whole microjoules, for the ledger's energy column; the fields that only
describe it (method, grams of CO2e) are not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from modelmart.gateway.energy import ENERGY_JOULES, REPORTED_ONLY, microjoules_of

_STATE_KEY = "modelmart.usage"


@dataclass(frozen=True)
class Usage:
    """Units one request consumed on one model version, and its energy in microjoules."""

    model: str
    version: int
    units: Mapping[str, float] = field(default_factory=dict)
    energy_uj: int = 0


def report_usage(request: Request, model: str, version: int, units: Mapping[str, Any]) -> None:
    """Record what ``request`` used; ``requests: 1`` is always part of it."""
    counted = {"requests": 1.0}
    energy_uj = 0
    for unit, amount in units.items():
        if unit == ENERGY_JOULES:
            energy_uj = microjoules_of(amount)
        elif unit not in REPORTED_ONLY:
            counted[unit] = float(amount)
    usage = Usage(model=model, version=version, units=counted, energy_uj=energy_uj)
    _state(request.scope)[_STATE_KEY] = usage


def reported_usage(scope: MutableMapping[str, Any]) -> Usage | None:
    """The usage a route reported for the request of ``scope``, if any."""
    usage = _state(scope).get(_STATE_KEY)
    return usage if isinstance(usage, Usage) else None


def _state(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    # Starlette keeps request.state in scope["state"]; a middleware sees the same dict.
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def batch_rows(batch: Mapping[str, Any]) -> int:
    """Rows in a request's batch (the first dimension of its first input), for ``items``."""
    for array in batch.values():
        shape = getattr(array, "shape", ())
        return int(shape[0]) if shape else 1
    return 0
