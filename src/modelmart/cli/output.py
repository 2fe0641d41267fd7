"""How the CLI writes: Rich tables for people, raw JSON for scripts (``--json``), errors in red
on stderr, and progress on stderr so that stdout stays clean for pipes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
import typer
from pydantic import BaseModel
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from modelmart.cli.session import session
from modelmart.client.uploads import Progress as ProgressCallback
from modelmart.errors import ModelMartError

T = TypeVar("T")


def console(*, stderr: bool = False) -> Console:
    # Made per use, not once at import: the streams may be swapped (CliRunner, redirection).
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def jsonable(data: Any) -> Any:
    """``data`` with every pydantic model turned into plain JSON types."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [jsonable(item) for item in data]
    if isinstance(data, dict):
        return {key: jsonable(value) for key, value in data.items()}
    return data


def print_json(data: Any) -> None:
    typer.echo(orjson.dumps(jsonable(data), option=orjson.OPT_INDENT_2).decode())


def show(ctx: typer.Context, data: T, render: Callable[[T], RenderableType]) -> None:
    """Print ``data`` as JSON under ``--json``, else as ``render`` draws it."""
    if session(ctx).json:
        print_json(data)
    else:
        console().print(render(data))


def say(ctx: typer.Context, message: str, data: Any) -> None:
    """Confirm an action: ``message`` for people, ``data`` as JSON under ``--json``."""
    if session(ctx).json:
        print_json(data)
    else:
        console().print(Text(message, style="green"))


def report_error(exc: ModelMartError) -> None:
    """``error [code]: message`` in red on stderr, unwrapped so that it greps as one line."""
    console(stderr=True).print(
        Text(f"error [{exc.code}]: {exc.message}", style="bold red"), soft_wrap=True
    )


@contextmanager
def upload_progress(label: str) -> Iterator[ProgressCallback]:
    """A progress bar on stderr, and the ``progress`` callback that moves it. The bar appears
    with the first report, so a push refused before uploading leaves no empty bar behind."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    bar = Progress(*columns, console=console(stderr=True))
    tasks: list[TaskID] = []

    def advance(sent: int, total: int) -> None:
        if not tasks:
            bar.start()
            tasks.append(bar.add_task(label, total=total))
        bar.update(tasks[0], completed=sent, total=total)

    try:
        yield advance
    finally:
        if tasks:  # stopping a bar that never started still prints a blank line
            bar.stop()


@contextmanager
def spinner(message: str, *, enabled: bool = True) -> Iterator[None]:
    """A spinner on stderr while the server works (loading a model)."""
    if not enabled:
        yield
        return
    with console(stderr=True).status(Text(message)):
        yield
