"""Several generations for one request (OpenAI's ``n``, a list of prompts), run concurrently:
started together so a request error surfaces before any byte is sent, merged as they stream,
all stopped when the client leaves. Shared by chat and text completions, down to the answer
itself (:func:`respond`): each route says only how one choice reads (:class:`AnswerShape`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from modelmart.errors import InvalidRequest, ModelMartError
from modelmart.gateway.energy import ENERGY_JOULES, energy_usage
from modelmart.gateway.openai_errors import openai_error_body
from modelmart.gateway.responses import FastJSONResponse, dumps
from modelmart.gateway.usage import report_usage
from modelmart.runtimes.generation import (
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    TokenLogprob,
)
from modelmart.serving.placement import Endpoint

MAX_CHOICES = 8
"""Generations one request may ask for (``n``, times the prompts of a text completion)."""

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
CLIENT_CLOSED_REQUEST = 499
"""What the access log shows for an answer abandoned by its client (nginx's convention)."""

T = TypeVar("T")


@dataclass
class Started:
    """A generation of the request; ``first`` its first event when it has been awaited."""

    events: AsyncGenerator[GenerationEvent, None]
    first: GenerationEvent | None = None

    async def all(self) -> AsyncGenerator[GenerationEvent, None]:
        """Every event, the first included; closes the generation when left early."""
        async with contextlib.aclosing(self.events):
            if self.first is not None:
                yield self.first
            async for event in self.events:
                yield event


def check_choices(count: int, param: str = "n") -> None:
    if count > MAX_CHOICES:
        raise InvalidRequest(
            f"this request asks for {count} choices; at most {MAX_CHOICES} fit in one "
            "request: lower n (or send fewer prompts) and send the rest separately",
            details={"param": param},
        )


def seeded(request: GenerationRequest, index: int) -> GenerationRequest:
    """The request of choice ``index``: seed ``seed + index``, so choices differ yet repeat."""
    if request.seed is None or index == 0:
        return request
    return dataclasses.replace(request, seed=request.seed + index)


async def start_all(endpoint: Endpoint, requests: Sequence[GenerationRequest]) -> list[Started]:
    """The request's generations, the first one's first event in hand, so that an error in
    the request (a prompt beyond the context window) surfaces before any byte is sent.

    The others start as they are read: a deployment with fewer instances than choices runs
    them in turn, and an instance is only free once its generation has been read to the end.
    """
    generations = [endpoint.generate(request) for request in requests]
    try:
        first = await anext(generations[0])
    except BaseException:
        for generation in generations:
            await generation.aclose()
        raise
    return [Started(generations[0], first), *(Started(g) for g in generations[1:])]


@dataclass(frozen=True)
class _Failure:
    error: BaseException


_END = object()


async def merge(sources: Sequence[AsyncIterator[T]]) -> AsyncIterator[T]:
    """The items of every source as they come; the first error of any ends it. Leaving it
    (or an error) closes every source."""
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def pump(source: AsyncIterator[T]) -> None:
        try:
            async for item in source:
                queue.put_nowait(item)
            queue.put_nowait(_END)
        except Exception as exc:  # handed to the reader, which raises it
            queue.put_nowait(_Failure(exc))
        finally:
            closing = getattr(source, "aclose", None)
            if closing is not None:
                await closing()

    tasks = [asyncio.create_task(pump(source)) for source in sources]
    try:
        running = len(tasks)
        while running:
            item = await queue.get()
            if item is _END:
                running -= 1
            elif isinstance(item, _Failure):
                raise item.error
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def unless_gone(request: Request, works: Sequence[Coroutine[Any, Any, T]]) -> list[T] | None:
    """The results of ``works``, run concurrently; None if the client hangs up first. The
    first error of any is raised; whatever ends it, the others are cancelled (so the
    generations they read stop) before it returns."""
    tasks = [asyncio.create_task(work) for work in works]
    gone = asyncio.create_task(_disconnect(request))
    try:
        pending: set[asyncio.Future[Any]] = set(tasks)
        while pending:
            done, pending = await asyncio.wait(
                pending | {gone}, return_when=asyncio.FIRST_COMPLETED
            )
            if gone in done:
                return None
            pending.discard(gone)
            for task in done:
                task.result()  # raises the work's error
        return [task.result() for task in tasks]
    finally:
        for task in (*tasks, gone):
            task.cancel()
        await asyncio.gather(*tasks, gone, return_exceptions=True)


async def _disconnect(request: Request) -> None:
    """Returns when the client hangs up (the body has been read: nothing else can arrive)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def sse_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + dumps(payload) + b"\n\n"


def token_usage(dones: Sequence[GenerationDone]) -> dict[str, Any]:
    """OpenAI's ``usage`` over every generation of a request."""
    prompt = sum(done.prompt_tokens for done in dones)
    completion = sum(done.completion_tokens for done in dones)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": sum(done.cached_tokens for done in dones)},
    }


