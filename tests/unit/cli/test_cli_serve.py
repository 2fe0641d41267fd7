"""``modelmart serve`` builds the settings and hands the app to uvicorn (both faked here)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import uvicorn

from modelmart.config import Settings


@pytest.fixture
def started(monkeypatch):
    """What ``serve`` did: the settings it built, the logging set-up and the uvicorn call."""
    record: dict = {}
    gateway_app = types.ModuleType("modelmart.gateway.app")
    gateway_app.create_app = lambda settings: record.setdefault("app", ("app", settings))
    observability = types.ModuleType("modelmart.gateway.observability")
    observability.configure_logging = lambda settings: record.setdefault("logging", settings)
    # Faked modules, so these tests neither need nor start the real server.
    monkeypatch.setitem(sys.modules, "modelmart.gateway.app", gateway_app)
    monkeypatch.setitem(sys.modules, "modelmart.gateway.observability", observability)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: record.update(run=(app, kw)))
    for name in ("HOST", "PORT", "DATA_DIR", "DATABASE_URL", "LOG_LEVEL"):
        monkeypatch.delenv(f"MODELMART_{name}", raising=False)
    return record


def test_serve_passes_the_flags_to_the_settings_and_uvicorn(cli, started, tmp_path):
    result = cli(
        "serve", "--host", "0.0.0.0", "--port", "9001", "--data-dir", str(tmp_path),
        "--database-url", "sqlite:///x.db",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    app, kwargs = started["run"]
    settings = app[1]
    assert isinstance(settings, Settings)
    assert (settings.host, settings.port, settings.data_dir) == ("0.0.0.0", 9001, tmp_path)
    assert settings.database_url == "sqlite:///x.db"
    assert kwargs == {"host": "0.0.0.0", "port": 9001, "access_log": False, "log_config": None}
    assert started["logging"] is settings


def test_serve_reads_the_environment_under_the_flags(cli, started, monkeypatch):
    monkeypatch.setenv("MODELMART_PORT", "7000")
    monkeypatch.setenv("MODELMART_DATA_DIR", "/srv/mm")
    monkeypatch.setenv("MODELMART_LOG_LEVEL", "DEBUG")

    result = cli("serve", "--port", "7100")

    assert result.exit_code == 0, result.output
    app, kwargs = started["run"]
    settings = app[1]
    assert (settings.port, settings.data_dir, settings.log_level) == (
        7100,
        Path("/srv/mm"),
        "DEBUG",
    )
    assert kwargs["host"] == "127.0.0.1"


def test_serve_reports_invalid_settings(cli, started):
    result = cli("serve", "--database-url", "mysql://db")

    assert result.exit_code == 1
    assert result.stderr.startswith("error [validation_failed]: the server settings are not valid")
    assert "database_url" in result.stderr
    assert "run" not in started


def test_serve_without_the_server_extra_says_what_to_install(cli, started, monkeypatch):
    # As after `pip install modelmart`: the SDK and CLI are there, uvicorn and co. are not.
    monkeypatch.setitem(sys.modules, "uvicorn", None)

    result = cli("serve")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: modelmart serve needs the server's dependencies and uvicorn is not installed; "
        "install them with: pip install 'modelmart[server]'\n"
    )
    assert "run" not in started
