"""A model's version and alias rows: one version by number, alias or ``latest``, the alias
upsert, and the 404 that lists what the model has (asked only of a model the caller sees)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from modelmart.errors import VersionNotFound
from modelmart.store.tables import AliasRow, ModelRow, ModelVersionRow, utc_now

LATEST = "latest"


def aliases(session: Session, model: ModelRow) -> dict[str, int]:
    rows = session.execute(
        select(AliasRow.name, ModelVersionRow.version)
        .join(ModelVersionRow, AliasRow.version_id == ModelVersionRow.id)
        .where(AliasRow.model_id == model.id)
    )
    return {name: number for name, number in rows}


def version_row(session: Session, model: ModelRow, ref: int | str) -> ModelVersionRow:
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
        raise version_not_found(session, model, ref)
    return row


def version_not_found(session: Session, model: ModelRow, ref: int | str) -> VersionNotFound:
    versions = list(
        session.scalars(
            select(ModelVersionRow.version)
            .where(ModelVersionRow.model_id == model.id)
            .order_by(ModelVersionRow.version)
        )
    )
    named = aliases(session, model)
    what = f"version {ref}" if isinstance(ref, int) else f"alias {ref!r}"
    if not versions:
        hint = "it has no versions yet; register one first"
    else:
        listed = ", ".join(f"{name} -> {number}" for name, number in sorted(named.items()))
        hint = f"available versions: {', '.join(map(str, versions))}; aliases: {listed or 'none'}"
    return VersionNotFound(
        f"model {model.name!r} has no {what}; {hint}",
        details={"model": model.name, "versions": versions, "aliases": named},
    )


def upsert_alias(session: Session, model_id: int, alias: str, version_id: int) -> Insert:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"version_id": version_id, "updated_at": utc_now()}
    return (
        insert(AliasRow)
        .values(model_id=model_id, name=alias, **values)
        .on_conflict_do_update(index_elements=[AliasRow.model_id, AliasRow.name], set_=values)
    )
