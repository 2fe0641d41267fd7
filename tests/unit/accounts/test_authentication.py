"""Turning a key into a Principal: one refusal for every unusable key, and a cache that keeps
the database (and the event loop) out of the way of repeated keys, good or bad."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts import service as service_module
from modelmart.accounts.keys import generate_key, split_key
from modelmart.accounts.service import KEY_CACHE_TTL_S, UNUSABLE_KEY, AccountService
from modelmart.errors import Unauthenticated
from modelmart.schemas.accounts import CreatedKey, KeyCreate, OrganizationCreate
from modelmart.schemas.roles import Role
from modelmart.store.tables import ApiKeyRow
from modelmart.tenancy import Principal

OPERATOR = Principal.single_user()


class CountedSessions:
    """The test database's sessions, recording the thread that opened each one."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self.threads: list[threading.Thread] = []

    def __call__(self) -> Session:
        self.threads.append(threading.current_thread())
        return self._sessions()


@pytest.fixture
def counted(sessions: sessionmaker[Session]) -> CountedSessions:
    return CountedSessions(sessions)


@pytest.fixture
def accounts(counted: CountedSessions) -> AccountService:
    service = AccountService(counted)  # type: ignore[arg-type]
    service.create_organisation(OrganizationCreate(slug="acme", name="Acme"))
    return service


