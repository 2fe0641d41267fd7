"""What every command shares: the global options and the one way to get an SDK client."""

from __future__ import annotations

from dataclasses import dataclass

import typer

from modelmart.client import Client


@dataclass(frozen=True)
class Session:
    """The global options: which server to talk to, and whether to print raw JSON."""

    url: str
    json: bool


def make_client(url: str) -> Client:
    """The SDK client for ``url``. Every command gets its client here, so tests replace this
    one function to run the CLI against a fake server."""
    return Client(url)


def session(ctx: typer.Context) -> Session:
    found = ctx.find_object(Session)
    if found is None:  # a command invoked without the app callback (never from the shell)
        raise RuntimeError("the modelmart app callback did not run; invoke commands through it")
    return found


def client(ctx: typer.Context) -> Client:
    """A new client for the server named by ``--url``; use it as a context manager."""
    return make_client(session(ctx).url)
