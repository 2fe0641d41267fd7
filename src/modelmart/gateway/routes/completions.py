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

import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ConfigDict, Field
from starlette.responses import Response

from modelmart.errors import InvalidRequest
from modelmart.gateway.chat_requests import SamplingFields
from modelmart.gateway.generations import (
    AnswerShape,
    Collected,
    Head,
    Started,
    check_choices,
    legacy_logprobs,
    respond,
    seeded,
    start_all,
)
from modelmart.gateway.metering import Caller, MeteredOpenAIRoute
from modelmart.gateway.pii import guard_for, guarded_outputs, guarded_requests, report_fields
from modelmart.gateway.routes.chat import chat_endpoint
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.text_models import read_texts
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


class CompletionRequest(SamplingFields):
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
    n: int | None = Field(default=None, ge=1, description="choices per prompt")
    logprobs: int | None = Field(default=None, ge=0, le=MAX_LOGPROBS)
    echo: bool | None = False
    suffix: str | None = Field(default=None, description="refused: no fill-in-the-middle")
    best_of: int | None = Field(default=None, ge=1, description="only equal to n")


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
    sampling = body.sampling()
    choices = []
    for number, prompt in enumerate(prompts):
        request = GenerationRequest(
            messages=(),
            prompt=prompt,
            max_tokens=body.max_tokens or DEFAULT_MAX_TOKENS,
            **sampling,
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


@router.post("/completions", response_model=None)
async def create_completion(
    body: CompletionRequest, request: Request, principal: Caller, services: ServicesDep
) -> Response:
    """Continue a text with a deployed text-generation model (OpenAI's legacy completions)."""
    choices = _choices(body)
    endpoint = chat_endpoint(services.router, principal, body.model)
    head = Head.new("cmpl", body.model, endpoint)
    guard = guard_for(request, services.pii, principal, endpoint)
    requests = await guarded_requests(guard, [choice.request for choice in choices])
    # The model's prompt is the one echoed (redacted under redact-input).
    choices = [
        dataclasses.replace(choice, prompt=guarded.prompt or "", request=guarded)
        for choice, guarded in zip(choices, requests, strict=True)
    ]
    started = guarded_outputs(guard, await start_all(endpoint, requests))
    shape = _Answering(choices, bool(body.echo), body.logprobs is not None).shape()
    return await respond(
        request,
        head,
        started,
        shape,
        stream=bool(body.stream),
        include_usage=body.include_usage,
        beside=lambda: report_fields(guard),
    )


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
    """How the choices read, whole or streamed (a chunk per piece, a finish chunk each)."""

    choices: Sequence[_Choice]
    echo: bool
    logprobs: bool

    def shape(self) -> AnswerShape[_Out]:
        return AnswerShape(
            kind="text_completion",
            chunk_kind="text_completion",
            choices=self._whole,
            stream=lambda number, started: self._stream(self.choices[number], started),
            choice_chunk=self._chunk,
        )

    def _whole(self, answers: list[Collected]) -> list[dict[str, Any]]:
        return [
            {
                "text": (choice.prompt if self.echo else "") + answer.text,
                "index": choice.index,
                "logprobs": (
                    legacy_logprobs(answer.logprobs, len(choice.prompt)) if self.logprobs else None
                ),
                "finish_reason": answer.done.finish_reason,
            }
            for choice, answer in zip(self.choices, answers, strict=True)
        ]

    async def _stream(self, choice: _Choice, started: Started) -> AsyncIterator[_Out]:
        offset = len(choice.prompt)  # where the answer starts, in prompt and answer
        if self.echo:
            yield _Out(choice.index, choice.prompt)
        async for event in started.all():
            if isinstance(event, GenerationDone):
                yield _Out(choice.index, "", finish=event.finish_reason, done=event)
                return
            yield _Out(choice.index, event.text, event.logprobs, offset)
            offset += sum(len(token.token) for token in event.logprobs)

    def _chunk(self, out: _Out) -> dict[str, Any]:
        logprobs = out.logprobs if self.logprobs else ()
        return {
            "text": out.text,
            "index": out.index,
            "logprobs": legacy_logprobs(logprobs, out.offset) if logprobs else None,
            "finish_reason": out.finish,
        }
