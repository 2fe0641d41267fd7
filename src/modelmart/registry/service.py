"""The model registry: named models, their immutable numbered versions and movable aliases.

Registering a version proves the artifact loads before anything is recorded: detect the
format, unpack archives into a temporary folder, load the model once (the inspector) to learn
its signature, store the blob, then insert the row with the next version number. A failure at
any step leaves no row and no temporary files; a stored blob without a row is harmless because
blobs are named by their content.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Insert

from modelmart.errors import (
    AlreadyExists,
    InvalidRequest,
    ModelNotFound,
    VersionNotFound,
)
from modelmart.registry.archives import extracted, model_dir, publish, unpack_cached
from modelmart.registry.formats import detect_format, is_directory_format
from modelmart.registry.packages import PackageManifest, assemble, manifest_summary
from modelmart.registry.rows import model_info, version_info
from modelmart.runtimes.base import LoadRequest, inspect_artifact
from modelmart.schemas.registry import ModelInfo, VersionInfo
from modelmart.store.artifacts import ArtifactStore
from modelmart.store.db import lock_for_write
from modelmart.store.tables import AliasRow, ModelRow, ModelVersionRow, utc_now
from modelmart.types import RUNTIME_FOR_FORMAT, ArtifactFormat, RuntimeName, Signature, Task

Inspector = Callable[[RuntimeName, LoadRequest], Signature]
"""Loads an artifact once, reconciles the declared signature and returns the one it serves."""

LATEST = "latest"
MODEL_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$")
ALIAS_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def check_model_name(name: str) -> str:
    if not MODEL_NAME.match(name):
        raise InvalidRequest(
            f"model name {name!r} is not valid; use 1 to 128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_alias_name(alias: str) -> str:
    if not ALIAS_NAME.match(alias) or alias == LATEST:
        raise InvalidRequest(
            f"alias {alias!r} is not valid; use 1 to 64 lowercase letters, digits, '_' or '-', "
            f"starting with a letter (like production or staging); {LATEST!r} is reserved"
        )
    return alias


def _parse_task(task: Task | str) -> Task:
    try:
        return Task(task)
    except ValueError:
        raise InvalidRequest(
            f"task {task!r} is not known; expected one of {', '.join(t.value for t in Task)}"
        ) from None


def _json_object(field: str, value: Mapping[str, Any] | None) -> dict[str, Any]:
    """``value`` as a plain dict, refused unless it is strict JSON (no NaN: PostgreSQL rejects
    it), so that what is stored reads back the same."""
    data = dict(value or {})
    try:
        return dict(json.loads(json.dumps(data, allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(
            f"{field} must be a JSON object of strings, numbers, booleans, lists and objects "
            f"({exc}); convert other values (NaN, arrays, dates) before registering"
        ) from exc


@dataclass(frozen=True)
class _NewVersion:
    format: ArtifactFormat
    runtime: RuntimeName
    signature: Signature
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    digest: str
    size: int


class Registry:
    """Models, versions and aliases in the metadata database; artifacts in ``artifacts``.

    ``cache_dir`` holds unpacked archives keyed by digest; ``max_unpacked_bytes`` caps what one
    archive may expand to; ``inspector`` loads an artifact to learn its signature (unit tests
    pass a fake).
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        artifacts: ArtifactStore,
        cache_dir: Path,
        max_unpacked_bytes: int,
        inspector: Inspector = inspect_artifact,
    ) -> None:
        self._sessions = session_factory
        self._artifacts = artifacts
        self._cache_dir = cache_dir
        self._max_unpacked_bytes = max_unpacked_bytes
        self._inspect = inspector

    # Models

    def create_model(
        self, name: str, task: Task | str, description: str = "", owner: str = ""
    ) -> ModelInfo:
        """Create an empty model; AlreadyExists when the name is taken."""
        row = ModelRow(
            name=check_model_name(name),
            task=_parse_task(task).value,
            description=description,
            owner=owner,
            created_at=utc_now(),
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError as exc:
            raise AlreadyExists(
                f"model {name!r} already exists; choose another name, or register a new "
                "version of the existing model"
            ) from exc
        return model_info(row, None, {})

    def get_model(self, name: str) -> ModelInfo:
        """The model called ``name``; ModelNotFound when there is none."""
        with self._sessions() as session:
            return self._model_info(session, _model_row(session, name))

    def list_models(self) -> list[ModelInfo]:
        """Every model, by name."""
        with self._sessions() as session:
            rows = session.scalars(select(ModelRow).order_by(ModelRow.name))
            return [self._model_info(session, row) for row in rows]

    @staticmethod
    def _model_info(session: Session, row: ModelRow) -> ModelInfo:
        latest = session.scalar(
            select(func.max(ModelVersionRow.version)).where(ModelVersionRow.model_id == row.id)
        )
        return model_info(row, latest, _aliases(session, row))

    # Versions

    def register_version(
        self,
        model_name: str,
        upload_path: Path,
        filename: str,
        declared_format: ArtifactFormat | None = None,
        signature: Signature | None = None,
        parameters: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        lineage: Mapping[str, Any] | None = None,
    ) -> VersionInfo:
        """Prove that the upload loads, store it and record it as the model's next version.

        Raises ModelNotFound, UnsafeFormat/UnsupportedFormat, InvalidArtifact (truncated,
        unsafe archive, fails to load) or SchemaMismatch (declared signature disagrees).
        """
        model = self.get_model(model_name)
        params = _json_object("parameters", parameters)
        metrics_, lineage_ = _json_object("metrics", metrics), _json_object("lineage", lineage)
        artifact_format = detect_format(upload_path, filename, declared_format)
        with self._staged(upload_path, artifact_format) as (load_path, unpacked):
            request = LoadRequest(load_path, artifact_format, model.task, signature, params)
            served = self._inspect(RUNTIME_FOR_FORMAT[artifact_format], request)
            ref = self._artifacts.put(upload_path)
            runtime = RUNTIME_FOR_FORMAT[artifact_format]
            new = _NewVersion(
                artifact_format, runtime, served, params, metrics_, lineage_, ref.digest, ref.size
            )
            info = self._insert_version(model_name, new)
            if unpacked is not None:
                publish(unpacked, self._cache_dir / ref.digest)
        return info

    def register_package(
        self,
        model_name: str,
        manifest: PackageManifest,
        signature: Signature,
        parameters: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> VersionInfo:
        """Record a version whose files ship in installed packages (the built-in catalogue).

        Nothing is loaded: the signature is declared by the caller, and the packages are
        checked when the version is deployed. Only ModelMart itself registers these; uploads
        of manifests are refused like any other unknown file.
        """
        params = _json_object("parameters", parameters)
        ref = self._artifacts.put(io.BytesIO(manifest.to_bytes()))
        new = _NewVersion(
            ArtifactFormat.PACKAGE,
            manifest.runtime,
            signature,
            params,
            _json_object("metrics", metrics),
            manifest_summary(manifest),
            ref.digest,
            ref.size,
        )
        return self._insert_version(model_name, new)

    @contextmanager
    def _staged(
        self, upload_path: Path, artifact_format: ArtifactFormat
    ) -> Iterator[tuple[Path, Path | None]]:
        """(what the inspector loads, the unpacked archive root or None); temporary."""
        if not is_directory_format(artifact_format):
            yield upload_path, None
            return
        with extracted(upload_path, self._cache_dir, self._max_unpacked_bytes) as root:
            yield model_dir(root), root

    def _insert_version(self, model_name: str, new: _NewVersion) -> VersionInfo:
        try:
            return self._insert_version_once(model_name, new)
        except IntegrityError:
            # Another registration took this number between our read and our insert (the
            # write lock makes that rare): the retry reads the new maximum.
            return self._insert_version_once(model_name, new)

    def _insert_version_once(self, model_name: str, new: _NewVersion) -> VersionInfo:
        with self._sessions.begin() as session:
            lock_for_write(session)
            model = _model_row(session, model_name, for_update=True)
            latest = session.scalar(
                select(func.max(ModelVersionRow.version)).where(
                    ModelVersionRow.model_id == model.id
                )
            )
            row = ModelVersionRow(
                model_id=model.id,
                version=(latest or 0) + 1,
                artifact_digest=new.digest,
                artifact_size=new.size,
                format=new.format.value,
                runtime=new.runtime.value,
                signature=new.signature.model_dump(mode="json"),
                parameters=new.parameters,
                metrics=new.metrics,
                lineage=new.lineage,
                created_at=utc_now(),
            )
            session.add(row)
            session.flush()
            return version_info(model, row)

    def list_versions(self, model_name: str) -> list[VersionInfo]:
        """Every version of the model, oldest first."""
        with self._sessions() as session:
            model = _model_row(session, model_name)
            rows = session.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.model_id == model.id)
                .order_by(ModelVersionRow.version)
            )
            return [version_info(model, row) for row in rows]

    def get_version(self, model_name: str, ref: int | str) -> VersionInfo:
        """Version ``ref`` of the model: a number (``3`` or ``"3"``), an alias, or ``latest``."""
        with self._sessions() as session:
            model = _model_row(session, model_name)
            return version_info(model, _version_row(session, model, ref))

    def resolve(
        self, model_name: str, version: int | None = None, alias: str | None = None
    ) -> VersionInfo:
        """The version a deployment serves: by number, by alias, or the latest when neither."""
        if version is not None and alias is not None:
            raise InvalidRequest(
                f"both version {version} and alias {alias!r} were given for model "
                f"{model_name!r}; give one of them (or neither for the latest version)"
            )
        ref: int | str = version if version is not None else alias or LATEST
        return self.get_version(model_name, ref)

    def load_request(self, version: VersionInfo) -> LoadRequest:
        """What a runtime needs to load ``version``: the verified blob, or for archives its
        unpacked model directory. Raises ArtifactCorrupted/NotFound for a damaged store."""
        blob = self._artifacts.path(version.artifact_digest)
        path, artifact_format = blob, version.format
        if artifact_format is ArtifactFormat.PACKAGE:
            manifest = PackageManifest.from_file(blob)
            path = assemble(manifest, self._cache_dir / version.artifact_digest)
            artifact_format = manifest.format
        elif is_directory_format(version.format):
            root = unpack_cached(
                blob, self._cache_dir, version.artifact_digest, self._max_unpacked_bytes
            )
            path = model_dir(root)
        return LoadRequest(
            path=path,
            format=artifact_format,
            task=version.task,
            signature=version.signature,
            parameters=version.parameters,
        )

    # Aliases

    def set_alias(self, model_name: str, alias: str, version: int) -> ModelInfo:
        """Point ``alias`` at ``version``, creating or moving it in one atomic statement."""
        check_alias_name(alias)
        with self._sessions.begin() as session:
            lock_for_write(session)
            model = _model_row(session, model_name, for_update=True)
            target = _version_row(session, model, version)
            session.execute(_upsert_alias(session, model.id, alias, target.id))
            return self._model_info(session, model)

    def delete_alias(self, model_name: str, alias: str) -> ModelInfo:
        """Remove ``alias``; VersionNotFound when the model has no such alias."""
        with self._sessions.begin() as session:
            lock_for_write(session)
            model = _model_row(session, model_name, for_update=True)
            row = session.get(AliasRow, (model.id, alias))
            if row is None:
                raise _version_not_found(session, model, alias)
            session.delete(row)
            session.flush()
            return self._model_info(session, model)


