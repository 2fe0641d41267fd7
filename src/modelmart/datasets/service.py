"""Named datasets and their immutable, numbered, content-addressed versions.

An upload is checked completely (format, kind, the rules for its kind, decodable media) and
summarised before its bytes are stored and its row inserted, so a refused upload leaves
nothing behind. Uploading the bytes an existing version already holds returns that version.

Names follow :mod:`modelmart.tenancy`: an organisation's datasets are stored as ``org:name``
and seen by it alone; the platform's (the built-in samples, owner ``""``) by everyone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from modelmart.datasets.stored import StoredDataset
from modelmart.errors import AlreadyExists, DatasetNotFound, InvalidRequest
from modelmart.registry.archives import MAX_UNPACK_RATIO, expansion_limit
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
from modelmart.tenancy import PLATFORM_OWNERS, Principal

if TYPE_CHECKING:
    from modelmart.datasets.checks import CheckedUpload

MAX_PREVIEW_ROWS = 1000
MAX_COLUMNS = 2000
"""Columns a table may have unless the server's settings say otherwise (the same figure as
:data:`modelmart.datasets.reading.MAX_COLUMNS`, which this module does not import: pandas)."""


def new_dataset_name(principal: Principal, name: str) -> str:
    """The stored name of a dataset ``principal`` uploads as ``name``."""
    return principal.new_name("dataset", name)


def _info(row: DatasetVersionRow) -> DatasetInfo:
    summary = DatasetSummary.model_validate(row.summary)
    if not summary.column_count:  # recorded before the count was kept
        summary = summary.model_copy(update={"column_count": len(summary.columns)})
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
        summary=summary,
        created_at=row.created_at,
    )


def _listed(info: DatasetInfo) -> DatasetInfo:
    """``info`` as a list shows it: the column count without every column's statistics, so
    a list stays small however wide the tables (the detail view has them)."""
    return info.model_copy(update={"summary": info.summary.model_copy(update={"columns": []})})


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
        *,
        max_columns: int = MAX_COLUMNS,
        max_unpack_ratio: float = MAX_UNPACK_RATIO,
    ) -> None:
        self._sessions = session_factory
        self._store = store
        self._cache_dir = cache_dir
        self._max_unpacked_bytes = max_unpacked_bytes
        self._max_columns = max_columns
        self._max_unpack_ratio = max_unpack_ratio
        self._on_demand = dict(on_demand or {})

    def register(
        self,
        principal: Principal,
        name: str,
        upload: Path,
        filename: str,
        metadata: DatasetMetadata,
    ) -> DatasetInfo:
        """Check ``upload`` and record it as the next version of the caller's dataset ``name``
        (or return the version that already holds these bytes). Raises InvalidDataset naming
        the problem."""
        from modelmart.datasets.checks import check_upload  # pandas: only once data arrives

        stored = new_dataset_name(principal, name)
        checked = check_upload(
            upload, filename, metadata, self._unpack_limit(upload), self._max_columns
        )
        ref = self._store.put(upload)
        args = (stored, checked, ref.digest, ref.size, metadata.description, principal.owner)
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
            first_owner = self._owner(session, name)
            if first_owner is not None and first_owner != owner:
                # Versions keep the dataset's owner, so that who may see it never changes.
                if owner not in PLATFORM_OWNERS:
                    raise AlreadyExists(
                        f"dataset name {name!r} is taken by someone else; pick another name"
                    )
                owner = first_owner
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
        """The stored name of every dataset."""
        with self._sessions() as session:
            return set(session.scalars(select(DatasetVersionRow.name).distinct()))

    def find(self, principal: Principal, ref: str, version: int | None = None) -> DatasetInfo:
        """Version ``version`` (the newest when None) of the dataset ``ref`` means to
        ``principal``: its own, then the platform's. One it may not see answers exactly as one
        that does not exist."""
        for name in principal.candidates(ref):
            owner = self._owner_of(name)
            if owner is None and name in self._on_demand:
                self._on_demand[name](self)
                owner = self._owner_of(name)
            if owner is not None and principal.can_see_owned(owner):
                return self._get(name, version, ref)
        raise _not_found(ref, version)

    def visible(self, principal: Principal) -> list[DatasetInfo]:
        """The newest version of every dataset ``principal`` may see, by stored name, as a
        list shows them (column count, not every column)."""
        return [_listed(info) for info in self.list_latest() if principal.can_see_owned(info.owner)]

    def versions(self, principal: Principal, ref: str) -> list[DatasetInfo]:
        """Every version of the dataset ``ref`` means to ``principal``, oldest first."""
        name = self.find(principal, ref).name
        with self._sessions() as session:
            rows = session.scalars(
                select(DatasetVersionRow)
                .where(DatasetVersionRow.name == name)
                .order_by(DatasetVersionRow.version)
            )
            return [_listed(_info(row)) for row in rows]

    def list_latest(self) -> list[DatasetInfo]:
        """The newest version of every dataset, by name (whoever owns it)."""
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

    def get(self, name: str, version: int | None = None) -> DatasetInfo:
        """Version ``version`` of the dataset stored as ``name``, or its newest when None
        (for the server's own use: callers' references go through :meth:`find`)."""
        return self._get(name, version, name)

    def _get(self, name: str, version: int | None, ref: str) -> DatasetInfo:
        query = select(DatasetVersionRow).where(DatasetVersionRow.name == name)
        if version is None:
            query = query.order_by(DatasetVersionRow.version.desc()).limit(1)
        else:
            query = query.where(DatasetVersionRow.version == version)
        with self._sessions() as session:
            row = session.scalar(query)
        if row is None:
            raise _not_found(ref, version)
        return _info(row)

    def _owner_of(self, name: str) -> str | None:
        with self._sessions() as session:
            return self._owner(session, name)

    @staticmethod
    def _owner(session: Session, name: str) -> str | None:
        """The owner of the dataset stored as ``name`` (its first version's); None if none."""
        return session.scalar(
            select(DatasetVersionRow.owner)
            .where(DatasetVersionRow.name == name)
            .order_by(DatasetVersionRow.version)
            .limit(1)
        )

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
            max_unpacked_bytes=self._unpack_limit(self._store.path(info.digest)),
        )

    def _unpack_limit(self, archive: Path) -> int:
        """What ``archive`` may unpack to: the absolute limit, or less by the ratio."""
        return expansion_limit(archive, self._max_unpacked_bytes, self._max_unpack_ratio)

    def preview(self, info: DatasetInfo, rows: int) -> DatasetPreview:
        """The first ``rows`` examples of ``info`` (at most 1000)."""
        from modelmart.datasets.loading import read_examples
        from modelmart.datasets.summary import preview_rows

        if not 1 <= rows <= MAX_PREVIEW_ROWS:
            raise InvalidRequest(f"rows must be between 1 and {MAX_PREVIEW_ROWS}; got {rows}")
        blob = self._store.path(info.digest)
        frame = read_examples(
            blob, info.file_format, info.kind, info.target, self._unpack_limit(blob)
        )
        return DatasetPreview(
            name=info.name,
            version=info.version,
            columns=[str(c) for c in frame.columns],
            rows=preview_rows(frame, rows),
        )


def _not_found(ref: str, version: int | None) -> DatasetNotFound:
    """The one answer for a dataset (version) that is not there, or not the caller's to see."""
    what = f"dataset {ref!r}" if version is None else f"version {version} of dataset {ref!r}"
    return DatasetNotFound(
        f"{what} does not exist; list datasets with `modelmart datasets list` or upload one "
        "with `modelmart datasets push`",
        details={"dataset": ref, "version": version},
    )
