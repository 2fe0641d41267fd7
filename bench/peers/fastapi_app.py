"""The baseline peer: one workload on plain FastAPI, as its docs recommend for a blocking model.

The endpoint is a ``def`` (FastAPI runs it in its threadpool, so a slow model never blocks
the event loop), every request is a batch of one (plain FastAPI has no batching, so
``--max-batch``/``--max-delay-ms`` are accepted and ignored), and parallelism comes from
``--workers`` uvicorn worker processes (httptools + uvloop), each loading its own copy of the
model through the app factory below. Responses are JSONResponse objects: FastAPI's documented
way to skip the jsonable_encoder pass over a plain dict, which the baseline has no need for.

    python bench/peers/fastapi_app.py --workload iris --files DIR --port 8000 --workers 2
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import models
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

_ENV = {"workload": "PEER_WORKLOAD", "files": "PEER_FILES", "threads": "PEER_THREADS"}


def create_app() -> FastAPI:
    """The app of one uvicorn worker process: it loads the model the environment names."""
    workload = os.environ[_ENV["workload"]]
    files, threads = Path(os.environ[_ENV["files"]]), int(os.environ[_ENV["threads"]])
    model = models.load(workload, files, threads)
    app = FastAPI(openapi_url=None)
    app.add_exception_handler(RequestValidationError, _bad_request)
    route = models.ROUTES[workload]
    if workload == "chat":
        app.post(route)(_chat_endpoint(model))
    else:
        app.post(route)(_predict_endpoint(model))
    return app


def _predict_endpoint(model: Any) -> Any:
    def predict(body: dict[str, Any]) -> JSONResponse:
        """parse -> a batch of one -> render, in FastAPI's threadpool."""
        try:
            item = model.parse(body)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        (result,) = model([item])
        return JSONResponse(model.render(result))

    return predict


def _chat_endpoint(model: Any) -> Any:
    def chat(body: dict[str, Any]) -> EventStream:
        """Tokens go out as llama.cpp makes them (Starlette iterates the generator in its
        threadpool); the model's lock keeps one generation per copy."""
        try:
            request = model.parse(body)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        return EventStream(model.stream(request))

    return chat


class EventStream(StreamingResponse):
    """SSE over the model's generator, closed as soon as the response ends. A client that
    hangs up otherwise leaves the generator (and the model's lock it holds) to the garbage
    collector, and the copy serves nothing until then."""

    def __init__(self, events: Generator[bytes, None, None]) -> None:
        super().__init__(events, media_type="text/event-stream")
        self.events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:  # by now no threadpool thread is inside the generator (anyio waits for it)
            self.events.close()


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    """A body that is not a JSON object is the client's mistake: 400, not FastAPI's 422."""
    if not isinstance(exc, RequestValidationError):
        return JSONResponse({"detail": str(exc)}, status_code=400)
    # Only the messages: pydantic's error records can hold the exception, which is no JSON.
    return JSONResponse({"detail": "; ".join(e["msg"] for e in exc.errors())}, status_code=400)


def main() -> None:
    args = models.command_line(__doc__.split("\n\n")[0])
    os.environ[_ENV["workload"]] = args.workload
    os.environ[_ENV["files"]] = str(args.files.resolve())
    os.environ[_ENV["threads"]] = str(args.threads)
    uvicorn.run(
        "fastapi_app:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
