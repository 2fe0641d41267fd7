"""Rich renderings of the SDK's answers, one function per kind."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table
from rich.text import Text

from modelmart.client import CatalogModel, DeploymentView, ModelInfo, VersionInfo
from modelmart.schemas.catalog import Latency
from modelmart.schemas.deployments import cpu_list
from modelmart.types import TensorSpec

_STATE_STYLES = {"ready": "green", "loading": "yellow", "failed": "red"}


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _size(num_bytes: int) -> str:
    if num_bytes < 1024:
        return f"{num_bytes} B"
    size = num_bytes / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _pairs(values: dict[str, object]) -> str:
    return ", ".join(f"{key}={value}" for key, value in values.items())


def models_table(models: list[ModelInfo]) -> Table:
    table = Table("Name", "Task", "Latest", "Aliases", "Owner", "Created", title="Models")
    if not models:
        table.caption = "No models yet: modelmart models push NAME PATH --task TASK"
    for model in models:
        latest = "-" if model.latest_version is None else f"v{model.latest_version}"
        aliases = ", ".join(f"{alias}→v{v}" for alias, v in model.aliases.items())
        table.add_row(model.name, model.task, latest, aliases, model.owner, _when(model.created_at))
    return table


def model_details(model: ModelInfo) -> Table:
    table = Table(show_header=False, title=f"Model {model.name}", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    latest = "none yet" if model.latest_version is None else f"v{model.latest_version}"
    table.add_row("task", model.task)
    table.add_row("description", model.description or "-")
    table.add_row("owner", model.owner or "-")
    table.add_row("latest version", latest)
    aliases = ", ".join(f"{alias}→v{v}" for alias, v in model.aliases.items())
    table.add_row("aliases", aliases or "-")
    table.add_row("created", _when(model.created_at))
    return table


def versions_table(versions: list[VersionInfo]) -> Table:
    title = f"Versions of {versions[0].model}" if versions else "Versions"
    table = Table("Version", "Format", "Runtime", "Size", "Digest", "Metrics", "Created",
                  title=title)  # fmt: skip
    for version in versions:
        table.add_row(
            f"v{version.version}",
            version.format.value,
            version.runtime.value,
            _size(version.artifact_size),
            version.artifact_digest.removeprefix("sha256:")[:12],
            _pairs(version.metrics),
            _when(version.created_at),
        )
    return table


def deployments_table(views: list[DeploymentView]) -> Table:
    table = Table("Name", "Model", "Target", "Serving", "Instances", "Batch", "Isolation",
                  "State", "Queue", title="Deployments")  # fmt: skip
    if not views:
        table.caption = "Nothing deployed yet: modelmart deploy MODEL"
    for view in views:
        target = "latest" if view.version is None else f"v{view.version}"
        if view.alias is not None:
            target = f"@{view.alias}"
        served = "-" if view.served_version is None else f"v{view.served_version}"
        state = Text(view.state, style=_STATE_STYLES.get(view.state, ""))
        if view.error:
            state.append(f" {view.error.get('message', view.error)}", style="red")
        table.add_row(
            view.name,
            view.model,
            target,
            served,
            _instances(view),
            f"{view.max_batch_size} / {view.max_delay_ms:g} ms",
            _isolation(view),
            state,
            f"{view.queue_depth} / {view.max_queued_requests}",
        )
    return table


def _isolation(view: DeploymentView) -> str:
    """``process``, or ``process on 0-1`` for a deployment pinned to CPUs."""
    if not view.cpus:
        return view.isolation.value
    return f"{view.isolation.value} on {cpu_list(view.cpus)}"


def _instances(view: DeploymentView) -> str:
    """Ready of wanted: the fixed count, or the autoscaler's choice within its bounds."""
    if view.max_instances is None:
        return f"{view.ready_instances}/{view.instances}"
    bounds = f"{view.min_instances}-{view.max_instances}"
    return f"{view.ready_instances}/{view.desired_instances} ({bounds})"


def deployment_table(view: DeploymentView) -> Table:
    return deployments_table([view])


def _tensors(specs: tuple[TensorSpec, ...]) -> str:
    return ", ".join(f"{spec.name} {spec.datatype.value} {list(spec.shape)}" for spec in specs)


def _catalog_state(model: CatalogModel) -> Text:
    if not model.available:
        return Text("unavailable", style="red")
    return Text("deployed", style="green") if model.deployed else Text("available")


def catalog_table(models: list[CatalogModel]) -> Table:
    table = Table("Name", "Task", "Runtime", "Size", "ms/text", "Quality", "Latest", "State",
                  title="Catalogue")  # fmt: skip
    for model in models:
        size = "-" if model.size_bytes is None else _size(model.size_bytes)
        latency = "-" if model.latency is None else f"{model.latency.ms_per_item_alone:.3g}"
        latest = "-" if model.latest_version is None else f"v{model.latest_version}"
        quality = ", ".join(f"{m.metric}={m.value:g}" for m in model.quality)
        table.add_row(model.name, model.task.value, model.runtime.value, size, latency, quality,
                      latest, _catalog_state(model))  # fmt: skip
    missing = [
        f"{model.name}: {model.unavailable_reason}" for model in models if not model.available
    ]
    table.caption = "\n".join(["Serve one: modelmart deploy NAME", *missing])
    return table


def _latency(timing: Latency) -> str:
    return (
        f"{timing.ms_per_item_alone:.3g} ms/text alone, {timing.ms_per_item_batched:.3g} ms/text "
        f"in batches of {timing.batch_size} ({timing.cpu}, {timing.threads} threads)"
    )


def catalog_card(model: CatalogModel) -> Table:
    table = Table(show_header=False, title=model.title, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("name", model.name)
    table.add_row("task", model.task.value)
    table.add_row("description", model.description)
    table.add_row("runtime", f"{model.runtime.value} ({model.format.value})")
    table.add_row("packages", ", ".join(f"{k}=={v}" for k, v in model.packages.items()))
    table.add_row("licences", "\n".join(f"{k}: {v}" for k, v in model.licences.items()))
    table.add_row("size", "-" if model.size_bytes is None else _size(model.size_bytes))
    table.add_row("inputs", _tensors(model.signature.inputs))
    table.add_row("outputs", _tensors(model.signature.outputs))
    if model.latency is not None:
        table.add_row("latency", _latency(model.latency))
    for measurement in model.quality:
        table.add_row(measurement.metric, f"{measurement.value:g} on {measurement.dataset}")
    latest = "-" if model.latest_version is None else f"v{model.latest_version}"
    table.add_row("latest version", latest)
    table.add_row("state", _catalog_state(model))
    if model.unavailable_reason:
        table.add_row("to install", model.unavailable_reason)
    return table