def generation_usage(request: Request, dones: Sequence[GenerationDone]) -> dict[str, Any]:
    """:func:`token_usage` and the energy the generations used (their share of every step:
    :mod:`modelmart.serving.streaming`)."""
    energy_uj = sum(done.energy_uj for done in dones)
    return {**token_usage(dones), **energy_usage(request, energy_uj)}


def billed_units(usage: dict[str, Any]) -> dict[str, Any]:
    """What a request's usage is billed as (its energy goes to the ledger's own column)."""
    prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
    units = {
        "tokens": prompt + completion,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
    }
    if ENERGY_JOULES in usage:
        units[ENERGY_JOULES] = usage[ENERGY_JOULES]
    return units


def chat_logprobs(tokens: Sequence[TokenLogprob]) -> dict[str, Any]:
    """Chat completions' ``choices[i].logprobs``."""
    return {
        "content": [
            {
                "token": token.token,
                "logprob": token.logprob,
                "bytes": list(token.bytes),
                "top_logprobs": [
                    {"token": top.token, "logprob": top.logprob, "bytes": list(top.bytes)}
                    for top in token.top
                ],
            }
            for token in tokens
        ],
        "refusal": None,
    }


def legacy_logprobs(tokens: Sequence[TokenLogprob], offset: int) -> dict[str, Any]:
    """Text completions' ``choices[i].logprobs``; ``offset``: where the first token's text
    starts in prompt and answer together."""
    offsets = []
    for token in tokens:
        offsets.append(offset)
        offset += len(token.token)
    return {
        "tokens": [token.token for token in tokens],
        "token_logprobs": [token.logprob for token in tokens],
        "top_logprobs": [{top.token: top.logprob for top in token.top} for token in tokens],
        "text_offset": offsets,
    }


@dataclass(frozen=True)
class Head:
    """What every chunk and the whole answer of one request share."""

    id: str
    created: int
    model: str
    served_model: str
    served_version: int

    @classmethod
    def new(cls, id_prefix: str, model: str, endpoint: Endpoint) -> Head:
        """A new answer's head, ``model`` the name the caller asked for."""
        target = endpoint.spec.target
        return cls(
            id=f"{id_prefix}-{uuid.uuid4().hex}",
            created=int(time.time()),
            model=model,
            served_model=target.model,
            served_version=target.version,
        )

    def fields(self, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
        }


@dataclass
class Collected:
    """One choice's whole answer."""

    text: str
    logprobs: list[TokenLogprob]
    done: GenerationDone


async def collect(started: Started) -> Collected:
    parts: list[str] = []
    logprobs: list[TokenLogprob] = []
    done: GenerationDone | None = None
    async for event in started.all():
        if isinstance(event, GenerationDone):
            done = event
        else:
            parts.append(event.text)
            logprobs.extend(event.logprobs)
    assert done is not None  # every generation not stopped by its caller ends so
    return Collected("".join(parts), logprobs, done)


class StreamedPiece(Protocol):
    """One chunk's worth of one choice; ``done`` on the choice's finish chunk."""

    @property
    def index(self) -> int: ...

    @property
    def done(self) -> GenerationDone | None: ...


