"""OpenAI's legacy text completions: ``POST /v1/completions``, whole or streamed.

The prompt is the model's input as it is, without a chat template: the model continues the
text. ``prompt`` is a string or a list of strings (one choice per prompt and ``n``, in that
order: ``index = prompt * n + i``); ``max_tokens`` defaults to 16 as OpenAI's does;
``logprobs`` (0 to 5) answers in the legacy shape (``tokens``, ``token_logprobs``,
``top_logprobs``, ``text_offset``). ``echo`` puts the prompt before the answer; with
``logprobs`` it would need the prompt's own log-probabilities, which are not computed, so
that is a 400, as are ``suffix`` (no fill-in-the-middle) and ``best_of`` above ``n``.

The route bills like chat completions (:mod:`modelmart.gateway.metering`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from modelmart.errors import InvalidRequest, ModelMartError
from modelmart.gateway.chat_requests import MAX_STOPS, StreamOptions
from modelmart.gateway.generations import (
    CLIENT_CLOSED_REQUEST,
    SSE_HEADERS,
    Started,
    billed_units,
    check_choices,
    generation_usage,
    legacy_logprobs,
    merge,
    seeded,
    sse_event,
    start_all,
    unless_gone,
)
from modelmart.gateway.metering import Caller, MeteredOpenAIRoute
from modelmart.gateway.openai_errors import openai_error_body
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.routes.chat import chat_endpoint
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.text_models import read_texts
from modelmart.gateway.usage import report_usage
from modelmart.runtimes.generation import (
    FinishReason,
    GenerationDone,
    GenerationRequest,
    TokenLogprob,
)

router = APIRouter(prefix="/v1", tags=["openai-compatible"], route_class=MeteredOpenAIRoute)
ServicesDep = Annotated[Services, Depends(get_services)]

DEFAULT_MAX_TOKENS = 16
"""OpenAI's default for text completions (chat has none)."""
MAX_LOGPROBS = 5


