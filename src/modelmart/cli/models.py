"""``modelmart models ...``: register models, push versions and move aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table
from rich.text import Text

from modelmart.cli import output, tables
from modelmart.cli.session import client
from modelmart.schemas.registry import VersionCard
from modelmart.types import ArtifactFormat, Task

app = typer.Typer(help="Register models, push versions and point aliases.", no_args_is_help=True)


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, Any] | None:
    """``["lr=0.1", "opt=adam"]`` as ``{"lr": 0.1, "opt": "adam"}``: each value is read as JSON
    when it is JSON (numbers, booleans, lists), else kept as text."""
    if not pairs:
        return None
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint=option)
        try:
            parsed[key] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed[key] = raw
    return parsed


def read_json_file(path: Path, option: str) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise typer.BadParameter(f"{path} is not valid JSON: {exc}", param_hint=option) from exc


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """List registered models."""
    with client(ctx) as mm:
        output.show(ctx, mm.list_models(), tables.models_table)


@app.command()
def show(ctx: typer.Context, name: str) -> None:
    """Show one model: task, latest version and aliases."""
    with client(ctx) as mm:
        output.show(ctx, mm.get_model(name), tables.model_details)


@app.command()
def create(
    ctx: typer.Context,
    name: str,
    task: Annotated[Task, typer.Option(help="What the model does.")],
    description: Annotated[str, typer.Option(help="Free text shown in listings.")] = "",
    owner: Annotated[str, typer.Option(help="Who to ask about the model.")] = "",
) -> None:
    """Register a new model name, to push versions under."""
    with client(ctx) as mm:
        model = mm.create_model(name, task, description=description, owner=owner)
    output.say(ctx, f"Created model {model.name} ({model.task})", model)


@app.command()
def push(  # noqa: PLR0913, PLR0917 - one option per piece of version metadata
    ctx: typer.Context,
    name: str,
    path: Annotated[Path, typer.Argument(exists=True, help="Model file, or directory to zip.")],
    artifact_format: Annotated[
        ArtifactFormat | None,
        typer.Option("--format", help="Artifact format; detected from the file when omitted."),
    ] = None,
    signature: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Signature JSON: inputs and outputs."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY=VALUE", help="Training parameter; repeat for more."),
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY=VALUE", help="Evaluation metric; repeat for more."),
    ] = None,
    task: Annotated[Task | None, typer.Option(help="Create the model first if missing.")] = None,
    card: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="Model card JSON: intended_use, limits, licence."
        ),
    ] = None,
) -> None:
    """Upload a model file or directory as the next version of NAME."""
    signature_json = None if signature is None else read_json_file(signature, "--signature")
    card_json = None if card is None else read_json_file(card, "--card")
    parameters, metrics = parse_pairs(param, "--param"), parse_pairs(metric, "--metric")
    with client(ctx) as mm, output.upload_progress(f"Uploading {path.name}") as progress:
        version = mm.push_version(
            name, path, format=artifact_format, signature=signature_json,
            parameters=parameters, metrics=metrics, task=task, progress=progress,
            card=card_json,
        )  # fmt: skip
    output.say(ctx, f"Pushed {version.model} v{version.version} ({version.format})", version)


@app.command()
def versions(ctx: typer.Context, name: str) -> None:
    """List the versions of a model."""
    with client(ctx) as mm:
        output.show(ctx, mm.list_versions(name), tables.versions_table)


@app.command()
def alias(ctx: typer.Context, name: str, alias: str, version: int) -> None:
    """Point ALIAS (such as production) at VERSION; deployments following it move along."""
    with client(ctx) as mm, output.spinner(f"Moving {name}@{alias} to v{version}"):
        info = mm.set_alias(name, alias, version)
    output.say(ctx, f"{info.model}@{info.alias} → v{info.version}", info)


@app.command()
def card(
    ctx: typer.Context,
    name: str,
    version: Annotated[
        str, typer.Option("--version", help="Version number or alias such as production.")
    ] = "latest",
    markdown: Annotated[bool, typer.Option(help="Print the card as Markdown.")] = False,
) -> None:
    """Show the model card of a version: use, data, quality, limits, licence, energy."""
    with client(ctx) as mm:
        if markdown:
            typer.echo(mm.model_card_markdown(name, version), nl=False)
            return
        found = mm.model_card(name, version)
    output.show(ctx, found, card_table)


def card_table(found: VersionCard) -> Table:
    """The card's facts; every value is plain text (``Text``), never Rich markup, because
    names, uses and licences come from uploaders."""
    table = Table(show_header=False, title=f"Model card: {found.model} v{found.version}")
    table.add_column(style="bold")
    table.add_column()
    quality = [
        f"{m.metric} = {m.value:.4g} on {m.evaluation_set or 'an unnamed set'}"
        for m in found.quality
    ]
    energy = found.energy_per_item
    rows = {
        "source": found.source,
        "task": found.task.value,
        "runtime": f"{found.runtime.value} ({found.format.value})",
        "intended use": found.intended_use or "not declared",
        "dataset": _dataset(found),
        "training job": found.training.training_job or "-",
        "quality": "\n".join(quality) or "not evaluated",
        "limits": "\n".join(found.limits) or "-",
        "licence": found.licence,
        "energy per item": (
            f"{energy.joules_per_item:.4g} J ({energy.method})" if energy else "not measured"
        ),
        "explanations": found.explanation.method or found.explanation.reason or "-",
    }
    for label, value in rows.items():
        table.add_row(label, Text(value))
    return table


def _dataset(found: VersionCard) -> str:
    lineage = found.training
    if lineage.dataset is None:
        return "not recorded"
    suffix = f" v{lineage.dataset_version}" if lineage.dataset_version is not None else ""
    return f"{lineage.dataset}{suffix}"
