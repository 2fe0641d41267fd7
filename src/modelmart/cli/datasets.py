"""``modelmart datasets ...``: upload, list, inspect and preview datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelmart.cli import output, training_tables
from modelmart.cli.session import client
from modelmart.schemas.datasets import DatasetKind

app = typer.Typer(help="Upload datasets and look at them.", no_args_is_help=True)


@app.command()
def push(
    ctx: typer.Context,
    name: str,
    path: Annotated[Path, typer.Argument(exists=True, help="A .csv/.parquet/.jsonl or a .zip.")],
    kind: Annotated[
        DatasetKind | None, typer.Option(help="Dataset kind; detected when omitted.")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Label column; default label, target or the last one.")
    ] = None,
    description: Annotated[str, typer.Option(help="Free text shown in listings.")] = "",
) -> None:
    """Upload a file as the next version of dataset NAME; it is validated before it is kept."""
    with client(ctx) as mm, output.upload_progress(f"Uploading {path.name}") as progress:
        info = mm.push_dataset(
            name, path, kind=kind, target=target, description=description, progress=progress
        )
    output.say(
        ctx, f"Pushed dataset {info.name} v{info.version} ({info.kind}, {info.summary.rows} rows)",
        info,
    )  # fmt: skip


@app.command("list")
def list_datasets(ctx: typer.Context) -> None:
    """List datasets (newest version of each)."""
    with client(ctx) as mm:
        output.show(ctx, mm.list_datasets(), training_tables.datasets_table)


@app.command()
def show(
    ctx: typer.Context,
    name: str,
    version: Annotated[int | None, typer.Option(help="Version; the newest by default.")] = None,
) -> None:
    """Show a dataset version: columns, types, missing values and class balance."""
    with client(ctx) as mm:
        output.show(ctx, mm.get_dataset(name, version), training_tables.dataset_details)


@app.command()
def preview(
    ctx: typer.Context,
    name: str,
    version: Annotated[int | None, typer.Option(help="Version; the newest by default.")] = None,
    rows: Annotated[int, typer.Option(min=1, max=1000, help="How many rows.")] = 10,
) -> None:
    """Print the first rows of a dataset."""
    with client(ctx) as mm:
        output.show(ctx, mm.preview_dataset(name, version, rows), training_tables.preview_table)
