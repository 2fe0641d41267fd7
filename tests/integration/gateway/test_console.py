"""The console is served by the real server: public, with the right content types, while the
API behind it still needs a key."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

import httpx
import pytest

from modelmart.config import Settings
from tests.integration.servers import LiveServer, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("console") / "data",
        json_logs=False,
        auth_enabled=True,
        bootstrap_api_key="mm_0123456789ab_console-route-secret",
    )
    with live_server(settings) as running:
        yield running


def test_console_redirects_to_its_page_without_a_key(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/console")
    assert response.status_code == 308
    assert response.headers["location"] == "/console/"
    page = httpx.get(f"{server.url}/console/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="app.js">' in page.text


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("app.js", "text/javascript"),
        ("pages/playground.js", "text/javascript"),
        ("style.css", "text/css"),
        ("index.html", "text/html"),
    ],
)
def test_assets_are_served_with_their_types(server: LiveServer, path: str, media_type: str) -> None:
    response = httpx.get(f"{server.url}/console/{path}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.headers["cache-control"] == "no-cache"


def test_every_module_the_page_loads_is_served(server: LiveServer) -> None:
    pending, seen = ["app.js"], set()
    while pending:
        path = pending.pop()
        seen.add(path)
        response = httpx.get(f"{server.url}/console/{path}")
        assert response.status_code == 200, path
        assert re.search(r"https?://", response.text) is None, path
        folder = posixpath.dirname(path)
        for imported in re.findall(r'from "(\.{1,2}/[^"]+)"', response.text):
            normalised = posixpath.normpath(posixpath.join(folder, imported))
            if normalised not in seen:
                pending.append(normalised)
    assert {"api.js", "ui.js", "charts.js", "pages/keys.js"} <= seen


def test_unknown_or_escaping_paths_are_404_in_the_error_shape(server: LiveServer) -> None:
    for path in ("missing.js", "..%2Fgateway%2Fapp.py", "pages"):
        response = httpx.get(f"{server.url}/console/{path}")
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_the_api_behind_the_console_still_needs_a_key(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/v1/orgs")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
