"""The console's files: found under the package, nothing outside it, nothing fetched from the
internet at run time."""

from __future__ import annotations

import re

import pytest

from modelmart.errors import NotFound
from modelmart.gateway.auth import public
from modelmart.gateway.routes.console import MEDIA_TYPES, STATIC_ROOT, console_file, router

STATIC_FILES = sorted(path for path in STATIC_ROOT.rglob("*") if path.is_file())


def test_the_app_ships_its_page_styles_and_modules() -> None:
    names = {path.relative_to(STATIC_ROOT).as_posix() for path in STATIC_FILES}
    assert {"index.html", "style.css", "app.js", "api.js", "charts.js"} <= names
    assert any(name.startswith("pages/") for name in names)
    assert all(path.suffix in MEDIA_TYPES for path in STATIC_FILES)


@pytest.mark.parametrize("path", STATIC_FILES, ids=lambda path: path.name)
def test_no_file_refers_to_another_site(path: object) -> None:
    text = STATIC_ROOT.joinpath(str(path)).read_text()
    assert re.search(r"https?://", text) is None


def test_every_imported_module_exists() -> None:
    for path in STATIC_FILES:
        if path.suffix != ".js":
            continue
        for imported in re.findall(r'from "(\.{1,2}/[^"]+)"', path.read_text()):
            assert (path.parent / imported).resolve().is_file(), f"{path.name} imports {imported}"


@pytest.mark.parametrize(
    "relative", ["../routes/console.py", "../../config.py", "missing.js", "pages", "/etc/passwd"]
)
def test_paths_outside_the_files_are_not_found(relative: str) -> None:
    with pytest.raises(NotFound):
        console_file(relative)


def test_known_file_resolves_inside_the_root() -> None:
    assert console_file("pages/catalog.js").is_relative_to(STATIC_ROOT)


def test_console_files_need_no_key() -> None:
    """The page holds no data: every call it makes goes to the API with the user's own key."""
    assert [dependency.dependency for dependency in router.dependencies] == [public]
    assert {route.path for route in router.routes} == {
        "/console",
        "/console/",
        "/console/{relative:path}",
    }
