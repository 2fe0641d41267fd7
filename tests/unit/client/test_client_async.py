"""The asyncio client used as asyncio code uses it: inside a running loop, concurrently."""

from __future__ import annotations

import asyncio
import inspect
import json

from modelmart.client import AsyncClient, Client

from .client_fakes import BASE_URL, FakeServer, deployment_view, version_info


async def test_requests_run_concurrently_on_one_client(server: FakeServer):
    for name in ("a", "b", "c"):
        server.on("GET", f"/v1/deployments/{name}", json=deployment_view(name))

    async with AsyncClient(BASE_URL, transport=server.transport()) as client:
        views = await asyncio.gather(*(client.get_deployment(n) for n in ("a", "b", "c")))

    assert [v.name for v in views] == ["a", "b", "c"]


async def test_push_and_deploy_in_a_running_loop(server: FakeServer, tmp_path):
    artifact = tmp_path / "m.onnx"
    artifact.write_bytes(b"z" * 100_000)
    server.on("POST", "/v1/registry/models/m/versions", 201, version_info("m"))
    server.on("POST", "/v1/deployments", 201, deployment_view("m"))
    sent: list[int] = []

    async with AsyncClient(BASE_URL, transport=server.transport()) as client:
        version = await client.push_version("m", artifact, progress=lambda s, _: sent.append(s))
        view = await client.deploy("m", version=version.version, max_batch_size=8)

    assert sent[-1] == 100_000
    assert json.loads(server.last.content)["max_batch_size"] == 8
    assert view.state == "ready"


def test_both_clients_offer_the_same_methods():
    public = {name for name in dir(Client) if not name.startswith("_")}
    async_public = {name for name in dir(AsyncClient) if not name.startswith("_")}

    assert public - {"close"} == async_public - {"aclose"}
    for name in public - {"close", "base_url"}:
        method = getattr(AsyncClient, name)
        # watch_job streams: an async generator (``async for``) rather than a coroutine.
        assert asyncio.iscoroutinefunction(method) or inspect.isasyncgenfunction(method), name
