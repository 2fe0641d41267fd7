"""The metadata schema: models, their immutable versions, aliases and deployments.

Migrations in ``migrations/versions`` create exactly this schema; a test compares the two.
Timestamps are timezone-aware UTC on the way in and out, whatever the database stores.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column
from sqlalchemy.types import TypeDecorator

from modelmart.errors import ModelMartError

NAME_LENGTH = 128
QUALIFIED_NAME_LENGTH = 200
"""A name scoped to an organisation, ``org:name`` (see modelmart.tenancy)."""

# Fixed constraint names keep migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC. SQLite keeps no zone, so one is attached when reading."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value.isoformat()} has no time zone; pass UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(QUALIFIED_NAME_LENGTH), unique=True)
    task: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class ModelVersionRow(Base):
    """One registered artifact. Rows are never updated: a change is a new version."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version: Mapped[int] = mapped_column(Integer)
    artifact_digest: Mapped[str] = mapped_column(String(64))
    artifact_size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(32))
    runtime: Mapped[str] = mapped_column(String(32))
    signature: Mapped[dict[str, Any]] = mapped_column()
    parameters: Mapped[dict[str, Any]] = mapped_column()
    metrics: Mapped[dict[str, Any]] = mapped_column()
    lineage: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


@event.listens_for(ModelVersionRow, "before_update")
def _refuse_version_update(_mapper: Mapper[Any], _connection: Any, row: ModelVersionRow) -> None:
    # Deployments, metrics and audits point at (model, version); changing what one means
    # would silently change all of them.
    raise ModelMartError(
        f"model version {row.version} (id {row.id}) was about to be updated, but versions are "
        "immutable; register a new version instead of changing an existing one"
    )


class AliasRow(Base):
    """A movable name (``production``, ``staging``) for one version of a model."""

    __tablename__ = "aliases"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class DeploymentRow(Base):
    """A deployment's desired state, read back to restore deployments after a restart."""

    __tablename__ = "deployments"
    __table_args__ = (
        CheckConstraint("(version IS NULL) <> (alias IS NULL)", name="version_xor_alias"),
        CheckConstraint("isolation IN ('process', 'thread')", name="isolation"),
    )

    name: Mapped[str] = mapped_column(String(QUALIFIED_NAME_LENGTH), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(QUALIFIED_NAME_LENGTH))
    version: Mapped[int | None] = mapped_column(Integer)
    alias: Mapped[str | None] = mapped_column(String(64))
    instances: Mapped[int] = mapped_column(Integer)
    max_batch_size: Mapped[int] = mapped_column(Integer)
    max_delay_ms: Mapped[float] = mapped_column(Float)
    timeout_s: Mapped[float | None] = mapped_column(Float)
    isolation: Mapped[str] = mapped_column(String(16))
    # The organisation that made it; "" for deployments made with authentication off.
    owner: Mapped[str] = mapped_column(String(64), default="")
    pii_policy: Mapped[str | None] = mapped_column(String(16))  # modelmart.schemas.pii
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Autoscaling bounds (both set, or neither for a fixed count) and its target load.
    min_instances: Mapped[int | None] = mapped_column(Integer)
    max_instances: Mapped[int | None] = mapped_column(Integer)
    target_ongoing_requests: Mapped[float] = mapped_column(Float, default=2.0)
    # The queue's own limit (NULL: the server's) and its CPU ids, comma-separated ("": any).
    max_queued_requests: Mapped[int | None] = mapped_column(Integer)
    cpus: Mapped[str] = mapped_column(Text, default="")


