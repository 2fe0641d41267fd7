"""Energy in responses against fake endpoints: the usage fields, the headers, grams of CO2e
with a grid intensity, and ``GET /v1/energy/method``."""

from __future__ import annotations

from modelmart.energy.meters import EnergyMethod, EnergySetup
from modelmart.gateway.routes import energy, inference, tasks
from tests.unit.gateway.route_fakes import (
    FAKE_ENERGY_UJ,
    app_with,
    client_for,
    fake_endpoints,
)


async def test_a_prediction_names_its_energy_in_usage_and_headers() -> None:
    app = app_with(fake_endpoints(), modules=(inference, tasks))
    async with client_for(app) as http:
        response = await http.post("/v1/tasks/sentiment", json={"input": ["good day"]})
    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    assert usage["energy_joules"] == FAKE_ENERGY_UJ / 1_000_000
    assert usage["energy_method"] == "cpu-time-estimate"
    assert "co2e_grams" not in usage  # no grid intensity configured
    assert response.headers["x-energy-joules"] == "0.0025"
    assert response.headers["x-energy-method"] == "cpu-time-estimate"


async def test_a_grid_intensity_adds_grams_of_co2e() -> None:
    app = app_with(fake_endpoints(), modules=(inference, tasks))
    app.state.services.energy = EnergySetup(grid_g_per_kwh=360.0)
    async with client_for(app) as http:
        response = await http.post("/v1/tasks/sentiment", json={"input": ["good day"]})
    # 0.0025 J is 0.0025 / 3.6e6 kWh, at 360 g per kWh: 2.5e-7 g.
    assert response.json()["usage"]["co2e_grams"] == 0.0025 / 3_600_000 * 360.0


async def test_the_method_route_describes_the_measurement() -> None:
    app = app_with({}, modules=(energy,))
    app.state.services.energy = EnergySetup(EnergyMethod.CPU_TIME, 12.5, grid_g_per_kwh=200.0)
    async with client_for(app) as http:
        response = await http.get("/v1/energy/method")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "method": "cpu-time-estimate",
        "description": "estimated from CPU time x 12.5 W per core",
        "watts_per_core": 12.5,
        "grid_intensity_g_per_kwh": 200.0,
        "split": "rows of a batch; tokens of a generation step",
    }
