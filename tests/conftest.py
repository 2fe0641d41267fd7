"""Fixtures shared by the whole suite: a throwaway PostgreSQL server and a database URL that
runs a test against SQLite and PostgreSQL in turn."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

_PG_USER = "postgres"

# Most tests exercise one feature with authentication out of the way; the accounts and billing
# tests turn it on explicitly with Settings(auth_enabled=True).
os.environ.setdefault("MODELMART_AUTH_ENABLED", "false")


def _postgres_bindir() -> Path | None:
    """Where initdb, pg_ctl and postgres live: pg_config, then Debian's layout, then PATH."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            out = subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    return next(
        (c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None
    )


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres_user(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", _PG_USER, "--", *argv]
    return argv


def _run(argv: list[str]) -> None:
    result = subprocess.run(_as_postgres_user(argv), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({result.returncode}):\n{result.stderr}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A ``postgresql+psycopg://`` URL of an empty database on a private, throwaway server."""
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found; install the Debian package postgresql")
    if os.geteuid() == 0 and not _user_exists(_PG_USER):
        pytest.skip(f"running as root needs a {_PG_USER!r} OS user to run PostgreSQL as")
    # Not pytest's tmp_path: its parents are root-only, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="modelmart-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, user=_PG_USER)
    data, port = base / "data", _free_port()
    _run([str(bindir / "initdb"), "-D", str(data), "-U", _PG_USER, "-A", "trust", "-E", "UTF8",
          "--no-sync", "--no-instructions"])  # fmt: skip
    options = f"-F -h 127.0.0.1 -p {port} -k {base} -c max_connections=200"
    _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-o", options,
          "-w", "start"])  # fmt: skip
    try:
        yield f"postgresql+psycopg://{_PG_USER}@127.0.0.1:{port}/postgres"
    finally:
        _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def _fresh_postgres_database(server_url: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            # FORCE: a test that forgot to dispose its engine must not break the next one.
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for one test: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'modelmart.db'}"
        return
    server_url: str = request.getfixturevalue("postgres_url")
    with _fresh_postgres_database(server_url) as url:
        yield url


@pytest.fixture
def shared_database(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database that every server of one test shares."""
    with _fresh_postgres_database(postgres_url) as url:
        yield url


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A throwaway Redis server on loopback (no persistence) for one test."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    port = _free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(tmp_path)]  # fmt: skip
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)
