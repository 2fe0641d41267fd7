"""The BentoML peer: one workload as a BentoML service, batched by BentoML's adaptive batching.

The service is a ``@bentoml.service`` class served by ``bentoml serve`` with ``--workers``
worker processes, each loading its own copy of the model. BentoML's adaptive batching merges
the single list argument of a batchable API, while the protocol's bodies are JSON objects with
a response built per request; so, as BentoML's adaptive-batching guide does for such inputs, a
thin API takes one body and calls the batchable API with a list of that one body. The guide
puts the thin API in a second service (``bentoml.depends``, another process); here it is in
the same service and calls through ``self.to_async``, BentoML's in-process client, which saves
a process hop. The batchable API parses, runs and renders the whole batch and hands each
request its answer or its input error (400).

BentoML sizes its batching window itself, from the batch times it measures, so
``--max-delay-ms`` has no BentoML counterpart; ``max_latency_ms`` is a latency budget past which
BentoML refuses requests with 503 (load shedding), and it is set to the request timeout so a
closed-loop load is batched rather than shed. ``--max-batch 1`` serves without batching.
Chat streams llama.cpp's chunks from an async generator API, one generation at a time per
worker. Access logs are off (every peer skips them); usage tracking is off.

    python bench/peers/bentoml_app.py --workload iris --files DIR --port 8000 --workers 2
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bentoml
import models
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import iterate_in_threadpool

_ENV = {
    "workload": "PEER_WORKLOAD",
    "files": "PEER_FILES",
    "workers": "PEER_WORKERS",
    "threads": "PEER_THREADS",
    "max_batch": "PEER_MAX_BATCH",
}
TIMEOUT_S = 60  # BentoML's default request timeout, kept explicit: the batching budget below
# BentoML's client renews its HTTP session after ``runner_connection.max_requests`` calls (100)
# or ``max_age`` seconds (300) and closes the old session under the calls still in flight,
# which then fail (a 500 to their clients, several per renewal under concurrent load). The
# thin route's calls to its own batchable API never leave the process, so never renew.
NEVER_RENEW = {"max_requests": 2**31 - 1, "max_age": float(10**9)}
BATCH_ROUTE = "/internal/batch"


class AnyObject(BaseModel):
    """A request body: any JSON object, its fields checked by ``models`` (for a 400 that
    names the field). A pydantic model rather than ``dict``, because BentoML parses a ``dict``
    body with ``json.loads`` and answers malformed JSON with a 500; pydantic's parser makes
    that a 400 like every other bad body."""

    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class Settings:
    """The peer protocol's options, passed to BentoML's worker processes in the environment
    (``bentoml serve`` imports this module in each of them)."""

    workload: str
    files: Path
    workers: int
    threads: int
    max_batch: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            workload=os.environ[_ENV["workload"]],
            files=Path(os.environ[_ENV["files"]]),
            workers=int(os.environ[_ENV["workers"]]),
            threads=int(os.environ[_ENV["threads"]]),
            max_batch=int(os.environ[_ENV["max_batch"]]),
        )

    def to_env(self) -> dict[str, str]:
        values = {
            "workload": self.workload,
            "files": str(self.files),
            "workers": str(self.workers),
            "threads": str(self.threads),
            "max_batch": str(self.max_batch),
        }
        return {_ENV[key]: value for key, value in values.items()}


def die_with_arbiter() -> None:
    """BentoML's process manager (circus) starts each worker in a session of its own, so
    killing the app's process group would leave the workers serving; have the kernel kill a
    worker when the arbiter that started it dies."""
    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the arbiter was gone already
        os._exit(1)


def load_in_worker(settings: Settings) -> Any:
    """The model of one BentoML worker process (the service's constructor runs there)."""
    die_with_arbiter()
    return models.load(settings.workload, settings.files, settings.threads)


def answer_all(model: Any, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each body's outcome, ``{"body": response}`` or ``{"error": message}``: one request's bad
    input must fail that request with a 400, not the batch it shares with others."""
    parsed: dict[int, Any] = {}
    outcomes: list[dict[str, Any]] = []
    for index, body in enumerate(bodies):
        try:
            parsed[index] = model.parse(body)
            outcomes.append({})
        except ValueError as exc:
            outcomes.append({"error": str(exc)})
    if parsed:
        results = model(list(parsed.values()))
        for index, result in zip(parsed, results, strict=True):
            outcomes[index] = {"body": model.render(result)}
    return outcomes


def respond(outcome: dict[str, Any], ctx: bentoml.Context) -> dict[str, Any]:
    """The response body, with a 400 status set through BentoML's context for bad input."""
    if "error" in outcome:
        ctx.response.status_code = 400
        return {"error": outcome["error"]}
    return outcome["body"]


def _service_options(settings: Settings) -> dict[str, Any]:
    """``@bentoml.service`` options: one worker process per model copy; the CPU request is
    what the copies use (BentoML only schedules with it, in local serving it is advisory)."""
    return {
        "name": "peer",
        "workers": settings.workers,
        "resources": {"cpu": str(settings.workers * settings.threads)},
        "traffic": {"timeout": TIMEOUT_S},
        "logging": {"access": {"enabled": False}},
        "runner_connection": NEVER_RENEW,
    }


def batched_service(settings: Settings) -> Any:
    """A thin route per request over a batchable API that sees the whole batch."""

    @bentoml.service(**_service_options(settings))
    class BatchedPeer:
        def __init__(self) -> None:
            self.model = load_in_worker(settings)

        @bentoml.api(route=models.ROUTES[settings.workload])
        async def predict(self, body: AnyObject, /, ctx: bentoml.Context) -> dict[str, Any]:
            (outcome,) = await self.to_async.predict_batch([body.model_dump()])
            return respond(outcome, ctx)

        @bentoml.api(
            route=BATCH_ROUTE,
            batchable=True,
            max_batch_size=settings.max_batch,
            max_latency_ms=TIMEOUT_S * 1000,
        )
        def predict_batch(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return answer_all(self.model, bodies)

    return BatchedPeer


def unbatched_service(settings: Settings) -> Any:
    """``--max-batch 1``: a plain synchronous API, run in BentoML's worker threadpool."""

    @bentoml.service(**_service_options(settings))
    class UnbatchedPeer:
        def __init__(self) -> None:
            self.model = load_in_worker(settings)

        @bentoml.api(route=models.ROUTES[settings.workload])
        def predict(self, body: AnyObject, /, ctx: bentoml.Context) -> dict[str, Any]:
            (outcome,) = answer_all(self.model, [body.model_dump()])
            return respond(outcome, ctx)

    return UnbatchedPeer


def chat_service(settings: Settings) -> Any:
    """Streamed chat: an async generator API forwarding ``ChatModel.stream``'s SSE bytes."""

    @bentoml.service(**_service_options(settings))
    class ChatPeer:
        def __init__(self) -> None:
            self.model = load_in_worker(settings)
            # Waiting requests queue here, not in threads blocked on the model's lock (which
            # could take every thread the running generation needs for its next chunk).
            self.turn = asyncio.Lock()

        @bentoml.api(route=models.ROUTES[settings.workload])
        async def chat(self, body: AnyObject, /) -> AsyncGenerator[bytes, None]:
            try:
                request = self.model.parse(body.model_dump())
            except ValueError as exc:
                raise InvalidArgument(str(exc)) from exc  # before the first chunk: a 400
            async with self.turn:
                stream = self.model.stream(request)
                try:
                    async for chunk in iterate_in_threadpool(stream):
                        yield chunk
                finally:
                    # A client that hung up cancels this generator between two chunks (the
                    # thread making one is waited for); closing the stream there releases the
                    # model's lock, which a merely abandoned stream would hold for good.
                    stream.close()

    return ChatPeer


def build_service(settings: Settings) -> Any:
    if settings.workload == "chat":
        return chat_service(settings)
    if settings.max_batch > 1:  # BentoML requires max_batch_size > 1 for a batchable API
        return batched_service(settings)
    return unbatched_service(settings)


if _ENV["workload"] in os.environ:  # imported by ``bentoml serve``: define the service
    PeerService = build_service(Settings.from_env())


def main() -> None:
    """Put the options in the environment and become ``bentoml serve`` (same process, so the
    driver's signal reaches BentoML's arbiter, which stops its workers)."""
    args = models.command_line(__doc__.split("\n\n")[0])
    settings = Settings(
        args.workload, args.files.resolve(), args.workers, args.threads, args.max_batch
    )
    os.environ.update(settings.to_env())
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"
    command = [sys.executable, "-m", "bentoml", "serve", f"{Path(__file__).stem}:PeerService"]
    command += ["--working-dir", str(Path(__file__).resolve().parent)]
    command += ["--host", "127.0.0.1", "--port", str(args.port)]
    os.execv(sys.executable, command)


if __name__ == "__main__":
    main()
