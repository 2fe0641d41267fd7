"""The server the OpenAI-surface tests use (one per module, stopped at its end so the other
modules' tests see only their own worker): the catalogue's SmolLM2 chat model in a worker
process, and the official SDK pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest

from modelmart import Client, Settings
from tests.integration.servers import LiveServer, live_server

CHAT = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("openai")
    settings = Settings(data_dir=directory / "data", json_logs=False, auth_enabled=False)
    with live_server(settings) as running, Client(running.url) as mm:
        mm.deploy(CHAT)
        yield running


@pytest.fixture
def sdk(chat_server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{chat_server.url}/v1", api_key="unused", max_retries=0, timeout=300
    ) as client:
        yield client


@pytest.fixture
async def async_sdk(chat_server: LiveServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{chat_server.url}/v1", api_key="unused", max_retries=0, timeout=300
    ) as client:
        yield client
