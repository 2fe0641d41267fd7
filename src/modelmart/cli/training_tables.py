"""Rich renderings of datasets, jobs and evaluation reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from modelmart.schemas.datasets import DatasetInfo, DatasetPreview
from modelmart.schemas.jobs import JobInfo

_JOB_STYLES = {"succeeded": "green", "running": "yellow", "failed": "red", "cancelled": "dim"}


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def datasets_table(datasets: list[DatasetInfo]) -> Table:
    table = Table("Name", "Version", "Kind", "Rows", "Target", "Created", title="Datasets")
    if not datasets:
        table.caption = "No datasets yet: modelmart datasets push NAME FILE"
    for info in datasets:
        table.add_row(
            info.name, f"v{info.version}", info.kind.value, str(info.summary.rows),
            info.target or "-", _when(info.created_at),
        )  # fmt: skip
    return table


def dataset_details(info: DatasetInfo) -> Table:
    table = Table("Column", "Type", "Missing", "Distinct", title=_dataset_title(info))
    for column in info.summary.columns:
        table.add_row(column.name, column.dtype, str(column.missing), str(column.distinct))
    if info.summary.class_balance:
        balance = ", ".join(f"{k}: {v}" for k, v in info.summary.class_balance.items())
        table.caption = f"class balance of {info.target}: {balance}"
    return table


def _dataset_title(info: DatasetInfo) -> str:
    return (
        f"Dataset {info.name} v{info.version}: {info.kind.value}, {info.summary.rows} rows, "
        f"{info.file_format}, sha256 {info.digest[:12]}"
    )


def preview_table(preview: DatasetPreview) -> Table:
    table = Table(*preview.columns, title=f"{preview.name} v{preview.version}")
    for row in preview.rows:
        table.add_row(*(str(row.get(column, "")) for column in preview.columns))
    return table


def jobs_table(jobs: list[JobInfo]) -> Table:
    table = Table("Job", "State", "Dataset", "Model", "Created", "Reason", title="Jobs")
    if not jobs:
        table.caption = "No jobs yet: modelmart train --dataset iris --task classification"
    for job in jobs:
        model = job.model if job.model_version is None else f"{job.model} v{job.model_version}"
        table.add_row(
            job.id, f"[{_JOB_STYLES.get(job.state, '')}]{job.state}",
            f"{job.dataset} v{job.dataset_version}", model, _when(job.created_at),
            job.failure_reason or "",
        )  # fmt: skip
    return table


def job_details(job: JobInfo) -> Table:
    table = Table(show_header=False, title=f"Job {job.id}", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("state", job.state.value)
    table.add_row("dataset", f"{job.dataset} v{job.dataset_version}")
    table.add_row("family", str(job.spec.get("family")))
    table.add_row(
        "model", job.model if job.model_version is None else f"{job.model} v{job.model_version}"
    )
    moments = (job.created_at, job.started_at, job.finished_at)
    table.add_row("created / started / finished", " / ".join(_when(t) for t in moments))
    if job.failure_reason:
        table.add_row("reason", job.failure_reason)
    if job.latest_event is not None:
        table.add_row("latest metrics", _metrics(job.latest_event.metrics))
    return table


def _metrics(metrics: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
    )


def report_table(report: dict[str, Any]) -> Table:
    table = Table("Metric", "Test value", "95% interval", title="Evaluation on the test set")
    intervals = report.get("confidence_intervals") or {}
    for name, value in (report.get("metrics") or {}).items():
        interval = intervals.get(name)
        shown = f"{interval[0]:.4g} - {interval[1]:.4g}" if isinstance(interval, list) else "-"
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value), shown)
    return table


def comparison_table(comparison: dict[str, Any]) -> Table:
    a, b = comparison["a"], comparison["b"]
    table = Table("Metric", f"v{a}", f"v{b}", "Difference", title=f"{comparison['model']}")
    for name, values in comparison["metrics"].items():
        table.add_row(
            name, f"{values['a']:.4g}", f"{values['b']:.4g}", f"{values['difference']:+.4g}"
        )
    return table
