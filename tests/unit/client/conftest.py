"""The two SDK clients pointed at a fake server.

The ``mm`` fixture runs a test once with :class:`Client` and once with :class:`AsyncClient`
(each coroutine run to completion), so both clients are held to the same behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from modelmart.client import AsyncClient, Client

from .client_fakes import BASE_URL, Blocking, FakeServer


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture(params=["sync", "async"])
def mm(request: pytest.FixtureRequest, server: FakeServer) -> Iterator[Any]:
    if request.param == "sync":
        with Client(BASE_URL, transport=server.transport()) as client:
            yield client
        return
    async_client = AsyncClient(BASE_URL, transport=server.transport())
    yield Blocking(async_client)
    asyncio.run(async_client.aclose())
