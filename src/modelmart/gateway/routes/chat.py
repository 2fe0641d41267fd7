"""OpenAI-compatible chat completions: ``POST /v1/chat/completions``, whole or streamed.

The official ``openai`` SDKs work unchanged against ``<server>/v1``; the model id is the name
of a deployment whose model generates text (a GGUF chat model such as the catalogue's
``smollm2-135m-instruct``). ``stream=true`` answers with server-sent events as the tokens
come; a client that disconnects, streaming or not, stops the generation. Errors answer in
OpenAI's shape, before the stream starts when they can (an unknown model, a prompt beyond the
context window is ``400 context_length_exceeded``), as a final ``data: {"error": ...}`` event
when the model fails mid-answer.

``n`` choices run concurrently (seeds ``seed + i`` when a seed is given) and their usage is
summed; ``logprobs`` come in OpenAI's shape; ``response_format`` and a forced ``tool_choice``
become a grammar (:mod:`modelmart.gateway.response_formats`,
:mod:`modelmart.gateway.tool_calls`), and the calls an answer makes are read from it.

The route bills (:mod:`modelmart.gateway.metering`): a stream's end waits for its usage record.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response, StreamingResponse

from modelmart.errors import BadModelOutput, InvalidRequest, ModelMartError
from modelmart.gateway.chat_requests import ChatCompletionRequest, ChatPlan, chat_plan
from modelmart.gateway.generations import (
    CLIENT_CLOSED_REQUEST,
    SSE_HEADERS,
    Started,
    billed_units,
    chat_logprobs,
    generation_usage,
    merge,
    sse_event,
    start_all,
    unless_gone,
)
from modelmart.gateway.metering import Caller, MeteredOpenAIRoute
from modelmart.gateway.openai_errors import openai_error_body
from modelmart.gateway.response_formats import check_answer
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.text_models import model_endpoint
from modelmart.gateway.tool_calls import Piece, ToolCallParser, call_object, split_answer
from modelmart.gateway.usage import report_usage
from modelmart.runtimes.generation import (
    FinishReason,
    GenerationDone,
    TokenLogprob,
    ToolCall,
)
from modelmart.serving.placement import Endpoint
from modelmart.serving.router import Router
from modelmart.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["openai-compatible"], route_class=MeteredOpenAIRoute)
ServicesDep = Annotated[Services, Depends(get_services)]

CHAT_EXAMPLE = "smollm2-135m-instruct"
ChoiceFinish = FinishReason | Literal["tool_calls"]


class _Completion(BaseModel):
    """What every chunk and the whole answer of one completion share."""

    model_config = ConfigDict(frozen=True)

    id: str
    created: int
    model: str
    served_model: str
    served_version: int

    def head(self, kind: Literal["chat.completion", "chat.completion.chunk"]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
        }


@router.post("/chat/completions", response_model=None)
async def create_chat_completion(
    body: ChatCompletionRequest, request: Request, principal: Caller, services: ServicesDep
) -> Response:
    """Continue a conversation with a deployed chat model (OpenAI's chat completions)."""
    plan = chat_plan(body)
    endpoint = chat_endpoint(services.router, principal, body.model)
    target = endpoint.spec.target
    completion = _Completion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=body.model,
        served_model=target.model,
        served_version=target.version,
    )
    # Request errors surface here, before any byte is sent.
    started = await start_all(endpoint, plan.requests)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        stream = _sse(started, plan, completion, request, include_usage)
        return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
    return await _whole(started, plan, completion, request)


def chat_endpoint(router: Router, principal: Principal, name: str) -> Endpoint:
    """The deployment ``name`` as ``principal`` may use it: 404 model_not_found when there is
    none, 400 when its model does not generate text."""
    endpoint = model_endpoint(router, principal, name)
    if not endpoint.generative:
        raise InvalidRequest(
            f"model {name!r} is not a chat model: it does not generate text. Deploy a chat "
            f'model with POST /v1/deployments {{"model": "{CHAT_EXAMPLE}"}} and use its name',
            details={"param": "model"},
        )
    return endpoint


def _report(request: Request, completion: _Completion, usage: dict[str, Any]) -> None:
    units = billed_units(usage)
    report_usage(request, completion.served_model, completion.served_version, units)


def _finish(
    plan: ChatPlan, content: str | None, calls: Sequence[ToolCall], done: GenerationDone
) -> ChoiceFinish:
    """The choice's finish reason; BadModelOutput when a complete answer breaks the format
    the request forced (the runtime did not apply the grammar)."""
    if done.finish_reason != "stop":
        return done.finish_reason  # cut by max_tokens: an unfinished answer is not checked
    if calls:
        return "tool_calls"
    if plan.tools.forced:
        raise BadModelOutput(
            "the model's answer holds no tool call although tool_choice requires one. This "
            "model's runtime did not apply the grammar; retry, or deploy a llama.cpp model"
        )
    if plan.schema is not None:
        check_answer(content or "", plan.schema)
    return "stop"


@dataclass
class _Answer:
    text: list[str] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    done: GenerationDone | None = None


async def _collect(started: Started) -> _Answer:
    answer = _Answer()
    async for event in started.all():
        if isinstance(event, GenerationDone):
            answer.done = event
        else:
            answer.text.append(event.text)
            answer.logprobs.extend(event.logprobs)
    return answer