def _model_row(session: Session, name: str, *, for_update: bool = False) -> ModelRow:
    query = select(ModelRow).where(ModelRow.name == name)
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise ModelNotFound(
            f"model {name!r} does not exist; create it with POST /v1/registry/models",
            details={"model": name},
        )
    return row


def _aliases(session: Session, model: ModelRow) -> dict[str, int]:
    rows = session.execute(
        select(AliasRow.name, ModelVersionRow.version)
        .join(ModelVersionRow, AliasRow.version_id == ModelVersionRow.id)
        .where(AliasRow.model_id == model.id)
    )
    return {name: number for name, number in rows}


def _version_row(session: Session, model: ModelRow, ref: int | str) -> ModelVersionRow:
    if isinstance(ref, str) and ref.isdecimal():
        ref = int(ref)
    query = select(ModelVersionRow).where(ModelVersionRow.model_id == model.id)
    if isinstance(ref, int):
        query = query.where(ModelVersionRow.version == ref)
    elif ref == LATEST:
        query = query.order_by(ModelVersionRow.version.desc()).limit(1)
    else:
        query = query.join(AliasRow, AliasRow.version_id == ModelVersionRow.id).where(
            AliasRow.model_id == model.id, AliasRow.name == ref
        )
    row = session.scalar(query)
    if row is None:
        raise _version_not_found(session, model, ref)
    return row


def _version_not_found(session: Session, model: ModelRow, ref: int | str) -> VersionNotFound:
    versions = list(
        session.scalars(
            select(ModelVersionRow.version)
            .where(ModelVersionRow.model_id == model.id)
            .order_by(ModelVersionRow.version)
        )
    )
    aliases = _aliases(session, model)
    what = f"version {ref}" if isinstance(ref, int) else f"alias {ref!r}"
    if not versions:
        hint = "it has no versions yet; register one first"
    else:
        named = ", ".join(f"{name} -> {number}" for name, number in sorted(aliases.items()))
        hint = f"available versions: {', '.join(map(str, versions))}; aliases: {named or 'none'}"
    return VersionNotFound(
        f"model {model.name!r} has no {what}; {hint}",
        details={"model": model.name, "versions": versions, "aliases": aliases},
    )


def _upsert_alias(session: Session, model_id: int, alias: str, version_id: int) -> Insert:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"version_id": version_id, "updated_at": utc_now()}
    return (
        insert(AliasRow)
        .values(model_id=model_id, name=alias, **values)
        .on_conflict_do_update(index_elements=[AliasRow.model_id, AliasRow.name], set_=values)
    )
