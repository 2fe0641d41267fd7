"""Flows for the model registry: models, versions, aliases, artifact uploads and the
built-in catalogue."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Any

from modelmart.client.core import (
    Call,
    Flow,
    expect_no_content,
    parse,
    parse_list,
    raise_for_error,
    segment,
)
from modelmart.client.uploads import Progress, opened_artifact, version_metadata
from modelmart.errors import AlreadyExists, ModelNotFound, ValidationFailed
from modelmart.schemas.catalog import CatalogModel
from modelmart.schemas.registry import AliasInfo, DeclaredCard, ModelInfo, VersionCard, VersionInfo
from modelmart.types import ArtifactFormat, Signature, Task

MODELS = "/v1/registry/models"
CATALOG = "/v1/catalog"


def _model_path(name: str) -> str:
    return f"{MODELS}/{segment(name)}"


def _task(task: Task | str) -> Task:
    try:
        return Task(task)
    except ValueError:
        known = ", ".join(t.value for t in Task)
        raise ValidationFailed(f"unknown task {task!r}; use one of: {known}") from None


def create_model(
    name: str, task: Task | str = Task.CUSTOM, description: str = "", owner: str = ""
) -> Flow[ModelInfo]:
    """Register a model called ``name``; :class:`AlreadyExists` when the name is taken."""
    body = {"name": name, "task": _task(task).value, "description": description, "owner": owner}
    response = yield Call("POST", MODELS, json=body)
    return parse(response, ModelInfo)


def list_models() -> Flow[list[ModelInfo]]:
    response = yield Call("GET", MODELS)
    return parse_list(response, "models", ModelInfo)


def get_model(name: str) -> Flow[ModelInfo]:
    response = yield Call("GET", _model_path(name))
    return parse(response, ModelInfo)


def ensure_model(name: str, task: Task | str) -> Flow[None]:
    """Create ``name`` with ``task`` unless it is registered already (by anyone, even while
    this runs)."""
    response = yield Call("GET", _model_path(name))
    try:
        raise_for_error(response)
    except ModelNotFound:
        with suppress(AlreadyExists):  # created by someone else in between: just as good
            yield from create_model(name, task)


def push_version(  # noqa: PLR0913 - one keyword per piece of version metadata
    model: str,
    path: str | Path,
    *,
    format: ArtifactFormat | str | None = None,
    signature: Signature | dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
    task: Task | str | None = None,
    progress: Progress | None = None,
    card: DeclaredCard | dict[str, Any] | None = None,
) -> Flow[VersionInfo]:
    """Upload the file or directory at ``path`` as the next version of ``model``.

    A directory is zipped into a temporary file first. The upload streams from disk and
    calls ``progress(sent_bytes, total_bytes)`` as it goes. With ``task``, a missing model is
    created first; without it, a missing model raises :class:`ModelNotFound`. ``card``
    declares the version's intended use, limits and licence for its model card.
    """
    metadata = version_metadata(
        format=format, signature=signature, parameters=parameters, metrics=metrics,
        lineage=lineage, card=card,
    )  # fmt: skip
    if task is not None:
        yield from ensure_model(model, task)
    with opened_artifact(Path(path), progress) as (filename, reader):
        response = yield Call(
            "POST",
            f"{_model_path(model)}/versions",
            files={"artifact": (filename, reader, "application/octet-stream")},
            data={"metadata": metadata},
            waits_on_server=True,  # the server digests and checks the artifact before answering
        )
    return parse(response, VersionInfo)


def list_versions(model: str) -> Flow[list[VersionInfo]]:
    response = yield Call("GET", f"{_model_path(model)}/versions")
    return parse_list(response, "versions", VersionInfo)


def get_version(model: str, ref: int | str) -> Flow[VersionInfo]:
    """Version ``ref`` of ``model``: a version number or an alias such as ``production``."""
    response = yield Call("GET", f"{_model_path(model)}/versions/{segment(ref)}")
    return parse(response, VersionInfo)


def model_card(model: str, ref: int | str) -> Flow[VersionCard]:
    """The model card of version ``ref`` (a number or an alias) of ``model``."""
    response = yield Call("GET", f"{_model_path(model)}/versions/{segment(ref)}/card")
    return parse(response, VersionCard)


def model_card_markdown(model: str, ref: int | str) -> Flow[str]:
    """:func:`model_card` rendered by the server as Markdown."""
    response = yield Call(
        "GET",
        f"{_model_path(model)}/versions/{segment(ref)}/card",
        params={"format": "markdown"},
    )
    raise_for_error(response)
    return response.text


def set_alias(model: str, alias: str, version: int) -> Flow[AliasInfo]:
    """Point ``alias`` at ``version``. Deployments following the alias move to the new version
    before the server answers, so the read timeout is lifted."""
    response = yield Call(
        "PUT",
        f"{_model_path(model)}/aliases/{segment(alias)}",
        json={"version": version},
        waits_on_server=True,
    )
    return parse(response, AliasInfo)


def delete_alias(model: str, alias: str) -> Flow[None]:
    response = yield Call("DELETE", f"{_model_path(model)}/aliases/{segment(alias)}")
    expect_no_content(response)


def catalog() -> Flow[list[CatalogModel]]:
    """The built-in catalogue: every model's card, latest version and whether it is deployed."""
    response = yield Call("GET", CATALOG)
    return parse_list(response, "models", CatalogModel)


def catalog_entry(name: str) -> Flow[CatalogModel]:
    """One catalogue model; :class:`NotFound` naming the catalogue's models when unknown."""
    response = yield Call("GET", f"{CATALOG}/{segment(name)}")
    return parse(response, CatalogModel)