class DatasetVersionRow(Base):
    """One immutable, content-addressed version of a named dataset."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(QUALIFIED_NAME_LENGTH))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    file_format: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    target: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    # The organisation that uploaded it; "" for built-in samples and auth-off uploads.
    owner: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class JobRow(Base):
    """A training job: its spec, where it stands and, once it succeeded, what it produced."""

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(f"state IN {JOB_STATES!r}", name="state"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Indexed: every server looks for open jobs of lost servers on each heartbeat.
    state: Mapped[str] = mapped_column(String(16), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column()
    dataset_name: Mapped[str] = mapped_column(String(QUALIFIED_NAME_LENGTH))
    dataset_version: Mapped[int] = mapped_column(Integer)
    model_name: Mapped[str] = mapped_column(String(QUALIFIED_NAME_LENGTH))
    model_version: Mapped[int | None] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(64), default="")
    failure_reason: Mapped[str | None] = mapped_column(Text)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    # The server process that runs it (a job_servers id, kept after that row is pruned) and
    # "host pid" for people; a cancel asked through another server waits here for the owner.
    server_id: Mapped[str | None] = mapped_column(String(32))
    server_name: Mapped[str | None] = mapped_column(String(300))
    cancel_requested: Mapped[bool] = mapped_column(default=False)


class JobServerRow(Base):
    """A running server process that may own jobs, and when it last said it was alive."""

    __tablename__ = "job_servers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_seen: Mapped[datetime] = mapped_column(default=utc_now)


class JobEventRow(Base):
    """One progress report of a job (an epoch's losses and metrics), in arrival order."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    total_epochs: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Float)
    validation_loss: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column()
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


# --- Accounts and billing -------------------------------------------------------------------
# Money and unit quantities are stored as decimal strings: SQLite has no exact decimal type, and
# a bill must add up to the cent on both databases.

MONEY_LENGTH = 40


class OrganizationRow(Base):
    """A customer (or the operator running the platform). ``plan`` names a :class:`PlanRow`."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    plan: Mapped[str] = mapped_column(String(64))
    is_operator: Mapped[bool] = mapped_column(default=False)
    data_sharing_consent: Mapped[bool] = mapped_column(default=False)
    monthly_budget: Mapped[str | None] = mapped_column(String(MONEY_LENGTH))
    budget_action: Mapped[str] = mapped_column(String(16), default="stop")
    pii_policy: Mapped[str | None] = mapped_column(String(16))  # modelmart.schemas.pii
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class MemberRow(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("org_id", "email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    email: Mapped[str] = mapped_column(String(NAME_LENGTH))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class ApiKeyRow(Base):
    """An API key: only its public prefix and the SHA-256 of its secret are kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    models: Mapped[list[str] | None] = mapped_column(JSON)
    requests_per_minute: Mapped[int | None] = mapped_column(Integer)
    pii_policy: Mapped[str | None] = mapped_column(String(16))  # modelmart.schemas.pii
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class PlanRow(Base):
    __tablename__ = "plans"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    monthly_fee: Mapped[str] = mapped_column(String(MONEY_LENGTH))
    included_units: Mapped[dict[str, Any]] = mapped_column()
    monthly_quota: Mapped[dict[str, Any]] = mapped_column()
    requests_per_minute: Mapped[int | None] = mapped_column(Integer)
    units_per_minute: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class PriceRow(Base):
    """The price of ``per`` units of ``unit`` on ``model_name`` (``*``: any model)."""

    __tablename__ = "prices"
    __table_args__ = (UniqueConstraint("model_name", "unit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(QUALIFIED_NAME_LENGTH))
    unit: Mapped[str] = mapped_column(String(32))
    amount: Mapped[str] = mapped_column(String(MONEY_LENGTH))
    per: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    publisher_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))


class PublicationRow(Base):
    """A model its owner has published to another organisation."""

    __tablename__ = "publications"

    model_name: Mapped[str] = mapped_column(String(QUALIFIED_NAME_LENGTH), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class UsageRow(Base):
    """One served request: written exactly once, before the response's last byte leaves.

    With an idempotency key the response itself is kept, so a retry gets it back unbilled,
    and so is the request's fingerprint (``request_hash``), so the key replays that request
    only. ``energy_uj`` is not a billed unit: the rollups add it up as the unit
    ``energy_joules`` (whose millionths are microjoules).
    """

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key"),
        # An organisation's records of an hour, for usage reports' partial first and last
        # hours (whole hours come from UsageRollupRow).
        Index(None, "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    key_id: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(QUALIFIED_NAME_LENGTH))
    version: Mapped[int] = mapped_column(Integer)
    units: Mapped[dict[str, Any]] = mapped_column()
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_type: Mapped[str | None] = mapped_column(String(128))
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    request_hash: Mapped[str | None] = mapped_column(String(64))  # sha256, hex
    # The request's share of the energy its batches used, in whole microjoules (exact).
    energy_uj: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


@event.listens_for(UsageRow, "before_update")
def _refuse_usage_update(_mapper: Mapper[Any], _connection: Any, target: UsageRow) -> None:
    # The hourly rollups were added up from the row as written; changing it would make them
    # disagree with the ledger.
    raise ModelMartError(
        f"usage record {target.id} was about to be updated, but usage records are never "
        "changed; record a new one instead"
    )


NO_KEY = -1
"""The ``key_id`` a rollup stores for records without an API key (a key column that may be
NULL could not be part of the rollup's primary key)."""


class UsageRollupRow(Base):
    """The usage records of one hour added up per organisation, model, API key and unit,
    written in the same transaction as the records themselves, so usage reports and invoices
    read a row per group and hour instead of one per request.

    ``quantity`` is in millionths of a unit (an integer: exact on SQLite too, and added up by
    the database itself in an upsert; a 64-bit integer holds 9.2 trillion units, per row and,
    on SQLite, per reported total); ``hour`` is the start of the hour, UTC."""

    __tablename__ = "usage_rollups"
    # SQLite: rows kept in the primary key's own B-tree, one write per upsert instead of two.
    __table_args__ = {"sqlite_with_rowid": False}

    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(QUALIFIED_NAME_LENGTH), primary_key=True)
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger)


class InvoiceRow(Base):
    """A finalised invoice: immutable once written (the ORM guard below refuses updates)."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("org_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    period: Mapped[str] = mapped_column(String(7))
    currency: Mapped[str] = mapped_column(String(3))
    document: Mapped[dict[str, Any]] = mapped_column()
    total: Mapped[str] = mapped_column(String(MONEY_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    org_id: Mapped[int | None] = mapped_column(Integer, index=True)
    key_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column()
    address: Mapped[str] = mapped_column(String(64))


@event.listens_for(InvoiceRow, "before_update")
def _refuse_invoice_update(_mapper: Mapper[Any], _connection: Any, target: InvoiceRow) -> None:
    raise ModelMartError(f"invoice {target.id} is final; invoices are never changed")


class RetainedInputRow(Base):
    """An input an organisation on the data-sharing plan consented to share, PII removed."""

    __tablename__ = "retained_inputs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    model: Mapped[str] = mapped_column(String(QUALIFIED_NAME_LENGTH), index=True)
    texts: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