def _whole_choice(index: int, answer: _Answer, plan: ChatPlan) -> dict[str, Any]:
    assert answer.done is not None  # every generation not stopped by its caller ends so
    text = "".join(answer.text)
    content, calls = split_answer(text, plan.tools.declared) if plan.tools.declared else (text, [])
    finish = _finish(plan, content, calls, answer.done)
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if calls:
        message["tool_calls"] = [call_object(call) for call in calls]
    return {
        "index": index,
        "message": message,
        "logprobs": chat_logprobs(answer.logprobs) if plan.logprobs else None,
        "finish_reason": finish,
    }


async def _whole(
    started: list[Started], plan: ChatPlan, completion: _Completion, request: Request
) -> Response:
    try:
        # Nobody will read the answer once the client is gone: stop the model.
        answers = await unless_gone(request, [_collect(generation) for generation in started])
    finally:
        for generation in started:  # those never begun, when the client left at once
            await generation.events.aclose()
    if answers is None:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    choices = [_whole_choice(index, answer, plan) for index, answer in enumerate(answers)]
    usage = generation_usage(
        request, [answer.done for answer in answers if answer.done is not None]
    )
    _report(request, completion, usage)
    return FastJSONResponse(
        {**completion.head("chat.completion"), "choices": choices, "usage": usage}
    )


@dataclass(frozen=True)
class _Out:
    """One chunk's worth of one choice; ``done`` on its finish chunk."""

    index: int
    delta: dict[str, Any]
    logprobs: tuple[TokenLogprob, ...] = ()
    finish: ChoiceFinish | None = None
    done: GenerationDone | None = None


def _deltas(pieces: Sequence[Piece], parser: ToolCallParser | None) -> list[dict[str, Any]]:
    """Each piece as OpenAI streams it: text as content, a call as its name then its
    arguments (numbered in the order the answer makes them)."""
    deltas: list[dict[str, Any]] = []
    calls = 0 if parser is None else parser.calls - sum(isinstance(p, ToolCall) for p in pieces)
    for piece in pieces:
        if isinstance(piece, str):
            deltas.append({"content": piece})
            continue
        named = {"name": piece.name, "arguments": ""}
        opening = {"index": calls, "id": piece.id, "type": "function", "function": named}
        arguments = {"index": calls, "function": {"arguments": piece.arguments}}
        deltas += [{"tool_calls": [opening]}, {"tool_calls": [arguments]}]
        calls += 1
    return deltas


async def _choice_stream(index: int, started: Started, plan: ChatPlan) -> AsyncIterator[_Out]:
    """One choice's chunks; token logprobs travel with the chunk that sends their text."""
    parser = ToolCallParser(plan.tools.declared) if plan.tools.declared else None
    content: list[str] = []
    calls: list[ToolCall] = []
    logprobs: list[TokenLogprob] = []
    done: GenerationDone | None = None
    async for event in started.all():
        if isinstance(event, GenerationDone):
            done = event
            pieces = parser.finish() if parser else []
        else:
            logprobs.extend(event.logprobs)
            pieces = parser.feed(event.text) if parser else [event.text] if event.text else []
        content += [piece for piece in pieces if isinstance(piece, str)]
        calls += [piece for piece in pieces if isinstance(piece, ToolCall)]
        for delta in _deltas(pieces, parser):
            yield _Out(index, delta, tuple(logprobs))
            logprobs.clear()
    assert done is not None  # every generation not stopped by its caller ends so
    text = "".join(content)
    finish = _finish(plan, text if text or not calls else None, calls, done)
    yield _Out(index, {}, tuple(logprobs), finish, done)


def _chunk(completion: _Completion, out: _Out, plan: ChatPlan, include_usage: bool) -> bytes:
    logprobs = chat_logprobs(out.logprobs) if plan.logprobs and out.logprobs else None
    choice = {"index": out.index, "delta": out.delta, "logprobs": logprobs}
    usage: dict[str, Any] = {"usage": None} if include_usage else {}
    return sse_event(
        {
            **completion.head("chat.completion.chunk"),
            "choices": [{**choice, "finish_reason": out.finish}],
            **usage,
        }
    )


async def _sse(
    started: list[Started],
    plan: ChatPlan,
    completion: _Completion,
    request: Request,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    """The answers as OpenAI streams them: a role chunk per choice, their content chunks as
    they come, a finish chunk each, the usage chunk when asked for, then ``[DONE]``. Usage
    is reported before the last finish chunk."""
    dones: dict[int, GenerationDone] = {}
    usage: dict[str, Any] = {}
    try:
        for index in range(len(started)):
            role = _Out(index, {"role": "assistant", "content": ""})
            yield _chunk(completion, role, plan, include_usage)
        streams = [_choice_stream(i, s, plan) for i, s in enumerate(started)]
        async for out in merge(streams):
            if out.done is not None:
                dones[out.index] = out.done
                if len(dones) == len(started):
                    usage = generation_usage(request, [dones[i] for i in sorted(dones)])
                    _report(request, completion, usage)
            yield _chunk(completion, out, plan, include_usage)
    except ModelMartError as exc:  # the model failed mid-answer: the SDK raises this error
        yield sse_event(openai_error_body(exc))
        return
    finally:
        for generation in started:  # stops the models when the client left early
            await generation.events.aclose()
    if include_usage:
        yield sse_event({**completion.head("chat.completion.chunk"), "choices": [], "usage": usage})
    yield b"data: [DONE]\n\n"
