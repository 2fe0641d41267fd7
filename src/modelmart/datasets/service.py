"""Named datasets and their immutable, numbered, content-addressed versions.

An upload is checked completely (format, kind, the rules for its kind, decodable media) and
summarised before its bytes are stored and its row inserted, so a refused upload leaves
nothing behind. Uploading the bytes an existing version already holds returns that version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from modelmart.datasets.stored import StoredDataset
from modelmart.errors import AlreadyExists, DatasetNotFound, InvalidRequest
from modelmart.schemas.datasets import (
    DatasetInfo,
    DatasetKind,
    DatasetMetadata,
    DatasetPreview,
    DatasetSummary,
)
from modelmart.store.artifacts import ArtifactStore
from modelmart.store.db import lock_for_write
from modelmart.store.tables import DatasetVersionRow, utc_now

if TYPE_CHECKING:
    from modelmart.datasets.checks import CheckedUpload

DATASET_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$")
MAX_PREVIEW_ROWS = 1000


def check_dataset_name(name: str) -> str:
    if not DATASET_NAME.match(name):
        raise InvalidRequest(
            f"dataset name {name!r} is not valid; use 1 to 128 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit"
        )
    return name


def _info(row: DatasetVersionRow) -> DatasetInfo:
    return DatasetInfo(
        name=row.name,
        version=row.version,
        kind=DatasetKind(row.kind),
        file_format=row.file_format,
        digest=row.digest,
        size=row.size,
        target=row.target,
        description=row.description,
        owner=row.owner,
        summary=DatasetSummary.model_validate(row.summary),
        created_at=row.created_at,
    )


class DatasetService:
    """Dataset versions in the metadata database; their bytes in ``store``; unpacked media
    zips under ``cache_dir``, keyed by digest. ``on_demand`` registers a large built-in sample
    the first time its name is asked for."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        store: ArtifactStore,
        cache_dir: Path,
        max_unpacked_bytes: int,
        on_demand: Mapping[str, Callable[[DatasetService], object]] | None = None,
    ) -> None:
        self._sessions = session_factory
        self._store = store
        self._cache_dir = cache_dir
        self._max_unpacked_bytes = max_unpacked_bytes
        self._on_demand = dict(on_demand or {})

    def register(
        self, name: str, upload: Path, filename: str, metadata: DatasetMetadata, owner: str = ""
    ) -> DatasetInfo:
        """Check ``upload`` and record it as the next version of ``name`` (or return the
        version that already holds these bytes). Raises InvalidDataset naming the problem."""
        from modelmart.datasets.checks import check_upload  # pandas: only once data arrives

        check_dataset_name(name)
        checked = check_upload(upload, filename, metadata, self._max_unpacked_bytes)
        ref = self._store.put(upload)
        args = (name, checked, ref.digest, ref.size, metadata.description, owner)
        try:
            return self._insert(*args)
        except IntegrityError:
            # Another upload took this number between our read and our insert: read again.
            return self._insert(*args)

    def _insert(
        self,
        name: str,
        checked: CheckedUpload,
        digest: str,
        size: int,
        description: str,
        owner: str,
    ) -> DatasetInfo:
        with self._sessions.begin() as session:
            lock_for_write(session)
            first_owner = session.scalar(
                select(DatasetVersionRow.owner).where(DatasetVersionRow.name == name).limit(1)
            )
            if first_owner is not None and first_owner != owner:
                raise AlreadyExists(
                    f"dataset name {name!r} is taken by another organisation; pick another name"
                )
            same = session.scalar(
                select(DatasetVersionRow).where(
                    DatasetVersionRow.name == name, DatasetVersionRow.digest == digest
                )
            )
            if same is not None:
                return _info(same)
            latest = session.scalar(
                select(func.max(DatasetVersionRow.version)).where(DatasetVersionRow.name == name)
            )
            row = DatasetVersionRow(
                name=name,
                version=(latest or 0) + 1,
                kind=checked.kind.value,
                file_format=checked.file_format,
                digest=digest,
                size=size,
                target=checked.target,
                description=description,
                summary=checked.summary.model_dump(mode="json"),
                created_at=utc_now(),
                owner=owner,
            )
            session.add(row)
            session.flush()
            return _info(row)

    def names(self) -> set[str]:
        with self._sessions() as session:
            return set(session.scalars(select(DatasetVersionRow.name).distinct()))

    def list_latest(self) -> list[DatasetInfo]:
        """The newest version of every dataset, by name."""
        with self._sessions() as session:
            newest = (
                select(DatasetVersionRow.name, func.max(DatasetVersionRow.version).label("v"))
                .group_by(DatasetVersionRow.name)
                .subquery()
            )
            rows = session.scalars(
                select(DatasetVersionRow)
                .join(
                    newest,
                    (DatasetVersionRow.name == newest.c.name)
                    & (DatasetVersionRow.version == newest.c.v),
                )
                .order_by(DatasetVersionRow.name)
            )
            return [_info(row) for row in rows]

    def list_versions(self, name: str) -> list[DatasetInfo]:
        with self._sessions() as session:
            rows = list(
                session.scalars(
                    select(DatasetVersionRow)
                    .where(DatasetVersionRow.name == name)
                    .order_by(DatasetVersionRow.version)
                )
            )
        if not rows:
            raise _not_found(name, None)
        return [_info(row) for row in rows]

    def get(self, name: str, version: int | None = None) -> DatasetInfo:
        """Version ``version`` of ``name``, or its newest when None."""
        try:
            return self._get(name, version)
        except DatasetNotFound:
            install = self._on_demand.get(name)
            if install is None:
                raise
        install(self)
        return self._get(name, version)

    def _get(self, name: str, version: int | None) -> DatasetInfo:
        query = select(DatasetVersionRow).where(DatasetVersionRow.name == name)
        if version is None:
            query = query.order_by(DatasetVersionRow.version.desc()).limit(1)
        else:
            query = query.where(DatasetVersionRow.version == version)
        with self._sessions() as session:
            row = session.scalar(query)
        if row is None:
            raise _not_found(name, version)
        return _info(row)

    def stored(self, info: DatasetInfo) -> StoredDataset:
        """Where the bytes of ``info`` are, checked against its digest."""
        return StoredDataset(
            name=info.name,
            version=info.version,
            kind=info.kind,
            file_format=info.file_format,
            target=info.target,
            digest=info.digest,
            blob=self._store.path(info.digest),
            cache_dir=self._cache_dir,
            max_unpacked_bytes=self._max_unpacked_bytes,
        )

    def preview(self, name: str, version: int | None, rows: int) -> DatasetPreview:
        """The first ``rows`` examples (at most 1000)."""
        from modelmart.datasets.loading import read_examples
        from modelmart.datasets.summary import preview_rows

        if not 1 <= rows <= MAX_PREVIEW_ROWS:
            raise InvalidRequest(f"rows must be between 1 and {MAX_PREVIEW_ROWS}; got {rows}")
        info = self.get(name, version)
        frame = read_examples(
            self._store.path(info.digest),
            info.file_format,
            info.kind,
            info.target,
            self._max_unpacked_bytes,
        )
        return DatasetPreview(
            name=info.name,
            version=info.version,
            columns=[str(c) for c in frame.columns],
            rows=preview_rows(frame, rows),
        )


def _not_found(name: str, version: int | None) -> DatasetNotFound:
    what = f"dataset {name!r}" if version is None else f"version {version} of dataset {name!r}"
    return DatasetNotFound(
        f"{what} does not exist; list datasets with `modelmart datasets list` or upload one "
        "with `modelmart datasets push`",
        details={"dataset": name, "version": version},
    )
