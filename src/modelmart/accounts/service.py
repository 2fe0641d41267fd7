"""Organisations, members and API keys in the database, and turning a key into a Principal.

Every read or change of an organisation's own data takes the caller and applies the tenancy
rule (:meth:`~modelmart.tenancy.Principal.can_see_private`): an organisation reaches only its
own, the operator every one, and another organisation's slug answers exactly as one that does
not exist (:func:`organisation_not_found`).

Authentication is on every request's path, so what the database says about a key prefix (a
usable key, or none: unknown or revoked) is cached for :data:`KEY_CACHE_TTL_S`. A hit costs no
thread hop; a miss reads the database in a worker thread, once for all concurrent callers with
that prefix, and a flood of bad keys is answered from memory. Revocation in this process takes
effect at once, in other server processes within :data:`KEY_CACHE_TTL_S`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts.keys import (
    generate_key,
    hash_secret,
    parse_key,
    secret_matches,
    split_key,
)
from modelmart.errors import AlreadyExists, Forbidden, NotFound, Unauthenticated
from modelmart.schemas.accounts import (
    CreatedKey,
    KeyCreate,
    KeyUpdate,
    KeyView,
    MemberCreate,
    MemberView,
    OrganizationCreate,
    OrganizationUpdate,
    OrganizationView,
)
from modelmart.schemas.pii import checked_policy, stored_policy, strictest
from modelmart.schemas.roles import Role
from modelmart.store.db import lock_for_write
from modelmart.store.tables import ApiKeyRow, MemberRow, OrganizationRow, PublicationRow
from modelmart.tenancy import Principal

KEY_CACHE_TTL_S = 5.0
KEYS_CACHED_AT_MOST = 100_000
"""Bounds the memory that a flood of made-up prefixes can take; the oldest entry goes first."""

# One refusal for every key that cannot be used, whatever the reason: a guesser must not learn
# which prefixes exist or were revoked. Only expiry differs (told to a caller with the secret).
UNUSABLE_KEY = "the API key is not valid: check it, or create a new one"


@dataclass(frozen=True)
class _UsableKey:
    principal: Principal
    secret_hash: str
    expires_at: datetime | None


@dataclass(frozen=True)
class _CachedKey:
    key: _UsableKey | None  # None: no usable key has this prefix (unknown or revoked)
    loaded_at: float


class AccountService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._keys: dict[str, _CachedKey] = {}
        # Key changes run in worker threads while loads finish on the event loop. Each change
        # bumps the generation, so a load that began before it neither caches what it read
        # nor is joined by later callers.
        self._keys_lock = threading.Lock()
        self._keys_generation = 0
        self._loading: dict[tuple[str, int], asyncio.Task[_CachedKey]] = {}

    # --- organisations ------------------------------------------------------------------

    def has_organisations(self) -> bool:
        with self._sessions() as session:
            return session.scalar(select(OrganizationRow.id).limit(1)) is not None

    def create_organisation(
        self, spec: OrganizationCreate, *, is_operator: bool = False
    ) -> OrganizationView:
        """A new organisation; who may make one is the route's to check (the operator)."""
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

    def organisation(self, principal: Principal, slug: str) -> OrganizationView:
        with self._sessions() as session:
            return _org_view(visible_org_row(session, principal, slug))

    def organisations(self, principal: Principal) -> list[OrganizationView]:
        """The organisations ``principal`` may see: its own, or every one for the operator."""
        with self._sessions() as session:
            rows = session.scalars(select(OrganizationRow).order_by(OrganizationRow.slug))
            return [_org_view(row) for row in rows if principal.can_see_private(row.slug)]

    def update_organisation(
        self, principal: Principal, slug: str, change: OrganizationUpdate
    ) -> OrganizationView:
        """Budgets and consent by the organisation's admins; its plan by the operator alone."""
        with self._sessions() as session:
            lock_for_write(session)
            row = visible_org_row(session, principal, slug)
            if change.plan is not None:
                if not principal.is_operator:
                    raise Forbidden(
                        "only the platform's operator changes an organisation's plan; ask it to"
                    )
                row.plan = change.plan
            if change.data_sharing_consent is not None:
                row.data_sharing_consent = change.data_sharing_consent
            if change.monthly_budget is not None:
                row.monthly_budget = change.monthly_budget or None
            if change.budget_action is not None:
                row.budget_action = change.budget_action
            if change.pii_policy is not None:
                row.pii_policy = checked_policy(change.pii_policy)
            session.commit()
            self._forget_keys()  # principals carry the PII policy; plans are looked up fresh
            return _org_view(row)

    # --- members ------------------------------------------------------------------------

    def add_member(self, principal: Principal, slug: str, spec: MemberCreate) -> MemberView:
        with self._sessions() as session:
            lock_for_write(session)
            org = visible_org_row(session, principal, slug)
            _check_grant(principal, spec.role, f"add a member as {spec.role.value}")
            row = MemberRow(org_id=org.id, email=spec.email.lower(), role=spec.role.value)
            session.add(row)
            try:
                session.commit()
            except IntegrityError as exc:
                raise AlreadyExists(f"{spec.email} is already a member of {slug}") from exc
            return _member_view(row)

    def members(self, principal: Principal, slug: str) -> list[MemberView]:
        with self._sessions() as session:
            org = visible_org_row(session, principal, slug)
            rows = session.scalars(select(MemberRow).where(MemberRow.org_id == org.id))
            return [_member_view(row) for row in rows]

    def remove_member(self, principal: Principal, slug: str, member_id: int) -> None:
        with self._sessions() as session:
            lock_for_write(session)
            org = visible_org_row(session, principal, slug)
            result = session.execute(
                delete(MemberRow).where(MemberRow.org_id == org.id, MemberRow.id == member_id)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(
                    f"{slug} has no member {member_id}; GET /v1/orgs/{slug}/members lists them"
                )
            session.commit()

    # --- keys ---------------------------------------------------------------------------

    def create_key(
        self, principal: Principal, slug: str, spec: KeyCreate, *, raw: str | None = None
    ) -> CreatedKey:
        """A new key for ``slug``, with no more powers than ``principal``'s own; ``raw`` lets
        the first start choose the operator's key. ``spec.models`` are stored names."""
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
            org = visible_org_row(session, principal, slug)
            _check_grant(principal, spec.role, f"create a {spec.role.value} key")
            row = ApiKeyRow(
                org_id=org.id,
                name=spec.name,
                prefix=prefix,
                secret_hash=secret_hash,
                role=spec.role.value,
                models=spec.models,
                requests_per_minute=spec.requests_per_minute,
                pii_policy=checked_policy(spec.pii_policy),
                expires_at=expires,
            )
            session.add(row)
            session.commit()
            self._forget_keys(prefix)  # a chosen key's prefix may have been cached as unknown
            return CreatedKey(**_key_view(row).model_dump(), key=raw)

    def keys(self, principal: Principal, slug: str) -> list[KeyView]:
        with self._sessions() as session:
            org = visible_org_row(session, principal, slug)
            rows = session.scalars(
                select(ApiKeyRow).where(ApiKeyRow.org_id == org.id).order_by(ApiKeyRow.id)
            )
            return [_key_view(row) for row in rows]

    def revoke_key(self, principal: Principal, slug: str, key_id: int) -> KeyView:
        with self._sessions() as session:
            lock_for_write(session)
            row = _key_row(session, principal, slug, key_id)
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                session.commit()
            self._forget_keys(row.prefix)
            return _key_view(row)

    def update_key(
        self, principal: Principal, slug: str, key_id: int, changes: KeyUpdate
    ) -> KeyView:
        """Change ``key_id``'s own rate limit or PII policy; it takes effect on its next
        request. The fields ``changes`` sets are changed (null clears), the rest kept."""
        fields = changes.model_fields_set
        with self._sessions() as session:
            lock_for_write(session)
            row = _key_row(session, principal, slug, key_id)
            if row.revoked_at is not None:
                raise Forbidden(f"key {key_id} is revoked; create a new key instead")
            _check_grant(principal, Role(row.role), f"change a {row.role} key")
            if "requests_per_minute" in fields:
                row.requests_per_minute = changes.requests_per_minute
            if "pii_policy" in fields:
                row.pii_policy = checked_policy(changes.pii_policy)
            session.commit()
            self._forget_keys(row.prefix)
            return _key_view(row)

    def rotate_key(self, principal: Principal, slug: str, key_id: int) -> CreatedKey:
        """A new secret with the old key's name, role and scope; the old key stops working."""
        with self._sessions() as session:
            old = _key_row(session, principal, slug, key_id)
            if old.revoked_at is not None:
                raise Forbidden(f"key {key_id} is revoked; create a new key instead")
            spec = KeyCreate(
                name=old.name,
                role=Role(old.role),
                models=old.models,
                requests_per_minute=old.requests_per_minute,
                pii_policy=old.pii_policy,
            )
            expires_at = old.expires_at
        created = self.create_key(principal, slug, spec)
        self.revoke_key(principal, slug, key_id)
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
        """Let ``customer`` see and call ``model`` (a stored name the caller manages)."""
        with self._sessions() as session:
            lock_for_write(session)
            org = _customer_row(session, customer)
            if session.get(PublicationRow, (model, org.id)) is None:
                session.add(PublicationRow(model_name=model, org_id=org.id))
                session.commit()
        self._forget_keys()

    def unpublish(self, model: str, customer: str) -> None:
        with self._sessions() as session:
            lock_for_write(session)
            org = _customer_row(session, customer)
            session.execute(
                delete(PublicationRow).where(
                    PublicationRow.model_name == model, PublicationRow.org_id == org.id
                )
            )
            session.commit()
        self._forget_keys()

    # --- authentication -----------------------------------------------------------------

    async def authenticate(self, raw: str) -> Principal:
        """The caller that ``raw`` belongs to; :class:`Unauthenticated` with
        :data:`UNUSABLE_KEY` for any key that cannot be used, or saying that it expired."""
        parts = parse_key(raw)
        if parts is None:
            raise Unauthenticated(UNUSABLE_KEY)
        prefix, secret = parts
        cached = self._keys.get(prefix)
        if cached is None or time.monotonic() - cached.loaded_at > KEY_CACHE_TTL_S:
            cached = await self._load_once(prefix)
        key = cached.key
        if key is None or not secret_matches(secret, key.secret_hash):
            raise Unauthenticated(UNUSABLE_KEY)
        if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
            raise Unauthenticated(
                f"the API key expired at {key.expires_at.isoformat()}; rotate it or "
                "create a new one"
            )
        return key.principal

    async def _load_once(self, prefix: str) -> _CachedKey:
        """What the database says about ``prefix``, read once for every caller that asks
        while the read is under way."""
        loading = (prefix, self._keys_generation)
        task = self._loading.get(loading)
        if task is None:
            task = asyncio.create_task(self._load(*loading))
            self._loading[loading] = task
        # Shielded: a caller that gives up (its client left) must not cancel the others' read.
        return await asyncio.shield(task)

    async def _load(self, prefix: str, generation: int) -> _CachedKey:
        try:
            cached = await asyncio.to_thread(self._load_key, prefix)
        finally:
            del self._loading[(prefix, generation)]
        with self._keys_lock:
            if generation == self._keys_generation:
                self._keys.pop(prefix, None)  # back in at the end: the oldest entry stays first
                while len(self._keys) >= KEYS_CACHED_AT_MOST:
                    del self._keys[next(iter(self._keys))]
                self._keys[prefix] = cached
        return cached

    def _load_key(self, prefix: str) -> _CachedKey:
        """Runs in a worker thread: the database read behind a cache miss."""
        loaded_at = time.monotonic()  # before the read, so no answer is trusted past the TTL
        with self._sessions() as session:
            key = session.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))
            if key is None or key.revoked_at is not None:
                return _CachedKey(None, loaded_at)
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
                pii_policy=strictest(
                    [stored_policy(org.pii_policy), stored_policy(key.pii_policy)]
                ),
            )
            usable = _UsableKey(principal, key.secret_hash, key.expires_at)
            return _CachedKey(usable, loaded_at)

    def _forget_keys(self, prefix: str | None = None) -> None:
        """Drop what is cached about ``prefix`` (every prefix if None) after a change."""
        with self._keys_lock:
            self._keys_generation += 1
            if prefix is None:
                self._keys.clear()
            else:
                self._keys.pop(prefix, None)


