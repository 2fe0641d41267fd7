"""A real ModelMart server on a loopback port, in a thread of the test process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from modelmart.config import Settings
from modelmart.gateway.app import create_app
from modelmart.serving.placement import Placement

_START_TIMEOUT_S = 60


@dataclass(frozen=True)
class LiveServer:
    url: str
    settings: Settings


@contextmanager
def live_server(settings: Settings, placement: Placement | None = None) -> Iterator[LiveServer]:
    """Serve ``create_app(settings)`` on 127.0.0.1 with a free port until the block exits."""
    config = uvicorn.Config(
        create_app(settings, placement),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start; see the log above")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
