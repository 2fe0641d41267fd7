"""The LitServe peer: one workload as a LitAPI, served the way LitServe's docs set one up.

``setup`` loads the shared model in each inference worker (``--workers`` processes on the
CPU, ``workers_per_device``), ``decode_request`` parses a request, ``predict`` runs a batch
and ``encode_response`` renders one result. LitServe batches on its own when
``--max-batch`` > 1 (``max_batch_size``/``batch_timeout`` on the LitAPI, where 0.2.19 takes
them), and its HTTP front ends are one uvicorn process per worker (its default), on uvloop
and httptools like the FastAPI baseline.

Two things LitServe does not do for us: a request refused while being decoded in a batch
fails that whole batch with its 400 (LitServe's batched loop handles decode errors per
batch; the benchmark sends no bad requests under load), and a stream's status is sent before
the inference worker decodes the request, so chat bodies are checked in the HTTP process,
through the request type FastAPI validates, to refuse a bad one with a 400 instead of an
empty 200 stream. Chat streams one generation per worker, so it never batches.

    python bench/peers/litserve_app.py --workload iris --files DIR --port 8000 --workers 2
"""

# No `from __future__ import annotations` here: LitServe hands decode_request's annotation to
# FastAPI as the endpoint's request type, and FastAPI must see the type, not a string.
import os
import signal
from pathlib import Path
from typing import Annotated, Any

import litserve as ls
import models
from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

# Checked (and turned into a ChatRequest) by FastAPI in the HTTP process; see the docstring.
ChatBody = Annotated[dict[str, Any], AfterValidator(models.parse_chat)]


class PeerAPI(ls.LitAPI):
    """A batchable workload: the batch is the list of parsed requests models.py takes."""

    def __init__(self, workload: str, files: Path, threads: int, **options: Any) -> None:
        super().__init__(api_path=models.ROUTES[workload], **options)
        self.workload, self.files, self.threads = workload, files, threads

    def setup(self, device: str) -> None:
        self.model = models.load(self.workload, self.files, self.threads)

    def decode_request(self, request: dict[str, Any]) -> Any:
        try:
            return self.model.parse(request)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc

    def batch(self, inputs: list[Any]) -> list[Any]:
        """Keep the list: LitServe's default would np.stack images of different sizes."""
        return list(inputs)

    def predict(self, x: Any) -> Any:
        if self.max_batch_size > 1:
            return self.model(x)
        (result,) = self.model([x])
        return result

    def encode_response(self, output: Any) -> dict[str, Any]:
        return self.model.render(output)


class ChatAPI(ls.LitAPI):
    """SmolLM2 streaming: predict yields the SSE lines models.py makes, as they come."""

    def __init__(self, files: Path, threads: int) -> None:
        super().__init__(api_path=models.ROUTES["chat"], stream=True)
        self.files, self.threads = files, threads

    def setup(self, device: str) -> None:
        self.model = models.load("chat", self.files, self.threads)

    def decode_request(self, request: ChatBody) -> models.ChatRequest:
        return request

    def predict(self, x: models.ChatRequest) -> Any:
        yield from self.model.stream(x)

    def encode_response(self, output: Any) -> Any:
        yield from output


class EventStreamType:
    """LitServe streams with no media type; SSE clients expect text/event-stream."""

    def __init__(self, app: Any, path: str) -> None:
        self.app, self.path = app, path

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return

        async def send_typed(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"content-type"]
                headers.append((b"content-type", b"text/event-stream"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_typed)


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    """A body FastAPI cannot validate is the client's mistake: 400, not FastAPI's 422."""
    if not isinstance(exc, RequestValidationError):
        return JSONResponse({"detail": str(exc)}, status_code=400)
    # Only the messages: pydantic's error records can hold the exception, which is no JSON.
    return JSONResponse({"detail": "; ".join(e["msg"] for e in exc.errors())}, status_code=400)


def build_server(args: Any) -> ls.LitServer:
    """The LitServer for the driver's options (see models.command_line)."""
    files = args.files.resolve()
    middlewares: list[Any] = []
    if args.workload == "chat":
        api: ls.LitAPI = ChatAPI(files, args.threads)
        middlewares.append((EventStreamType, {"path": api.api_path}))
    else:
        batching = {
            "max_batch_size": max(1, args.max_batch),
            "batch_timeout": args.max_delay_ms / 1000,
        }
        api = PeerAPI(args.workload, files, args.threads, **batching)
    server = ls.LitServer(
        api,
        accelerator="cpu",
        workers_per_device=args.workers,
        timeout=False,  # queueing is what the benchmark measures; no engine drops requests
        middlewares=middlewares,
    )
    server.app.add_exception_handler(RequestValidationError, _bad_request)
    return server


def _stop_handler(main_pid: int) -> Any:
    """The driver stops peers with SIGTERM: in the main process take LitServe's Ctrl-C path,
    which stops its inference workers and HTTP processes instead of leaving them behind. The
    HTTP processes are forked and inherit the handler; there SIGTERM keeps its usual meaning
    (uvicorn re-raises it after its own graceful shutdown)."""

    def stop(signum: int, frame: Any) -> None:
        if os.getpid() == main_pid:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    return stop


def main() -> None:
    args = models.command_line(__doc__.split("\n\n")[0])
    signal.signal(signal.SIGTERM, _stop_handler(os.getpid()))
    build_server(args).run(
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        generate_client_file=False,
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


if __name__ == "__main__":
    main()