def organisation_not_found(slug: str) -> NotFound:
    """The one answer for an organisation that does not exist or is not the caller's: the
    same status, code, message and details for both."""
    return NotFound(
        f"no organisation {slug!r}; GET /v1/orgs lists the ones you can see",
        details={"organisation": slug},
    )


def visible_org_row(session: Session, principal: Principal, slug: str) -> OrganizationRow:
    """Organisation ``slug``, if ``principal`` may reach its private data."""
    # Another organisation's row is not even read, so nothing about it can show.
    if not principal.can_see_private(slug):
        raise organisation_not_found(slug)
    row = session.scalar(select(OrganizationRow).where(OrganizationRow.slug == slug))
    if row is None:
        raise organisation_not_found(slug)
    return row


def _customer_row(session: Session, slug: str) -> OrganizationRow:
    row = session.scalar(select(OrganizationRow).where(OrganizationRow.slug == slug))
    if row is None:
        raise NotFound(
            f"no organisation {slug!r} to publish to; ask its administrators for its slug",
            details={"organisation": slug},
        )
    return row


def _key_row(session: Session, principal: Principal, slug: str, key_id: int) -> ApiKeyRow:
    org = visible_org_row(session, principal, slug)
    row = session.get(ApiKeyRow, key_id)
    if row is None or row.org_id != org.id:
        raise NotFound(f"{slug} has no key {key_id}; GET /v1/orgs/{slug}/keys lists them")
    return row


def _check_grant(principal: Principal, role: Role, action: str) -> None:
    """A key hands out its own powers, never more."""
    if not principal.role.may_grant(role):
        raise Forbidden(
            f"a {principal.role.value} key cannot {action}; use a key whose role has every "
            f"power of {role.value}"
        )


def _org_view(row: OrganizationRow) -> OrganizationView:
    return OrganizationView.model_validate(row, from_attributes=True)


def _member_view(row: MemberRow) -> MemberView:
    return MemberView.model_validate(row, from_attributes=True)


def _key_view(row: ApiKeyRow) -> KeyView:
    return KeyView.model_validate(row, from_attributes=True)