PieceT = TypeVar("PieceT", bound=StreamedPiece)


@dataclass(frozen=True)
class AnswerShape(Generic[PieceT]):
    """How a route's answer reads: ``kind`` and ``chunk_kind`` its ``object`` whole and
    streamed; ``choices`` the whole answer's choices; ``opening`` the pieces sent before any
    generation's; ``stream`` one choice's pieces; ``choice_chunk`` a piece as a chunk's
    choice."""

    kind: str
    chunk_kind: str
    choices: Callable[[list[Collected]], list[dict[str, Any]]]
    stream: Callable[[int, Started], AsyncIterator[PieceT]]
    choice_chunk: Callable[[PieceT], dict[str, Any]]
    opening: Callable[[], Sequence[PieceT]] = lambda: ()


def _report(request: Request, head: Head, usage: dict[str, Any]) -> None:
    report_usage(request, head.served_model, head.served_version, billed_units(usage))


async def respond(
    request: Request,
    head: Head,
    started: list[Started],
    shape: AnswerShape[PieceT],
    *,
    stream: bool,
    include_usage: bool,
    beside: Callable[[], dict[str, Any]] = dict,
) -> Response:
    """The answer to a request whose generations have ``started``: whole, or streamed as
    server-sent events. Usage is reported (billed) once every generation has ended.
    ``beside`` gives fields that go beside the choices once they are all known (in a chunk
    of their own before ``[DONE]`` when streamed)."""
    if stream:
        events = _sse(request, head, started, shape, include_usage, beside)
        return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
    return await _whole(request, head, started, shape, beside)


async def _whole(
    request: Request,
    head: Head,
    started: list[Started],
    shape: AnswerShape[PieceT],
    beside: Callable[[], dict[str, Any]],
) -> Response:
    try:
        # Nobody will read the answer once the client is gone: stop the model.
        answers = await unless_gone(request, [collect(generation) for generation in started])
    finally:
        for generation in started:  # those never begun, when the client left at once
            await generation.events.aclose()
    if answers is None:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    choices = shape.choices(answers)
    usage = generation_usage(request, [answer.done for answer in answers])
    _report(request, head, usage)
    answer = {**head.fields(shape.kind), "choices": choices, "usage": usage}
    return FastJSONResponse({**answer, **beside()})


async def _sse(
    request: Request,
    head: Head,
    started: list[Started],
    shape: AnswerShape[PieceT],
    include_usage: bool,
    beside: Callable[[], dict[str, Any]],
) -> AsyncIterator[bytes]:
    """The answers as OpenAI streams them: the opening chunks, each choice's chunks as they
    come and its finish chunk, the usage chunk when asked for, then ``[DONE]``. Usage is
    reported before the last finish chunk."""
    dones: dict[int, GenerationDone] = {}
    usage: dict[str, Any] = {}
    nulled: dict[str, Any] = {"usage": None} if include_usage else {}

    def chunk(piece: PieceT) -> bytes:
        choice = shape.choice_chunk(piece)
        return sse_event({**head.fields(shape.chunk_kind), "choices": [choice], **nulled})

    try:
        for piece in shape.opening():
            yield chunk(piece)
        streams = [shape.stream(index, s) for index, s in enumerate(started)]
        async for piece in merge(streams):
            if piece.done is not None:
                dones[piece.index] = piece.done
                if len(dones) == len(started):
                    usage = generation_usage(request, [dones[i] for i in sorted(dones)])
                    _report(request, head, usage)
            yield chunk(piece)
    except ModelMartError as exc:  # the model failed mid-answer: the SDK raises this error
        yield sse_event(openai_error_body(exc))
        return
    finally:
        for generation in started:  # stops the models when the client left early
            await generation.events.aclose()
    if include_usage:
        yield sse_event({**head.fields(shape.chunk_kind), "choices": [], "usage": usage})
    extra = beside()
    if extra:
        yield sse_event({**head.fields(shape.chunk_kind), "choices": [], **nulled, **extra})
    yield b"data: [DONE]\n\n"
