"""Flows for datasets: uploads (streamed from disk with progress), listings and previews."""

from __future__ import annotations

from pathlib import Path

from modelmart.client.core import Call, Flow, parse, parse_list, segment, validated
from modelmart.client.uploads import Progress, opened_artifact
from modelmart.schemas.datasets import DatasetInfo, DatasetMetadata, DatasetPreview

DATASETS = "/v1/datasets"


def _path(name: str) -> str:
    return f"{DATASETS}/{segment(name)}"


def push_dataset(
    name: str,
    path: str | Path,
    *,
    kind: str | None = None,
    target: str | None = None,
    description: str = "",
    progress: Progress | None = None,
) -> Flow[DatasetInfo]:
    """Upload a table (.csv, .parquet, .jsonl) or a zip of images or audio as the next
    version of ``name``. The server validates it completely before answering: a bad file
    raises :class:`~modelmart.errors.InvalidDataset` naming the row, column or file."""
    given = {"kind": kind, "target": target, "description": description}
    metadata = validated(
        DatasetMetadata, "dataset metadata", **{k: v for k, v in given.items() if v is not None}
    ).model_dump_json(exclude_unset=True)
    with opened_artifact(Path(path), progress) as (filename, reader):
        response = yield Call(
            "POST",
            f"{_path(name)}/versions",
            files={"file": (filename, reader, "application/octet-stream")},
            data={"metadata": metadata},
            waits_on_server=True,  # validation decodes every image or audio file
        )
    return parse(response, DatasetInfo)


def list_datasets() -> Flow[list[DatasetInfo]]:
    response = yield Call("GET", DATASETS)
    return parse_list(response, "datasets", DatasetInfo)


def get_dataset(name: str, version: int | None = None) -> Flow[DatasetInfo]:
    """Version ``version`` of ``name``, or its newest."""
    path = _path(name) if version is None else f"{_path(name)}/versions/{version}"
    response = yield Call("GET", path)
    return parse(response, DatasetInfo)


def list_dataset_versions(name: str) -> Flow[list[DatasetInfo]]:
    response = yield Call("GET", f"{_path(name)}/versions")
    return parse_list(response, "versions", DatasetInfo)


def preview_dataset(name: str, version: int | None = None, rows: int = 20) -> Flow[DatasetPreview]:
    params = {"rows": str(rows)} | ({"version": str(version)} if version is not None else {})
    response = yield Call("GET", f"{_path(name)}/preview", params=params)
    return parse(response, DatasetPreview)
