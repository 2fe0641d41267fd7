"""``modelmart explain``: a deployment's predictions with each instance's attributions."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from modelmart.cli import output
from modelmart.cli.deployments import ExamplesData, ExamplesFile, examples
from modelmart.cli.session import client
from modelmart.schemas.explanations import Explanation, InstanceExplanation

BAR_WIDTH = 24
SHOWN = 10
"""Attributions listed per instance (the largest by magnitude)."""


def explain(
    ctx: typer.Context,
    name: str,
    data: ExamplesData = None,
    file: ExamplesFile = None,
    png_dir: Annotated[
        Path | None,
        typer.Option(file_okay=False, help="Write image heatmaps here as PNG files."),
    ] = None,
) -> None:
    """Send examples to deployment NAME and print its predictions with their attributions."""
    sent = examples(data, file)
    with client(ctx) as mm:
        explained = mm.explain(name, **sent)
    if png_dir is not None:
        write_heatmaps(explained, png_dir)
    output.show(ctx, explained, render_explanation)


def write_heatmaps(explained: Explanation, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for index, item in enumerate(explained.explanations):
        if item.heatmap_png is not None:
            path = directory / f"{explained.model}-{index}.png"
            path.write_bytes(base64.b64decode(item.heatmap_png))
            written.append(path)
    return written


def render_explanation(explained: Explanation) -> Group:
    heading = f"{explained.model} v{explained.version}: {explained.method.name}"
    parts: list[Table | Text] = [Text(f"{heading} ({_params(explained)})")]
    parts += [_instance_table(index, item) for index, item in enumerate(explained.explanations)]
    return Group(*parts)


def _params(explained: Explanation) -> str:
    return ", ".join(f"{key}={value}" for key, value in explained.method.parameters.items())


def _instance_table(index: int, item: InstanceExplanation) -> Table:
    title = (
        f"instance {index}: {item.target} = {item.output_value:.4g} (base {item.base_value:.4g})"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("input")
    table.add_column("attribution", justify="right")
    table.add_column("")
    names = item.features or item.tokens
    if names is None:  # a heatmap: rows of pixels
        table.add_row("heatmap", f"{len(item.attributions)} rows", "see --png-dir")
        return table
    values = [float(v) for v in item.attributions]
    peak = max((abs(v) for v in values), default=0.0) or 1.0
    order = sorted(range(len(values)), key=lambda i: -abs(values[i]))[:SHOWN]
    for i in order:
        bar = "█" * max(1, round(abs(values[i]) / peak * BAR_WIDTH)) if values[i] else ""
        table.add_row(names[i], f"{values[i]:+.4g}", Text(bar, "green" if values[i] > 0 else "red"))
    return table
