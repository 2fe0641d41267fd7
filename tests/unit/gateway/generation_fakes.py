"""A chat endpoint whose answers are scripted per request, with log-probabilities, for the
OpenAI features that need the model's cooperation (tool calls, JSON, choices)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

import httpx
import openai

from modelmart.errors import WorkerCrashed
from modelmart.gateway.routes import chat, completions
from modelmart.runtimes.generation import (
    FinishReason,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
    TokenLogprob,
    TopLogprob,
)
from tests.unit.gateway.route_fakes import FakeChat, app_with

Script = Callable[[GenerationRequest], list[str]]
"""The pieces a request is answered with; :data:`FAIL` makes the model fail there."""
FAIL = "<fail>"


def token(text: str, logprob: float, top: int = 0) -> TokenLogprob:
    alternatives = tuple(
        TopLogprob(f"{text}~{rank}", logprob - rank, tuple(f"{text}~{rank}".encode()))
        for rank in range(top)
    )
    return TokenLogprob(text, logprob, tuple(text.encode()), alternatives)


class ScriptedChat(FakeChat):
    """Answers each request with ``script(request)``; each piece is one token whose
    log-probability is minus its position, with ``top_logprobs`` alternatives.

    ``finish`` is the finish reason it reports; ``cached`` its cached prompt tokens;
    ``instances`` how many generations may run at once: as a real endpoint's, an instance is
    free again only once its generation has been read to the end (or closed).
    """

    def __init__(
        self,
        script: Script,
        finish: FinishReason = "stop",
        cached: int = 0,
        delay: float = 0,
        instances: int = 8,
    ) -> None:
        super().__init__([])
        self.script, self.finish, self.cached, self.delay = script, finish, cached, delay
        self.instances = asyncio.Semaphore(instances)
        self.running = 0
        self.most_running = 0

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        async with self.instances:
            async for event in self._answer(request):
                yield event

    async def _answer(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        self.requests.append(request)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            pieces = self.script(request)
            for position, piece in enumerate(pieces):
                if piece == FAIL:
                    raise WorkerCrashed("the worker died")
                logprobs = (token(piece, -position, request.top_logprobs),)
                self.yielded += 1
                yield TextDelta(piece, logprobs if request.logprobs else ())
                await asyncio.sleep(self.delay)
            yield GenerationDone(7, len(pieces), self.finish, cached_tokens=self.cached)
        finally:
            self.running -= 1
            self.closed += 1


def pieces_of(*texts: str) -> Script:
    return lambda _: list(texts)


@asynccontextmanager
async def sdk_for(endpoint: FakeChat) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official SDK against an app serving ``endpoint`` as deployment ``chat``."""
    app = app_with({"chat": endpoint}, modules=(chat, completions))
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://test/v1") as http,
        openai.AsyncOpenAI(
            base_url="http://test/v1", api_key="unused", http_client=http, max_retries=0
        ) as sdk,
    ):
        yield sdk


def split_every(text: str, size: int) -> Iterable[str]:
    return (text[i : i + size] for i in range(0, len(text), size))
