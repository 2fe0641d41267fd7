"""Energy in inference responses: what a route adds to its ``usage``.

Every inference route adds :func:`energy_usage` to the ``usage`` it answers with and reports
(:func:`~modelmart.gateway.usage.report_usage` takes ``energy_joules`` out of the billed units
into the ledger's own column; the method and grams are for the caller only). Responses that
are not JSON (audio, subtitles) carry the same figures in headers (:func:`energy_headers`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from modelmart.billing.usage_records import ENERGY_UNIT
from modelmart.energy.meters import MICROJOULES_PER_JOULE, EnergySetup, joules

ENERGY_JOULES = ENERGY_UNIT  # the same name in a response's usage as in the ledger's reports
ENERGY_METHOD = "energy_method"
CO2E_GRAMS = "co2e_grams"
REPORTED_ONLY = frozenset({ENERGY_METHOD, CO2E_GRAMS})
"""Fields of a usage that describe its energy and are not billed units."""

ENERGY_HEADER = "X-Energy-Joules"
ENERGY_METHOD_HEADER = "X-Energy-Method"


def energy_setup_of(request: Request) -> EnergySetup:
    setup: EnergySetup = request.app.state.services.energy
    return setup


def energy_usage(request: Request, energy_uj: int) -> dict[str, Any]:
    """``energy_joules``, ``energy_method`` and (with a grid intensity) ``co2e_grams``."""
    setup = energy_setup_of(request)
    usage: dict[str, Any] = {ENERGY_JOULES: joules(energy_uj), ENERGY_METHOD: setup.method.value}
    grams = setup.co2e_grams(energy_uj)
    if grams is not None:
        usage[CO2E_GRAMS] = grams
    return usage


def energy_headers(request: Request, energy_uj: int) -> dict[str, str]:
    return {
        ENERGY_HEADER: str(joules(energy_uj)),
        ENERGY_METHOD_HEADER: energy_setup_of(request).method.value,
    }


def microjoules_of(amount: float | int | str) -> int:
    """Joules as a response wrote them, back to whole microjoules: exact, because responses
    write whole microjoules (the float nearest n / 10**6, which x 10**6 rounds back to n for
    any amount a request could use: tested up to a gigajoule)."""
    return round(float(amount) * MICROJOULES_PER_JOULE)
