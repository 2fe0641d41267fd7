"""Models, versions and aliases: ``/v1/registry/...``.

A model in a path is the caller's reference (``iris``, or ``acme:iris`` for one published to
it), resolved by :meth:`~modelmart.registry.service.Registry.find_model`; everything after
that uses the stored name.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Header, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import PlainTextResponse, Response

from modelmart.catalog.entries import OWNER as CATALOGUE_OWNER
from modelmart.errors import ReportNotFound
from modelmart.gateway.auth import Deployer, Reader
from modelmart.gateway.heap import settle_heap
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.uploads import parse_metadata, spool
from modelmart.registry.card_markdown import render_markdown
from modelmart.registry.cards import CardFacts, version_card, with_declared_card
from modelmart.schemas.catalog import ModelCard
from modelmart.schemas.deployments import MAX_VERSION
from modelmart.schemas.registry import (
    AliasInfo,
    ModelInfo,
    VersionCard,
    VersionInfo,
    VersionMetadata,
)
from modelmart.tenancy import NAME
from modelmart.types import ArtifactFormat, Task

router = APIRouter(prefix="/v1/registry", tags=["registry"])
ServicesDep = Annotated[Services, Depends(get_services)]


class CreateModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The pattern documents the rule the registry enforces (a 400 naming it).
    name: str = Field(min_length=1, max_length=128, json_schema_extra={"pattern": NAME.pattern})
    task: Task = Task.CUSTOM
    description: str = Field(default="", max_length=10_000)
    owner: str = Field(default="", max_length=256)


class AliasTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=MAX_VERSION)


@router.post("/models", status_code=201)
def create_model(body: CreateModel, principal: Deployer, services: ServicesDep) -> ModelInfo:
    """Create an empty model in the caller's organisation (``owner`` is recorded only with
    accounts off: with accounts on, the caller's organisation owns what it creates)."""
    return services.registry.create_model(
        principal, body.name, body.task, description=body.description, owner=body.owner
    )


@router.get("/models")
def list_models(principal: Reader, services: ServicesDep) -> dict[str, list[ModelInfo]]:
    return {"models": services.registry.visible_models(principal)}


@router.get("/models/{name}")
def get_model(name: str, principal: Reader, services: ServicesDep) -> ModelInfo:
    return services.registry.find_model(principal, name)


@router.post("/models/{name}/versions", status_code=201)
async def push_version(
    name: str,
    principal: Deployer,
    services: ServicesDep,
    artifact: Annotated[UploadFile, File(description="the model file (.zip for a directory)")],
    metadata: Annotated[str, Form(description="VersionMetadata as JSON")] = "{}",
) -> VersionInfo:
    """Register a new immutable version of ``name`` from an uploaded artifact."""
    meta = parse_metadata(metadata, VersionMetadata)
    model = await asyncio.to_thread(services.registry.managed_model, principal, name)
    upload = await asyncio.to_thread(
        spool, artifact.file, services.settings.data_dir / "tmp", "upload-"
    )
    try:
        info = await asyncio.to_thread(
            services.registry.register_version,
            model.name,
            upload,
            artifact.filename or "artifact",
            meta.format,
            meta.signature,
            meta.parameters,
            meta.metrics,
            with_declared_card(meta.lineage, meta.card),
        )
        settle_heap()  # inspecting the upload loaded its framework into this process
        return info
    finally:
        upload.unlink(missing_ok=True)


@router.get("/models/{name}/versions")
def list_versions(
    name: str, principal: Reader, services: ServicesDep
) -> dict[str, list[VersionInfo]]:
    model = services.registry.find_model(principal, name)
    return {"versions": services.registry.list_versions(model.name)}


@router.get("/models/{name}/versions/{ref}")
def get_version(name: str, ref: str, principal: Reader, services: ServicesDep) -> VersionInfo:
    """``ref`` is a version number or an alias such as ``production``."""
    model = services.registry.find_model(principal, name)
    return services.registry.get_version(model.name, int(ref) if ref.isdigit() else ref)


MARKDOWN = "text/markdown"
CardFormat = Literal["json", "markdown"]
_CARD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MARKDOWN: {"schema": {"type": "string"}}}},
}


@router.get(
    "/models/{name}/versions/{ref}/card", response_model=VersionCard, responses=_CARD_RESPONSES
)
def get_version_card(
    name: str,
    ref: str,
    principal: Reader,
    services: ServicesDep,
    format: CardFormat | None = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The model card of version ``ref`` (a number or an alias): intended use, training data
    and lineage, measured quality with its evaluation set, limits, licence, energy per item
    and explanation method. JSON, or Markdown with ``?format=markdown`` or
    ``Accept: text/markdown``."""
    model = services.registry.find_model(principal, name)
    version = services.registry.get_version(model.name, int(ref) if ref.isdigit() else ref)
    facts = CardFacts(
        cpu_watts_per_core=services.settings.cpu_watts_per_core,
        max_request_pixels=services.settings.max_request_pixels,
        catalogue=_catalogue_card(services, model, version),
        report=_training_report(services, version),
    )
    card = version_card(model, version, facts)
    if format == "markdown" or (format is None and accept is not None and MARKDOWN in accept):
        return PlainTextResponse(render_markdown(card), media_type=f"{MARKDOWN}; charset=utf-8")
    return Response(card.model_dump_json(), media_type="application/json")


def _catalogue_card(services: Services, model: ModelInfo, version: VersionInfo) -> ModelCard | None:
    """The catalogue entry's card, for a version the catalogue registered (a package
    reference under a model the catalogue owns; uploads can never be package references)."""
    if model.owner != CATALOGUE_OWNER or version.format is not ArtifactFormat.PACKAGE:
        return None
    if all(entry.name != model.name for entry in services.catalogue.entries):
        return None
    return services.catalogue.card(model.name)


def _training_report(services: Services, version: VersionInfo) -> dict[str, Any] | None:
    """The evaluation report of a version a training job made; None for any other."""
    try:
        return services.training.jobs.report(version.model, version.version)[1]
    except ReportNotFound:
        return None


@router.put("/models/{name}/aliases/{alias}")
async def set_alias(
    name: str, alias: str, body: AliasTarget, principal: Deployer, services: ServicesDep
) -> AliasInfo:
    """Point ``alias`` at a version; deployments that follow the alias swap to it (new
    instances load first, so no request fails) before this returns."""
    model = await asyncio.to_thread(services.registry.managed_model, principal, name)
    await asyncio.to_thread(services.registry.set_alias, model.name, alias, body.version)
    await services.deployments.alias_moved(model.name, alias)
    return AliasInfo(model=model.name, alias=alias, version=body.version)


@router.delete("/models/{name}/aliases/{alias}", status_code=204)
def delete_alias(name: str, alias: str, principal: Deployer, services: ServicesDep) -> Response:
    model = services.registry.managed_model(principal, name)
    services.registry.delete_alias(model.name, alias)
    return Response(status_code=204)
