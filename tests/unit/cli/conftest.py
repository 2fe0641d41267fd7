"""The CLI run in-process with ``CliRunner``, its SDK client pointed at a fake server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from modelmart.cli import session
from modelmart.cli.main import app
from modelmart.client import Client

from .cli_fakes import FakeServer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    fake = FakeServer()

    def make_client(url: str) -> Client:
        fake.urls.append(url)
        return Client(url, transport=httpx.MockTransport(fake))

    monkeypatch.setattr(session, "make_client", make_client)
    return fake


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run ``modelmart ARGS...``; a wide terminal keeps table cells on one line."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("MODELMART_URL", raising=False)
    runner = CliRunner()

    def run(*args: str, **kwargs: Any) -> Result:
        return runner.invoke(app, list(args), **kwargs)

    return run
