"""The Ray Serve peer: one workload as a Ray Serve deployment, batched by ``@serve.batch``.

A local Ray instance (no dashboard) runs Serve's HTTP proxy on 127.0.0.1:PORT and
``--workers`` replicas of one deployment, each holding a copy of the model and asking Ray for
its share of the cores. The deployment handles the protocol's route from the raw Starlette
request; with ``--max-batch`` above 1 each request goes through ``@serve.batch``
(``max_batch_size`` = ``--max-batch``, ``batch_wait_timeout_s`` = ``--max-delay-ms``), whose
handler runs the batch in a thread so the replica keeps taking requests (and filling the next
batch) while the model computes. Chat returns a StreamingResponse of llama.cpp's chunks, one
generation at a time per replica. Access logs are off (every peer skips them); usage stats
are off.

    python bench/peers/ray_app.py --workload iris --files DIR --port 8000 --workers 2
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import models
import ray
from ray import serve
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

APP_NAME = "peer"
PEERS_DIR = Path(__file__).resolve().parent
QUIET = {"enable_access_log": False}  # for Serve's proxy and controller, and the replicas


async def read_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; ValueError (a 400) for anything else."""
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"the request body is not JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


def bad_request(exc: ValueError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=400)


class Predictor:
    """A replica of a batchable workload: parse one request, batch, render its result."""

    def __init__(self, workload: str, files: Path, threads: int, max_batch: int, delay_s: float):
        self.model = models.load(workload, files, threads)
        self.route = models.ROUTES[workload]
        self.infer = self._unbatched
        if max_batch > 1:  # the documented way to set @serve.batch's options at run time
            self._batched.set_max_batch_size(max_batch)
            self._batched.set_batch_wait_timeout_s(delay_s)
            self.infer = self._batched

    async def __call__(self, request: Request) -> Response:
        if request.url.path != self.route or request.method != "POST":
            return JSONResponse({"error": "not found"}, status_code=404)
        try:
            item = self.model.parse(await read_body(request))
        except ValueError as exc:
            return bad_request(exc)
        return JSONResponse(self.model.render(await self.infer(item)))

    @serve.batch
    async def _batched(self, items: list[Any]) -> list[Any]:
        """``@serve.batch``'s handler: one model call for the batch, off the event loop."""
        return await asyncio.to_thread(self.model, items)

    async def _unbatched(self, item: Any) -> Any:
        (result,) = await asyncio.to_thread(self.model, [item])
        return result


class Chatter:
    """A replica of the chat workload: SSE chunks streamed as llama.cpp makes them. It takes
    the same arguments as ``Predictor`` (one ``bind`` for both); chat does not batch."""

    def __init__(self, workload: str, files: Path, threads: int, max_batch: int, delay_s: float):
        self.model = models.load(workload, files, threads)
        self.route = models.ROUTES[workload]
        # Waiting requests queue here rather than in threads blocked on the model's lock.
        self.turn = asyncio.Lock()

    async def __call__(self, request: Request) -> Response:
        if request.url.path != self.route or request.method != "POST":
            return JSONResponse({"error": "not found"}, status_code=404)
        try:
            chat = self.model.parse(await read_body(request))
        except ValueError as exc:
            return bad_request(exc)
        return StreamingResponse(self._chunks(chat), media_type="text/event-stream")

    async def _chunks(self, chat: models.ChatRequest) -> AsyncIterator[bytes]:
        async with self.turn:
            stream = self.model.stream(chat)
            try:
                async for chunk in iterate_in_threadpool(stream):
                    yield chunk
            finally:
                # A client that hung up cancels this generator between two chunks; closing
                # the stream there releases the model's lock for the next request.
                stream.close()


def deployment_options(workers: int, max_batch: int) -> dict[str, Any]:
    """Replicas share the machine's cores; a replica takes enough requests at once to fill
    one batch while another runs (Serve's default of 5 would cap batches at 5)."""
    cores = os.cpu_count() or 1
    return {
        "name": APP_NAME,
        "num_replicas": workers,
        "ray_actor_options": {"num_cpus": cores / workers},
        "max_ongoing_requests": max(5, 2 * max_batch),
        "logging_config": QUIET,
    }


def serve_until_stopped(args: Any) -> None:
    """Start Ray and Serve, deploy, and block until SIGINT or SIGTERM; then shut down."""
    # Replicas are Ray worker processes started by the raylet, which passes its environment
    # on: they import ``models`` from here.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(PEERS_DIR), os.environ.get("PYTHONPATH")])
    )
    ray.init(
        address="local",  # a fresh instance of our own, never a cluster found on the machine
        num_cpus=os.cpu_count(),
        include_dashboard=False,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # after ray.init, which sets its own
        signal.signal(signum, lambda *_: stop.set())
    try:
        serve.start(
            http_options={"host": "127.0.0.1", "port": args.port},
            logging_config=QUIET,
        )
        replica = Chatter if args.workload == "chat" else Predictor
        options = deployment_options(args.workers, args.max_batch)
        deployment = serve.deployment(replica, **options)
        app = deployment.bind(
            args.workload,
            args.files.resolve(),
            args.threads,
            args.max_batch,
            args.max_delay_ms / 1000,
        )
        serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
        while not stop.wait(1.0):
            pass
    finally:
        serve.shutdown()
        ray.shutdown()


def main() -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    serve_until_stopped(models.command_line(__doc__.split("\n\n")[0]))


if __name__ == "__main__":
    main()
