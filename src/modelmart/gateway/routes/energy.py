"""How this server measures the energy of each request (read-only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from modelmart.gateway.auth import Reader
from modelmart.gateway.services import Services, get_services

router = APIRouter(tags=["energy"])
ServicesDep = Annotated[Services, Depends(get_services)]


@router.get("/v1/energy/method")
async def energy_method(principal: Reader, services: ServicesDep) -> dict[str, Any]:
    """The method every inference usage's ``energy_joules`` comes from (``rapl``: the CPU
    packages' energy counters; ``cpu-time-estimate``: the batch's CPU time x
    ``watts_per_core``; ``off``), in words, and the grid intensity ``co2e_grams`` is
    computed with (null: not reported). A batch's energy is split among its requests by rows,
    a generation step's by tokens."""
    setup = services.energy
    return {
        "method": setup.method.value,
        "description": setup.description(),
        "watts_per_core": setup.watts_per_core,
        "grid_intensity_g_per_kwh": setup.grid_g_per_kwh,
        "split": "rows of a batch; tokens of a generation step",
    }
