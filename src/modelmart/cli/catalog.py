"""``modelmart catalog``: the built-in models, ready to deploy by name."""

from __future__ import annotations

from typing import Annotated

import typer

from modelmart.cli import output, tables
from modelmart.cli.session import client


def catalog(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Show this model's whole card.")] = None,
) -> None:
    """List the built-in catalogue, or show the card of model NAME; deploy one with
    modelmart deploy NAME."""
    with client(ctx) as mm:
        if name is None:
            output.show(ctx, mm.catalog(), tables.catalog_table)
        else:
            output.show(ctx, mm.catalog_entry(name), tables.catalog_card)
