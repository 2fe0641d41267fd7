"""``modelmart train``, ``modelmart jobs ...``, ``modelmart report`` and ``modelmart compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from modelmart.cli import output, training_tables
from modelmart.cli.models import parse_pairs
from modelmart.cli.session import client, session
from modelmart.client import Client
from modelmart.errors import ModelMartError
from modelmart.schemas.jobs import JobEvent, JobInfo, JobState

jobs_app = typer.Typer(help="List, inspect and cancel training jobs.", no_args_is_help=True)
Task = Literal["classification", "regression", "recommendation"]


def train(  # noqa: PLR0913, PLR0917 - one option per common spec field
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="Dataset name (its newest version).")],
    task: Annotated[Task, typer.Option(help="classification, regression or recommendation.")],
    family: Annotated[str | None, typer.Option(help="Model family; a default per task.")] = None,
    model: Annotated[str | None, typer.Option(help="Register as; <dataset>-<family>.")] = None,
    param: Annotated[
        list[str] | None, typer.Option(metavar="KEY=VALUE", help="Hyperparameter; repeatable.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for splits and initialisation.")] = 0,
    max_epochs: Annotated[int | None, typer.Option(help="Epoch limit for neural nets.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow progress until the job ends.")] = True,
) -> None:
    """Train a model on a dataset; the result is registered as a new model version."""
    spec: dict[str, Any] = {"seed": seed}
    if max_epochs is not None:
        spec["max_epochs"] = max_epochs
    hyperparameters = parse_pairs(param, "--param")
    with client(ctx) as mm:
        job = mm.train(
            dataset, task, family=family, model=model, hyperparameters=hyperparameters, spec=spec
        )
        if not wait:
            output.say(ctx, f"Queued job {job.id}", job)
            return
        job = follow(mm, job, quiet=session(ctx).json)
    _finish(ctx, job)


def follow(mm: Client, job: JobInfo, *, quiet: bool = False) -> JobInfo:
    """Watch ``job`` with a progress bar of epochs (on stderr) until it finishes."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[metrics]}"),
        console=output.console(stderr=True),
        disable=quiet,
    )
    with bar:
        task: TaskID = bar.add_task(f"{job.spec.get('family')} on {job.dataset}", metrics="")
        for update in mm.watch_job(job.id):
            if isinstance(update, JobEvent):
                _advance(bar, task, update)
            else:
                bar.update(task, description=f"{update.state} {job.spec.get('family')}")
    return mm.get_job(job.id)


def _advance(bar: Progress, task: TaskID, event: JobEvent) -> None:
    shown = {k: v for k, v in event.metrics.items() if k in ("accuracy", "r2", "ndcg_at_10")}
    if event.validation_loss is not None:
        shown["val_loss"] = event.validation_loss
    text = " ".join(f"{k}={v:.4f}" for k, v in shown.items())
    total = max(event.total_epochs, event.epoch, 1)
    bar.update(task, total=total, completed=event.epoch or total, metrics=text)


def _finish(ctx: typer.Context, job: JobInfo) -> None:
    if job.state is JobState.SUCCEEDED:
        output.say(
            ctx,
            f"Trained {job.model} v{job.model_version}; deploy it with: modelmart deploy "
            f"{job.model} --version {job.model_version}",
            job,
        )
        return
    raise ModelMartError(f"job {job.id} {job.state.value}: {job.failure_reason}")


@jobs_app.command("list")
def list_jobs(ctx: typer.Context) -> None:
    """List training jobs, newest first."""
    with client(ctx) as mm:
        output.show(ctx, mm.list_jobs(), training_tables.jobs_table)


@jobs_app.command()
def show(ctx: typer.Context, job_id: str) -> None:
    """Show a job: state, timestamps, failure reason and its latest metrics."""
    with client(ctx) as mm:
        output.show(ctx, mm.get_job(job_id), training_tables.job_details)


@jobs_app.command()
def logs(ctx: typer.Context, job_id: str) -> None:
    """Print a job's log."""
    with client(ctx) as mm:
        typer.echo(mm.job_logs(job_id), nl=False)


@jobs_app.command()
def cancel(ctx: typer.Context, job_id: str) -> None:
    """Ask a job to stop; nothing is registered for a cancelled job."""
    with client(ctx) as mm:
        job = mm.cancel_job(job_id)
    output.say(ctx, f"Job {job.id}: {job.state.value}", job)


def report(
    ctx: typer.Context,
    model: str,
    version: str,
    html: Annotated[
        Path | None, typer.Option(help="Write the HTML report (with plots) to this file.")
    ] = None,
) -> None:
    """Show the evaluation report of a trained model version."""
    with client(ctx) as mm:
        if html is not None:
            html.write_text(mm.report_html(model, version), encoding="utf-8")
            output.say(ctx, f"Wrote {html}", {"html": str(html)})
            return
        output.show(ctx, mm.report(model, version), training_tables.report_table)


def compare(
    ctx: typer.Context,
    model: str,
    a: int,
    b: int,
    html: Annotated[Path | None, typer.Option(help="Write the side-by-side HTML here.")] = None,
) -> None:
    """Compare the test metrics of two trained versions of MODEL."""
    with client(ctx) as mm:
        if html is not None:
            html.write_text(mm.compare(model, a, b, html=True), encoding="utf-8")
            output.say(ctx, f"Wrote {html}", {"html": str(html)})
            return
        output.show(ctx, mm.compare(model, a, b), training_tables.comparison_table)
