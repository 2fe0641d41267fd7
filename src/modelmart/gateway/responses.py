"""JSON responses encoded with orjson (NumPy arrays serialise natively)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

from modelmart.errors import ModelMartError

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=_OPTIONS)


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content)


def error_response(
    error: ModelMartError, headers: dict[str, str] | None = None
) -> FastJSONResponse:
    return FastJSONResponse(
        error.to_dict(), status_code=error.status, headers={**error.headers(), **(headers or {})}
    )
