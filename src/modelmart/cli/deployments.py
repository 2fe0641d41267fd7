"""Serving commands: ``deploy``, ``deployments``, ``scale``, ``undeploy`` and ``predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from modelmart.cli import output, tables
from modelmart.cli.models import read_json_file
from modelmart.cli.session import client, session
from modelmart.schemas.deployments import Isolation, parse_cpu_list
from modelmart.schemas.pii import PiiPolicy


def deploy(  # noqa: PLR0913 - one option per deployment setting
    ctx: typer.Context,
    model: str,
    *,
    version: Annotated[int | None, typer.Option(help="Pin this version.", min=1)] = None,
    alias: Annotated[str | None, typer.Option(help="Follow this alias as it moves.")] = None,
    name: Annotated[str | None, typer.Option(help="Deployment name.", show_default="MODEL")] = None,
    instances: Annotated[int, typer.Option(help="Model instances to run.", min=1)] = 1,
    max_batch_size: Annotated[int, typer.Option(help="Most requests per batch.", min=1)] = 32,
    max_delay_ms: Annotated[float, typer.Option(help="Longest wait to fill a batch.")] = 5.0,
    timeout_s: Annotated[float | None, typer.Option(help="Time limit per batch.")] = None,
    isolation: Annotated[Isolation, typer.Option(help="Where instances run.")] = Isolation.PROCESS,
    wait: Annotated[bool, typer.Option(help="Return once every instance has loaded.")] = True,
    min_instances: Annotated[
        int | None, typer.Option(help="Autoscale down to this many (0: scale to zero).", min=0)
    ] = None,
    max_instances: Annotated[
        int | None, typer.Option(help="Autoscale up to this many.", min=1)
    ] = None,
    target_ongoing_requests: Annotated[
        float | None, typer.Option(help="Queued or running requests per instance to aim for.")
    ] = None,
    pii_policy: Annotated[
        PiiPolicy | None, typer.Option(help="PII policy for this deployment's requests.")
    ] = None,
    max_queued_requests: Annotated[
        int | None,
        typer.Option(help="Requests its queue holds before refusing.", show_default="server's"),
    ] = None,
    cpus: Annotated[
        str | None, typer.Option(help="CPUs its worker processes run on, such as 0-1,4.")
    ] = None,
) -> None:
    """Serve MODEL: a pinned --version, a moving --alias, or else its latest version. With
    --min-instances or --max-instances, the server scales it with its load; with --cpus, its
    instances keep to those CPUs."""
    if version is not None and alias is not None:
        raise typer.BadParameter("give --version or --alias, not both", param_hint="--alias")
    cpu_ids = None if cpus is None else _cpu_ids(cpus)
    with client(ctx) as mm, output.spinner(f"Deploying {model}", enabled=wait):
        view = mm.deploy(
            model, wait=wait, version=version, alias=alias, name=name, instances=instances,
            max_batch_size=max_batch_size, max_delay_ms=max_delay_ms, timeout_s=timeout_s,
            isolation=isolation, min_instances=min_instances, max_instances=max_instances,
            target_ongoing_requests=target_ongoing_requests,
            max_queued_requests=max_queued_requests, cpus=cpu_ids,
            **({} if pii_policy is None else {"pii_policy": pii_policy.value}),
        )  # fmt: skip
    output.show(ctx, view, tables.deployment_table)


def _cpu_ids(text: str) -> list[int]:
    try:
        return sorted(parse_cpu_list(text))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a CPU list; write ids and ranges such as 0-1,4", param_hint="--cpus"
        ) from None


def list_deployments(ctx: typer.Context) -> None:
    """List deployments with their state, instances and queue."""
    with client(ctx) as mm:
        output.show(ctx, mm.list_deployments(), tables.deployments_table)


def scale(
    ctx: typer.Context,
    name: str,
    instances: Annotated[int, typer.Argument(help="Instances to run.", min=1)],
) -> None:
    """Run NAME on INSTANCES instances, without dropping requests."""
    with client(ctx) as mm, output.spinner(f"Scaling {name} to {instances}"):
        view = mm.scale(name, instances)
    output.show(ctx, view, tables.deployment_table)


def autoscale(
    ctx: typer.Context,
    name: str,
    min_instances: Annotated[
        int, typer.Option("--min", help="Fewest instances (0: scale to zero).", min=0)
    ],
    max_instances: Annotated[int, typer.Option("--max", help="Most instances.", min=1)],
    target_ongoing_requests: Annotated[
        float | None, typer.Option("--target", help="Queued or running requests per instance.")
    ] = None,
) -> None:
    """Let the server scale NAME between --min and --max instances with its load (equal
    bounds pin the count)."""
    with client(ctx) as mm, output.spinner(f"Autoscaling {name}"):
        changes: dict[str, Any] = {"min_instances": min_instances, "max_instances": max_instances}
        if target_ongoing_requests is not None:
            changes["target_ongoing_requests"] = target_ongoing_requests
        view = mm.update_deployment(name, **changes)
    output.show(ctx, view, tables.deployment_table)


def undeploy(ctx: typer.Context, name: str) -> None:
    """Stop serving NAME once its queued requests are answered."""
    with client(ctx) as mm, output.spinner(f"Undeploying {name}"):
        mm.undeploy(name)
    output.say(ctx, f"Undeployed {name}", {"name": name, "undeployed": True})


ExamplesData = Annotated[str | None, typer.Option("--data", help="JSON list of instances.")]
ExamplesFile = Annotated[
    Path | None, typer.Option("--file", exists=True, dir_okay=False, help="JSON file of instances.")
]
"""The options that give a command its examples (read by :func:`examples`)."""


def examples(data: str | None, file: Path | None) -> dict[str, Any]:
    """``{"instances": [...]}`` or ``{"inputs": {...}}`` from --data or --file."""
    if (data is None) == (file is None):
        raise typer.BadParameter("give the examples with --data or --file (one of them)")
    if file is not None:
        parsed = read_json_file(file, "--file")
    else:
        try:
            parsed = orjson.loads(data or "")
        except orjson.JSONDecodeError as exc:
            raise typer.BadParameter(f"not valid JSON: {exc}", param_hint="--data") from exc
    if isinstance(parsed, list):
        return {"instances": parsed}
    if isinstance(parsed, dict) and parsed.keys() & {"instances", "inputs"}:
        return {key: parsed[key] for key in ("instances", "inputs") if key in parsed}
    raise typer.BadParameter(
        'expected a JSON list of instances, or {"instances": [...]} or {"inputs": {...}}'
    )


def predict(
    ctx: typer.Context, name: str, data: ExamplesData = None, file: ExamplesFile = None
) -> None:
    """Send examples to deployment NAME and print its predictions as JSON."""
    sent = examples(data, file)
    with client(ctx) as mm:
        predictions = mm.predict(name, **sent)
    if session(ctx).json:
        output.print_json(predictions)
    else:
        output.console().print_json(data=predictions)
