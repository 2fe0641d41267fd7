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

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from modelmart.errors import BadModelOutput, InvalidRequest
from modelmart.gateway.chat_requests import ChatCompletionRequest, ChatPlan, chat_plan
from modelmart.gateway.generations import (
    AnswerShape,
    Collected,
    Head,
    Started,
    chat_logprobs,
    respond,
    start_all,
)
from modelmart.gateway.metering import Caller, MeteredOpenAIRoute
from modelmart.gateway.pii import guard_for, guarded_outputs, guarded_requests, report_fields
from modelmart.gateway.response_formats import check_answer
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.text_models import model_endpoint
from modelmart.gateway.tool_calls import Piece, ToolCallParser, call_object, split_answer
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


@router.post("/chat/completions", response_model=None)
async def create_chat_completion(
    body: ChatCompletionRequest, request: Request, principal: Caller, services: ServicesDep
) -> Response:
    """Continue a conversation with a deployed chat model (OpenAI's chat completions)."""
    plan = chat_plan(body)
    endpoint = chat_endpoint(services.router, principal, body.model)
    head = Head.new("chatcmpl", body.model, endpoint)
    guard = guard_for(request, services.pii, principal, endpoint)
    requests = await guarded_requests(guard, plan.requests)
    # Request errors surface here, before any byte is sent.
    started = guarded_outputs(guard, await start_all(endpoint, requests))
    return await respond(
        request,
        head,
        started,
        _shape(plan),
        stream=bool(body.stream),
        include_usage=body.include_usage,
        beside=lambda: report_fields(guard),
    )


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


def _shape(plan: ChatPlan) -> AnswerShape[_Out]:
    return AnswerShape(
        kind="chat.completion",
        chunk_kind="chat.completion.chunk",
        choices=lambda answers: [_whole_choice(i, a, plan) for i, a in enumerate(answers)],
        stream=lambda index, started: _choice_stream(index, started, plan),
        choice_chunk=lambda out: _choice_chunk(out, plan),
        # A role chunk per choice first, as OpenAI sends.
        opening=lambda: [
            _Out(index, {"role": "assistant", "content": ""}) for index in range(len(plan.requests))
        ],
    )


def _whole_choice(index: int, answer: Collected, plan: ChatPlan) -> dict[str, Any]:
    text = answer.text
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


def _choice_chunk(out: _Out, plan: ChatPlan) -> dict[str, Any]:
    logprobs = chat_logprobs(out.logprobs) if plan.logprobs and out.logprobs else None
    return {
        "index": out.index,
        "delta": out.delta,
        "logprobs": logprobs,
        "finish_reason": out.finish,
    }
