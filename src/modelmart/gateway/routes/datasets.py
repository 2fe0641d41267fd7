"""Datasets and their versions: ``/v1/datasets/...``.

A dataset in a path is the caller's reference (``iris``: its own, else the platform's
sample), resolved by :meth:`~modelmart.datasets.service.DatasetService.find`.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from modelmart.gateway.auth import Deployer, Reader
from modelmart.gateway.params import MAX_ID, RowId
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.uploads import parse_metadata, spool
from modelmart.schemas.datasets import DatasetInfo, DatasetMetadata, DatasetPreview

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
ServicesDep = Annotated[Services, Depends(get_services)]


@router.post("/{name}/versions", status_code=201)
async def push_dataset(
    name: str,
    principal: Deployer,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="a .csv/.parquet/.jsonl table or a .zip")],
    metadata: Annotated[str, Form(description="DatasetMetadata as JSON")] = "{}",
) -> DatasetInfo:
    """Validate an upload and register it as the next version of the caller's dataset
    ``name`` (the same bytes again return the existing version). The path ends in
    ``/versions``, so the upload limit, not the request limit, applies."""
    meta = parse_metadata(metadata, DatasetMetadata)
    folder = Path(tempfile.gettempdir()) / "modelmart-datasets"
    upload = await asyncio.to_thread(spool, file.file, folder, "dataset-")
    try:
        return await asyncio.to_thread(
            services.training.datasets.register,
            principal,
            name,
            upload,
            file.filename or "dataset",
            meta,
        )
    finally:
        upload.unlink(missing_ok=True)


@router.get("")
def list_datasets(principal: Reader, services: ServicesDep) -> dict[str, list[DatasetInfo]]:
    """The newest version of every dataset the caller may see."""
    return {"datasets": services.training.datasets.visible(principal)}


@router.get("/{name}")
def get_dataset(name: str, principal: Reader, services: ServicesDep) -> DatasetInfo:
    """The newest version of ``name``."""
    return services.training.datasets.find(principal, name)


@router.get("/{name}/versions")
def list_dataset_versions(
    name: str, principal: Reader, services: ServicesDep
) -> dict[str, list[DatasetInfo]]:
    return {"versions": services.training.datasets.versions(principal, name)}


@router.get("/{name}/versions/{version}")
def get_dataset_version(
    name: str, version: RowId, principal: Reader, services: ServicesDep
) -> DatasetInfo:
    return services.training.datasets.find(principal, name, version)


@router.get("/{name}/preview")
def preview_dataset(
    name: str,
    principal: Reader,
    services: ServicesDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    rows: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> DatasetPreview:
    """The first ``rows`` examples of a version (the newest by default)."""
    datasets = services.training.datasets
    return datasets.preview(datasets.find(principal, name, version), rows)
