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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from modelmart.errors import (
    AlreadyExists,
    Forbidden,
    InvalidRequest,
    ModelNotFound,
)
from modelmart.registry.archives import (
    MAX_UNPACK_RATIO,
    extracted,
    model_dir,
    publish,
    unpack_cached,
)
from modelmart.registry.formats import detect_format, is_directory_format
from modelmart.registry.names import check_alias_name, new_model_name
from modelmart.registry.packages import PackageManifest, assemble, manifest_summary
from modelmart.registry.rows import model_info, version_info
from modelmart.registry.versions import (
    LATEST,
    aliases,
    upsert_alias,
    version_not_found,
    version_row,
)
from modelmart.runtimes.base import LoadRequest, inspect_artifact
from modelmart.schemas.registry import ModelInfo, VersionInfo
from modelmart.store.artifacts import ArtifactStore
from modelmart.store.db import lock_for_write
from modelmart.store.tables import AliasRow, ModelRow, ModelVersionRow, utc_now
from modelmart.tenancy import PLATFORM_OWNERS, Principal
from modelmart.types import RUNTIME_FOR_FORMAT, ArtifactFormat, RuntimeName, Signature, Task

Inspector = Callable[[RuntimeName, LoadRequest], Signature]
"""Loads an artifact once, reconciles the declared signature and returns the one it serves."""


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
    archive may expand to, and ``max_unpack_ratio`` how many times its own size; ``inspector``
    loads an artifact to learn its signature (unit tests pass a fake).
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        artifacts: ArtifactStore,
        cache_dir: Path,
        max_unpacked_bytes: int,
        inspector: Inspector = inspect_artifact,
        *,
        max_unpack_ratio: float = MAX_UNPACK_RATIO,
    ) -> None:
        self._sessions = session_factory
        self._artifacts = artifacts
        self._cache_dir = cache_dir
        self._max_unpacked_bytes = max_unpacked_bytes
        self._max_unpack_ratio = max_unpack_ratio
        self._inspect = inspector

    # Models

    def create_model(
        self,
        principal: Principal,
        name: str,
        task: Task | str,
        *,
        description: str = "",
        owner: str = "",
    ) -> ModelInfo:
        """Create an empty model called ``name`` in the caller's namespace, owned by the
        caller's organisation (with accounts off, by ``owner``: the single user may record
        one). AlreadyExists when the caller's namespace already holds that name."""
        stored = new_model_name(principal, name)
        recorded_owner = principal.owner if principal.accounts else owner
        created = self._insert_model(stored, _parse_task(task), description, recorded_owner)
        if created is None:
            raise AlreadyExists(
                f"model {name!r} already exists; choose another name, or register a new "
                "version of the existing model"
            )
        return created

    def claim_model(self, name: str, *, owner: str, task: Task, description: str) -> ModelInfo:
        """The model stored as ``name``, for a writer acting for ``owner`` (a training job):
        created, owned by ``owner``, when there is none. Forbidden when it exists and is not
        ``owner``'s to change (another maker took the name while the writer worked)."""
        with self._sessions() as session:
            row = session.scalar(select(ModelRow).where(ModelRow.name == name))
            model = None if row is None else self._model_info(session, row)
        if model is None:
            # None again: someone created it between our read and our insert.
            model = self._insert_model(name, task, description, owner) or self.get_model(name)
        if model.owner != owner and owner not in PLATFORM_OWNERS:
            raise Forbidden(
                f"model {name!r} was created by someone else while this was being made, and "
                "is not yours to change; train again into another model name",
                details={"model": name},
            )
        return model

    def _insert_model(
        self, name: str, task: Task, description: str, owner: str
    ) -> ModelInfo | None:
        """Insert a model row; None when ``name`` is taken."""
        row = ModelRow(
            name=name, task=task.value, description=description, owner=owner, created_at=utc_now()
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            return None
        return model_info(row, None, {})

    def get_model(self, name: str) -> ModelInfo:
        """The model called ``name``; ModelNotFound when there is none."""
        with self._sessions() as session:
            return self._model_info(session, _model_row(session, name))

    def find_model(self, principal: Principal, ref: str) -> ModelInfo:
        """The model ``ref`` means to ``principal`` (the tenancy rule's order of names); one it
        may not see answers exactly as one that does not exist."""
        model = self.lookup_model(principal, ref)
        if model is None:
            raise model_not_found(ref)
        return model

    def lookup_model(self, principal: Principal, ref: str) -> ModelInfo | None:
        """:meth:`find_model`, with None for a model that is missing or not the caller's to
        see (the two are never told apart)."""
        with self._sessions() as session:
            for name in principal.candidates(ref):
                row = session.scalar(select(ModelRow).where(ModelRow.name == name))
                if row is not None and principal.can_see_model(row.name, row.owner):
                    return self._model_info(session, row)
        return None

    def managed_model(self, principal: Principal, ref: str) -> ModelInfo:
        """:meth:`find_model`, for a change: 403 when ``principal`` may use it, not change it."""
        model = self.find_model(principal, ref)
        if not principal.can_manage(model.owner):
            raise Forbidden(
                f"model {ref!r} belongs to {model.owner or 'the platform'}; you may use it, "
                "not change it"
            )
        return model

    def training_target(self, principal: Principal, ref: str) -> str:
        """The stored name of the model a job of ``principal``'s trains into, for ``ref``:
        a model it sees must be one it manages (Forbidden otherwise, as for any change);
        any other ``ref`` names a new model in the caller's namespace, which the job creates
        when it registers its result. Another organisation's model is never written."""
        if self.lookup_model(principal, ref) is not None:
            return self.managed_model(principal, ref).name
        stored = new_model_name(principal, ref)
        if not principal.in_scope(stored):
            # It may exist outside the key's scope: the job must not write into it.
            raise Forbidden(
                f"this API key may use only the models it was made for, and {ref!r} is not "
                "one of them; train with a key that is not limited to some models",
                details={"model": ref},
            )
        return stored

    def list_models(self) -> list[ModelInfo]:
        """Every model, by name (whoever owns it: for the server's own use)."""
        with self._sessions() as session:
            rows = session.scalars(select(ModelRow).order_by(ModelRow.name))
            return [self._model_info(session, row) for row in rows]

    def visible_models(self, principal: Principal) -> list[ModelInfo]:
        """The models ``principal`` may see, by stored name."""
        return [
            model
            for model in self.list_models()
            if principal.can_see_model(model.name, model.owner)
        ]

    @staticmethod
    def _model_info(session: Session, row: ModelRow) -> ModelInfo:
        latest = session.scalar(
            select(func.max(ModelVersionRow.version)).where(ModelVersionRow.model_id == row.id)
        )
        return model_info(row, latest, aliases(session, row))

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
        with extracted(
            upload_path, self._cache_dir, self._max_unpacked_bytes, self._max_unpack_ratio
        ) as root:
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
            return version_info(model, version_row(session, model, ref))

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
                blob,
                self._cache_dir,
                version.artifact_digest,
                self._max_unpacked_bytes,
                self._max_unpack_ratio,
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
            target = version_row(session, model, version)
            session.execute(upsert_alias(session, model.id, alias, target.id))
            return self._model_info(session, model)

    def delete_alias(self, model_name: str, alias: str) -> ModelInfo:
        """Remove ``alias``; VersionNotFound when the model has no such alias."""
        with self._sessions.begin() as session:
            lock_for_write(session)
            model = _model_row(session, model_name, for_update=True)
            row = session.get(AliasRow, (model.id, alias))
            if row is None:
                raise version_not_found(session, model, alias)
            session.delete(row)
            session.flush()
            return self._model_info(session, model)


def _model_row(session: Session, name: str, *, for_update: bool = False) -> ModelRow:
    query = select(ModelRow).where(ModelRow.name == name)
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise model_not_found(name)
    return row


def model_not_found(ref: str) -> ModelNotFound:
    """The one answer for a model that is not there, or not the caller's to see."""
    return ModelNotFound(
        f"model {ref!r} does not exist; GET /v1/registry/models lists the ones you can use, "
        "POST /v1/registry/models creates one",
        details={"model": ref},
    )