@pytest.fixture
def elsewhere(sessions: sessionmaker[Session]) -> AccountService:
    """The same database seen by another server process, whose changes this one never hears of."""
    return AccountService(sessions)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(service_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


@pytest.fixture
def key(accounts: AccountService) -> CreatedKey:
    return accounts.create_key(OPERATOR, "acme", KeyCreate(name="app", role=Role.DEVELOPER))


async def refusal(accounts: AccountService, raw: str) -> dict[str, object]:
    with pytest.raises(Unauthenticated) as refused:
        await accounts.authenticate(raw)
    return refused.value.to_dict()


async def test_every_unusable_key_gets_the_same_refusal(
    accounts: AccountService, key: CreatedKey
) -> None:
    prefix, _ = split_key(key.key)
    unusable = [
        f"mm_{prefix}_wrong-secret",
        generate_key().raw,  # unknown
        "sk-something-else",
        "mm_short_secret",
        f"mm_{prefix}_",
        "",
    ]
    refusals = [await refusal(accounts, raw) for raw in unusable]
    accounts.revoke_key(OPERATOR, "acme", key.id)
    refusals.append(await refusal(accounts, key.key))

    expected = {"error": {"code": "unauthenticated", "message": UNUSABLE_KEY, "details": {}}}
    assert refusals == [expected] * len(refusals)


async def test_an_expired_key_says_so_to_its_holder_only(
    accounts: AccountService, key: CreatedKey, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        yesterday = datetime.now(UTC) - timedelta(days=1)
        session.execute(
            update(ApiKeyRow).where(ApiKeyRow.id == key.id).values(expires_at=yesterday)
        )
        session.commit()
    with pytest.raises(Unauthenticated, match="the API key expired at"):
        await accounts.authenticate(key.key)
    prefix, _ = split_key(key.key)
    assert (await refusal(accounts, f"mm_{prefix}_guess"))["error"]["message"] == UNUSABLE_KEY  # type: ignore[index]


async def test_a_miss_reads_in_a_worker_thread_and_a_hit_reads_nothing(
    accounts: AccountService,
    key: CreatedKey,
    counted: CountedSessions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = len(counted.threads)
    await accounts.authenticate(key.key)
    assert len(counted.threads) == opened + 1
    assert counted.threads[-1] is not threading.current_thread()

    def no_thread_hop(*_: object) -> None:
        raise AssertionError("a cache hit must not leave the event loop")

    monkeypatch.setattr(asyncio, "to_thread", no_thread_hop)
    for _ in range(20):
        assert (await accounts.authenticate(key.key)).key_id == key.id
    assert len(counted.threads) == opened + 1


async def test_concurrent_misses_for_one_prefix_share_one_read(
    accounts: AccountService, key: CreatedKey, counted: CountedSessions
) -> None:
    opened = len(counted.threads)
    principals = await asyncio.gather(*(accounts.authenticate(key.key) for _ in range(20)))
    assert {principal.key_id for principal in principals} == {key.id}
    assert len(counted.threads) == opened + 1

    unknown = generate_key().raw
    refused = await asyncio.gather(
        *(accounts.authenticate(unknown) for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(error, Unauthenticated) for error in refused)
    assert len(counted.threads) == opened + 2


async def test_a_refusal_is_cached_for_the_ttl_like_a_good_key(
    accounts: AccountService,
    elsewhere: AccountService,
    counted: CountedSessions,
    clock: list[float],
) -> None:
    raw = generate_key().raw
    opened = len(counted.threads)
    for _ in range(50):  # a flood of one bad key costs one read
        await refusal(accounts, raw)
    assert len(counted.threads) == opened + 1

    elsewhere.create_key(OPERATOR, "acme", KeyCreate(name="chosen"), raw=raw)
    clock[0] += KEY_CACHE_TTL_S - 0.1
    await refusal(accounts, raw)  # still the cached refusal
    clock[0] += 0.2
    assert (await accounts.authenticate(raw)).org_slug == "acme"


async def test_revocation_takes_effect_at_once_here_and_within_the_ttl_elsewhere(
    accounts: AccountService, elsewhere: AccountService, clock: list[float]
) -> None:
    here = accounts.create_key(OPERATOR, "acme", KeyCreate(name="here"))
    there = accounts.create_key(OPERATOR, "acme", KeyCreate(name="there"))
    await accounts.authenticate(here.key)
    await accounts.authenticate(there.key)

    accounts.revoke_key(OPERATOR, "acme", here.id)
    assert (await refusal(accounts, here.key))["error"]["message"] == UNUSABLE_KEY  # type: ignore[index]

    elsewhere.revoke_key(OPERATOR, "acme", there.id)
    await accounts.authenticate(there.key)  # this process has not heard of it yet
    clock[0] += KEY_CACHE_TTL_S + 0.1
    assert (await refusal(accounts, there.key))["error"]["message"] == UNUSABLE_KEY  # type: ignore[index]


def hold_first_read(
    accounts: AccountService, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, threading.Event]:
    """Make the service's first key read wait, once it has read, until released."""
    read, release = threading.Event(), threading.Event()
    load: Callable[[str], object] = accounts._load_key

    def held(prefix: str) -> object:
        loaded = load(prefix)
        if not read.is_set():
            read.set()
            assert release.wait(10), "the test never released the read"
        return loaded

    monkeypatch.setattr(accounts, "_load_key", held)
    return read, release


async def test_a_read_that_raced_a_revocation_is_neither_joined_nor_cached(
    accounts: AccountService, key: CreatedKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    read, release = hold_first_read(accounts, monkeypatch)
    before = asyncio.create_task(accounts.authenticate(key.key))
    assert await asyncio.to_thread(read.wait, 10)

    accounts.revoke_key(OPERATOR, "acme", key.id)
    await refusal(accounts, key.key)  # a new read, not the one under way
    release.set()
    assert (await before).key_id == key.id  # it asked before the revocation
    await refusal(accounts, key.key)  # what that read saw was not cached


async def test_a_caller_that_gives_up_does_not_cancel_the_shared_read(
    accounts: AccountService, key: CreatedKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    read, release = hold_first_read(accounts, monkeypatch)
    leaving = asyncio.create_task(accounts.authenticate(key.key))
    assert await asyncio.to_thread(read.wait, 10)
    staying = asyncio.create_task(accounts.authenticate(key.key))
    await asyncio.sleep(0)
    leaving.cancel()
    release.set()
    assert (await staying).key_id == key.id
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_the_cache_keeps_the_newest_prefixes_up_to_its_bound(
    accounts: AccountService, counted: CountedSessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "KEYS_CACHED_AT_MOST", 3)
    made_up = [generate_key().raw for _ in range(10)]
    for raw in made_up:
        await refusal(accounts, raw)
    opened = len(counted.threads)
    for raw in made_up[-3:]:
        await refusal(accounts, raw)
    assert len(counted.threads) == opened  # the newest are still cached
    await refusal(accounts, made_up[0])
    assert len(counted.threads) == opened + 1  # the oldest was dropped