class CompletionRequest(BaseModel):
    """OpenAI's text completions request. A field left out or ``null`` takes OpenAI's
    default."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"model": "smollm2-135m-instruct", "prompt": "Once upon a time", "max_tokens": 16}
            ]
        },
    )

    model: str = Field(min_length=1, description="a deployment name, as GET /v1/models lists")
    prompt: str | list[Any] = Field(description="a text or a list of texts")
    max_tokens: int | None = Field(default=DEFAULT_MAX_TOKENS, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    n: int | None = Field(default=None, ge=1, description="choices per prompt")
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logprobs: int | None = Field(default=None, ge=0, le=MAX_LOGPROBS)
    echo: bool | None = False
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    suffix: str | None = Field(default=None, description="refused: no fill-in-the-middle")
    best_of: int | None = Field(default=None, ge=1, description="only equal to n")
    top_k: int | None = Field(default=None, ge=0, description="llama.cpp: 0 is off")
    min_p: float | None = Field(default=None, ge=0, le=1, description="llama.cpp: 0 is off")
    repetition_penalty: float | None = Field(
        default=None, gt=0, le=10, description="llama.cpp: 1 is none"
    )
    user: str | None = Field(default=None, description="accepted and ignored")


@dataclass(frozen=True)
class _Choice:
    """One generation of the request: which prompt, what is asked of the model."""

    index: int
    prompt: str
    request: GenerationRequest


def _choices(body: CompletionRequest) -> list[_Choice]:
    _refuse_unsupported(body)
    prompts = read_texts(body.prompt, "prompt")
    per_prompt = body.n or 1
    check_choices(len(prompts) * per_prompt)
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > MAX_STOPS or not all(stops):
        raise InvalidRequest(
            f"'stop' takes up to {MAX_STOPS} non-empty strings; got {stops!r}",
            details={"param": "stop"},
        )
    choices = []
    for number, prompt in enumerate(prompts):
        request = GenerationRequest(
            messages=(),
            prompt=prompt,
            max_tokens=body.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            stop=tuple(stops),
            seed=body.seed,
            presence_penalty=body.presence_penalty or 0.0,
            frequency_penalty=body.frequency_penalty or 0.0,
            top_k=body.top_k or 0,
            min_p=body.min_p or 0.0,
            repetition_penalty=1.0 if body.repetition_penalty is None else body.repetition_penalty,
            logprobs=body.logprobs is not None,
            top_logprobs=body.logprobs or 0,
        )
        for i in range(per_prompt):
            choices.append(_Choice(number * per_prompt + i, prompt, seeded(request, i)))
    return choices


def _refuse_unsupported(body: CompletionRequest) -> None:
    if body.suffix:
        raise InvalidRequest(
            "suffix is not supported: this server does not fill in the middle; put all the "
            "text in 'prompt' and leave suffix out",
            details={"param": "suffix"},
        )
    if body.best_of is not None and body.best_of != (body.n or 1):
        raise InvalidRequest(
            f"best_of={body.best_of} is not supported: answers are not ranked; leave best_of "
            "out and use n for several answers",
            details={"param": "best_of"},
        )
    if body.echo and body.logprobs is not None:
        raise InvalidRequest(
            "echo with logprobs is not supported: the prompt's own log-probabilities are not "
            "computed; send echo or logprobs, not both",
            details={"param": "echo"},
        )


@dataclass(frozen=True)
class _Head:
    id: str
    created: int
    model: str
    served_model: str
    served_version: int

    def fields(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
        }


@router.post("/completions", response_model=None)
async def create_completion(
    body: CompletionRequest, request: Request, principal: Caller, services: ServicesDep
) -> Response:
    """Continue a text with a deployed text-generation model (OpenAI's legacy completions)."""
    choices = _choices(body)
    endpoint = chat_endpoint(services.router, principal, body.model)
    target = endpoint.spec.target
    head = _Head(
        id=f"cmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=body.model,
        served_model=target.model,
        served_version=target.version,
    )
    started = await start_all(endpoint, [choice.request for choice in choices])
    echo = bool(body.echo)
    logprobs = body.logprobs is not None
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        answer = _Answering(head, choices, echo, logprobs)
        stream = answer.sse(started, request, include_usage)
        return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
    return await _whole(head, choices, started, request, echo, logprobs)


def _report(request: Request, head: _Head, usage: dict[str, Any]) -> None:
    report_usage(request, head.served_model, head.served_version, billed_units(usage))


@dataclass
class _Collected:
    text: str
    logprobs: list[TokenLogprob]
    done: GenerationDone


async def _collect(started: Started) -> _Collected:
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
    return _Collected("".join(parts), logprobs, done)


async def _whole(
    head: _Head,
    choices: Sequence[_Choice],
    started: list[Started],
    request: Request,
    echo: bool,
    logprobs: bool,
) -> Response:
    try:
        answers = await unless_gone(request, [_collect(generation) for generation in started])
    finally:
        for generation in started:
            await generation.events.aclose()
    if answers is None:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    data = [
        {
            "text": (choice.prompt if echo else "") + answer.text,
            "index": choice.index,
            "logprobs": legacy_logprobs(answer.logprobs, len(choice.prompt)) if logprobs else None,
            "finish_reason": answer.done.finish_reason,
        }
        for choice, answer in zip(choices, answers, strict=True)
    ]
    usage = generation_usage(request, [answer.done for answer in answers])
    _report(request, head, usage)
    return FastJSONResponse({**head.fields(), "choices": data, "usage": usage})


@dataclass(frozen=True)
class _Out:
    index: int
    text: str
    logprobs: tuple[TokenLogprob, ...] = ()
    offset: int = 0
    finish: FinishReason | None = None
    done: GenerationDone | None = None


@dataclass(frozen=True)
class _Answering:
    """A streamed answer: a chunk per piece of each choice, a finish chunk each."""

    head: _Head
    choices: Sequence[_Choice]
    echo: bool
    logprobs: bool

    async def _choice(self, choice: _Choice, started: Started) -> AsyncIterator[_Out]:
        offset = len(choice.prompt)  # where the answer starts, in prompt and answer
        if self.echo:
            yield _Out(choice.index, choice.prompt)
        async for event in started.all():
            if isinstance(event, GenerationDone):
                yield _Out(choice.index, "", finish=event.finish_reason, done=event)
                return
            yield _Out(choice.index, event.text, event.logprobs, offset)
            offset += sum(len(token.token) for token in event.logprobs)

    def _chunk(self, out: _Out, include_usage: bool) -> bytes:
        logprobs = out.logprobs if self.logprobs else ()
        choice = {
            "text": out.text,
            "index": out.index,
            "logprobs": legacy_logprobs(logprobs, out.offset) if logprobs else None,
            "finish_reason": out.finish,
        }
        usage: dict[str, Any] = {"usage": None} if include_usage else {}
        return sse_event({**self.head.fields(), "choices": [choice], **usage})

    async def sse(
        self, started: list[Started], request: Request, include_usage: bool
    ) -> AsyncIterator[bytes]:
        dones: dict[int, GenerationDone] = {}
        usage: dict[str, Any] = {}
        streams = [self._choice(c, s) for c, s in zip(self.choices, started, strict=True)]
        try:
            async for out in merge(streams):
                if out.done is not None:
                    dones[out.index] = out.done
                    if len(dones) == len(started):
                        usage = generation_usage(request, [dones[i] for i in sorted(dones)])
                        _report(request, self.head, usage)
                yield self._chunk(out, include_usage)
        except ModelMartError as exc:
            yield sse_event(openai_error_body(exc))
            return
        finally:
            for generation in started:
                await generation.events.aclose()
        if include_usage:
            yield sse_event({**self.head.fields(), "choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"
