"""The web console's files at ``/console``: public, because the page holds no data; every
call it makes goes to the API with the user's own key."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, RedirectResponse, Response

from modelmart.errors import NotFound
from modelmart.gateway.auth import Public

router = APIRouter(tags=["console"], dependencies=[Public])
# The package's directory itself, not an import of it: the console has no Python to run.
STATIC_ROOT = Path(str(files("modelmart") / "console" / "static")).resolve()
# Set explicitly: browsers refuse ES modules served with a type the platform's mimetypes
# table may lack or get wrong.
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
# The files change with the package version, never underneath a running page; revalidating
# keeps an upgraded server from mixing old and new modules in a browser's cache.
CACHE_CONTROL = "no-cache"


def console_file(relative: str) -> Path:
    """The static file at ``relative`` under the console's root; anything else, including a
    path that climbs out of it, is a 404."""
    candidate = (STATIC_ROOT / relative).resolve()
    if (
        not candidate.is_relative_to(STATIC_ROOT)
        or not candidate.is_file()
        or candidate.suffix not in MEDIA_TYPES
    ):
        raise NotFound(f"the console has no file '{relative}'; open /console/ for the app")
    return candidate


def _serve(path: Path) -> Response:
    return FileResponse(
        path, media_type=MEDIA_TYPES[path.suffix], headers={"Cache-Control": CACHE_CONTROL}
    )


@router.get("/console", include_in_schema=False)
async def console_root() -> Response:
    """Redirect to the trailing slash, so the page's relative module paths resolve."""
    return RedirectResponse("/console/", status_code=308)


@router.get("/console/", include_in_schema=False)
async def console_index() -> Response:
    return _serve(console_file("index.html"))


@router.get("/console/{relative:path}", include_in_schema=False)
async def console_asset(relative: str) -> Response:
    return _serve(console_file(relative))
