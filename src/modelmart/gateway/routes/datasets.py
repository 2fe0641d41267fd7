"""Datasets and their versions: ``/v1/datasets/...``."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from modelmart.gateway.tenancy import can_see_owned, new_owner, visible_dataset
from modelmart.gateway.training_services import TrainingServices, get_training
from modelmart.gateway.uploads import parse_metadata, spool
from modelmart.schemas.datasets import DatasetInfo, DatasetMetadata, DatasetPreview

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
TrainingDep = Annotated[TrainingServices, Depends(get_training)]
TMP_FOLDER = "tmp"


@router.post("/{name}/versions", status_code=201)
async def push_dataset(
    name: str,
    training: TrainingDep,
    file: Annotated[UploadFile, File(description="a .csv/.parquet/.jsonl table or a .zip")],
    metadata: Annotated[str, Form(description="DatasetMetadata as JSON")] = "{}",
) -> DatasetInfo:
    """Validate an upload and register it as the next version of ``name`` (the same bytes
    again return the existing version). The path ends in ``/versions``, so the upload limit,
    not the request limit, applies."""
    meta = parse_metadata(metadata, DatasetMetadata)
    folder = Path(tempfile.gettempdir()) / "modelmart-datasets"
    upload = await asyncio.to_thread(spool, file.file, folder, "dataset-")
    try:
        return await asyncio.to_thread(
            training.datasets.register,
            name,
            upload,
            file.filename or "dataset",
            meta,
            new_owner(""),
        )
    finally:
        upload.unlink(missing_ok=True)


@router.get("")
def list_datasets(training: TrainingDep) -> dict[str, list[DatasetInfo]]:
    """The newest version of every dataset."""
    datasets = training.datasets.list_latest()
    return {"datasets": [info for info in datasets if can_see_owned(info.owner)]}


@router.get("/{name}")
def get_dataset(name: str, training: TrainingDep) -> DatasetInfo:
    """The newest version of ``name``."""
    return visible_dataset(training.datasets.get(name))


@router.get("/{name}/versions")
def list_dataset_versions(name: str, training: TrainingDep) -> dict[str, list[DatasetInfo]]:
    versions = training.datasets.list_versions(name)
    return {"versions": [visible_dataset(info) for info in versions]}


@router.get("/{name}/versions/{version}")
def get_dataset_version(name: str, version: int, training: TrainingDep) -> DatasetInfo:
    return visible_dataset(training.datasets.get(name, version))


@router.get("/{name}/preview")
def preview_dataset(
    name: str,
    training: TrainingDep,
    version: Annotated[int | None, Query(ge=1)] = None,
    rows: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> DatasetPreview:
    """The first ``rows`` examples of a version (the newest by default)."""
    visible_dataset(training.datasets.get(name, version))
    return training.datasets.preview(name, version, rows)
