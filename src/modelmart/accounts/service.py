"""Organisations, members and API keys in the database, and turning a key into a Principal.

Authentication is on every request's path, so a verified key is cached for a few seconds:
revocation in this process takes effect at once, in other server processes within
:data:`KEY_CACHE_TTL_S`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts.keys import generate_key, hash_secret, secret_matches, split_key
from modelmart.accounts.principal import Principal
from modelmart.errors import AlreadyExists, Forbidden, NotFound, Unauthenticated
from modelmart.schemas.accounts import (
    CreatedKey,
    KeyCreate,
    KeyView,
    MemberCreate,
    MemberView,
    OrganizationCreate,
    OrganizationUpdate,
    OrganizationView,
)
from modelmart.schemas.roles import Role
from modelmart.store.db import lock_for_write
from modelmart.store.tables import ApiKeyRow, MemberRow, OrganizationRow, PublicationRow

KEY_CACHE_TTL_S = 5.0


@dataclass(frozen=True)
class _CachedKey:
    principal: Principal
    secret_hash: str
    expires_at: datetime | None
    loaded_at: float


class AccountService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._keys: dict[str, _CachedKey] = {}

    # --- organisations ------------------------------------------------------------------

    def has_organisations(self) -> bool:
        with self._sessions() as session:
            return session.scalar(select(OrganizationRow.id).limit(1)) is not None

    def create_organisation(
        self, spec: OrganizationCreate, *, is_operator: bool = False
    ) -> OrganizationView:
        row = OrganizationRow(
            slug=spec.slug,
            name=spec.name,
            plan=spec.plan,
            is_operator=is_operator,
            data_sharing_consent=spec.data_sharing_consent,
        )
        with self._sessions() as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError as exc:
                raise AlreadyExists(f"an organisation called {spec.slug!r} exists") from exc
        return _org_view(row)

    def organisation(self, slug: str) -> OrganizationView:
        with self._sessions() as session:
            return _org_view(self._org_row(session, slug))

    def organisations(self) -> list[OrganizationView]:
        with self._sessions() as session:
            rows = session.scalars(select(OrganizationRow).order_by(OrganizationRow.slug))
            return [_org_view(row) for row in rows]

    def update_organisation(self, slug: str, change: OrganizationUpdate) -> OrganizationView:
        with self._sessions() as session:
            lock_for_write(session)
            row = self._org_row(session, slug)
            if change.plan is not None:
                row.plan = change.plan
            if change.data_sharing_consent is not None:
                row.data_sharing_consent = change.data_sharing_consent
            if change.monthly_budget is not None:
                row.monthly_budget = change.monthly_budget or None
            if change.budget_action is not None:
                row.budget_action = change.budget_action
            session.commit()
            self._keys.clear()  # principals carry nothing of this, but plans are looked up fresh
            return _org_view(row)

    # --- members ------------------------------------------------------------------------

    def add_member(self, slug: str, spec: MemberCreate) -> MemberView:
        with self._sessions() as session:
            lock_for_write(session)
            org = self._org_row(session, slug)
            row = MemberRow(org_id=org.id, email=spec.email.lower(), role=spec.role.value)
            session.add(row)
            try:
                session.commit()
            except IntegrityError as exc:
                raise AlreadyExists(f"{spec.email} is already a member of {slug}") from exc
            return _member_view(row)

    def members(self, slug: str) -> list[MemberView]:
        with self._sessions() as session:
            org = self._org_row(session, slug)
            rows = session.scalars(select(MemberRow).where(MemberRow.org_id == org.id))
            return [_member_view(row) for row in rows]

    def remove_member(self, slug: str, member_id: int) -> None:
        with self._sessions() as session:
            lock_for_write(session)
            org = self._org_row(session, slug)
            result = session.execute(
                delete(MemberRow).where(MemberRow.org_id == org.id, MemberRow.id == member_id)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"{slug} has no member {member_id}")
            session.commit()

    # --- keys ---------------------------------------------------------------------------

    def create_key(
        self, slug: str, spec: KeyCreate, *, raw: str | None = None, granted_by: Role | None = None
    ) -> CreatedKey:
        """A new key for ``slug``; ``raw`` lets an operator choose the bootstrap key."""
        if granted_by is not None and not granted_by.may_grant(spec.role):
            raise Forbidden(f"a {granted_by.value} key cannot create a {spec.role.value} key")
        if raw is None:
            new = generate_key()
            raw, prefix, secret_hash = new.raw, new.prefix, new.secret_hash
        else:
            prefix, secret = split_key(raw)
            secret_hash = hash_secret(secret)
        expires = (
            datetime.now(UTC) + timedelta(days=spec.expires_in_days)
            if spec.expires_in_days
            else None
        )
        with self._sessions() as session:
            lock_for_write(session)
            org = self._org_row(session, slug)
            row = ApiKeyRow(
                org_id=org.id,
                name=spec.name,
                prefix=prefix,
                secret_hash=secret_hash,
                role=spec.role.value,
                models=spec.models,
                requests_per_minute=spec.requests_per_minute,
                expires_at=expires,
            )
            session.add(row)
            session.commit()
            return CreatedKey(**_key_view(row).model_dump(), key=raw)

    def keys(self, slug: str) -> list[KeyView]:
        with self._sessions() as session:
            org = self._org_row(session, slug)
            rows = session.scalars(
                select(ApiKeyRow).where(ApiKeyRow.org_id == org.id).order_by(ApiKeyRow.id)
            )
            return [_key_view(row) for row in rows]

    def revoke_key(self, slug: str, key_id: int) -> KeyView:
        with self._sessions() as session:
            lock_for_write(session)
            row = self._key_row(session, slug, key_id)
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                session.commit()
            self._keys.pop(row.prefix, None)
            return _key_view(row)

    def rotate_key(self, slug: str, key_id: int) -> CreatedKey:
        """A new secret with the old key's name, role and scope; the old key stops working."""
        with self._sessions() as session:
            old = self._key_row(session, slug, key_id)
            if old.revoked_at is not None:
                raise Forbidden(f"key {key_id} is revoked; create a new key instead")
            spec = KeyCreate(
                name=old.name,
                role=Role(old.role),
                models=old.models,
                requests_per_minute=old.requests_per_minute,
            )
            expires_at = old.expires_at
        self.revoke_key(slug, key_id)
        created = self.create_key(slug, spec)
        if expires_at is None:
            return created
        with self._sessions() as session:
            lock_for_write(session)
            row = session.get_one(ApiKeyRow, created.id)
            row.expires_at = expires_at
            session.commit()
            return CreatedKey(**_key_view(row).model_dump(), key=created.key)

    # --- publications -------------------------------------------------------------------

    def publish(self, model: str, customer: str) -> None:
        with self._sessions() as session:
            lock_for_write(session)
            org = self._org_row(session, customer)
            if session.get(PublicationRow, (model, org.id)) is None:
                session.add(PublicationRow(model_name=model, org_id=org.id))
                session.commit()
        self._keys.clear()

    def unpublish(self, model: str, customer: str) -> None:
        with self._sessions() as session:
            lock_for_write(session)
            org = self._org_row(session, customer)
            session.execute(
                delete(PublicationRow).where(
                    PublicationRow.model_name == model, PublicationRow.org_id == org.id
                )
            )
            session.commit()
        self._keys.clear()

    # --- authentication -----------------------------------------------------------------

    def authenticate(self, raw: str) -> Principal:
        prefix, secret = split_key(raw)
        cached = self._keys.get(prefix)
        if cached is None or time.monotonic() - cached.loaded_at > KEY_CACHE_TTL_S:
            cached = self._load_key(prefix)
            self._keys[prefix] = cached
        if not secret_matches(secret, cached.secret_hash):
            raise Unauthenticated("the API key is not valid; check it or create a new one")
        if cached.expires_at is not None and cached.expires_at <= datetime.now(UTC):
            raise Unauthenticated(
                f"the API key expired at {cached.expires_at.isoformat()}; rotate it or "
                "create a new one"
            )
        return cached.principal

    def _load_key(self, prefix: str) -> _CachedKey:
        with self._sessions() as session:
            key = session.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))
            if key is None or key.revoked_at is not None:
                reason = "was revoked" if key is not None else "is not known"
                raise Unauthenticated(f"the API key {reason}; create a new one")
            org = session.get_one(OrganizationRow, key.org_id)
            published = session.scalars(
                select(PublicationRow.model_name).where(PublicationRow.org_id == org.id)
            )
            principal = Principal(
                org_id=org.id,
                org_slug=org.slug,
                key_id=key.id,
                role=Role(key.role),
                is_operator=org.is_operator,
                models=frozenset(key.models) if key.models is not None else None,
                published=frozenset(published),
            )
            return _CachedKey(principal, key.secret_hash, key.expires_at, time.monotonic())

    # --- rows ---------------------------------------------------------------------------

    @staticmethod
    def _org_row(session: Session, slug: str) -> OrganizationRow:
        row = session.scalar(select(OrganizationRow).where(OrganizationRow.slug == slug))
        if row is None:
            raise NotFound(f"no organisation {slug!r}; GET /v1/orgs lists the ones you can see")
        return row

    def _key_row(self, session: Session, slug: str, key_id: int) -> ApiKeyRow:
        org = self._org_row(session, slug)
        row = session.get(ApiKeyRow, key_id)
        if row is None or row.org_id != org.id:
            raise NotFound(f"{slug} has no key {key_id}; GET /v1/orgs/{slug}/keys lists them")
        return row


def _org_view(row: OrganizationRow) -> OrganizationView:
    return OrganizationView.model_validate(row, from_attributes=True)


def _member_view(row: MemberRow) -> MemberView:
    return MemberView.model_validate(row, from_attributes=True)


def _key_view(row: ApiKeyRow) -> KeyView:
    return KeyView.model_validate(row, from_attributes=True)
