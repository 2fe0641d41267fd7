"""OpenAI-compatible chat completions: ``POST /v1/chat/completions``, whole or streamed.

The official ``openai`` SDKs work unchanged against ``<server>/v1``; the model id is the name
of a deployment whose model generates text (a GGUF chat model such as the catalogue's
``smollm2-135m-instruct``). ``stream=true`` answers with server-sent events as the tokens
come; a client that disconnects, streaming or not, stops the generation. Errors answer in
OpenAI's shape, before the stream starts when they can (an unknown model, a prompt beyond the
context window is ``400 context_length_exceeded``), as a final ``data: {"error": ...}`` event
when the model fails mid-answer.

The route bills (:mod:`modelmart.gateway.metering`): a stream's end waits for its usage record.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response, StreamingResponse

from modelmart.errors import InvalidRequest, ModelMartError
from modelmart.gateway.chat_requests import ChatCompletionRequest, generation_request
from modelmart.gateway.metering import Caller, MeteredOpenAIRoute
from modelmart.gateway.openai_errors import openai_error_body
from modelmart.gateway.responses import FastJSONResponse, dumps
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.text_models import model_endpoint
from modelmart.gateway.usage import report_usage
from modelmart.runtimes.generation import GenerationDone, GenerationEvent, TextDelta
from modelmart.serving.placement import Endpoint
from modelmart.serving.router import Router
from modelmart.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["openai-compatible"], route_class=MeteredOpenAIRoute)
ServicesDep = Annotated[Services, Depends(get_services)]

CHAT_EXAMPLE = "smollm2-135m-instruct"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
CLIENT_CLOSED_REQUEST = 499
"""What the access log shows for an answer abandoned by its client (nginx's convention)."""


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
    generation = generation_request(body)
    endpoint = chat_endpoint(services.router, principal, body.model)
    target = endpoint.spec.target
    completion = _Completion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=body.model,
        served_model=target.model,
        served_version=target.version,
    )
    events = endpoint.generate(generation)
    try:
        first = await anext(events)  # request errors surface here, before any byte is sent
    except BaseException:
        await events.aclose()
        raise
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        stream = _sse(first, events, completion, request, include_usage)
        return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
    return await _whole(first, events, completion, request)


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


def _usage(done: GenerationDone) -> dict[str, int]:
    return {
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "total_tokens": done.prompt_tokens + done.completion_tokens,
    }


def _report(request: Request, completion: _Completion, done: GenerationDone) -> dict[str, int]:
    usage = _usage(done)
    units = {"tokens": usage["total_tokens"], **usage}
    del units["total_tokens"]
    report_usage(request, completion.served_model, completion.served_version, units)
    return usage


async def _whole(
    first: GenerationEvent,
    events: AsyncGenerator[GenerationEvent, None],
    completion: _Completion,
    request: Request,
) -> Response:
    parts: list[str] = []
    event = first
    gone = asyncio.create_task(_disconnect(request))
    try:
        async with contextlib.aclosing(events):  # frees the model's instance once it is done
            while not isinstance(event, GenerationDone):
                if gone.done():  # nobody will read the answer: stop the model
                    return Response(status_code=CLIENT_CLOSED_REQUEST)
                parts.append(event.text)
                event = await anext(events)
    finally:
        gone.cancel()
    usage = _report(request, completion, event)
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": "".join(parts), "refusal": None},
        "logprobs": None,
        "finish_reason": event.finish_reason,
    }
    return FastJSONResponse(
        {**completion.head("chat.completion"), "choices": [choice], "usage": usage}
    )


async def _disconnect(request: Request) -> None:
    """Returns when the client hangs up (the body has been read: nothing else can arrive)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + dumps(payload) + b"\n\n"


def _chunk(
    completion: _Completion, delta: dict[str, Any], finish: str | None, include_usage: bool
) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    usage: dict[str, Any] = {"usage": None} if include_usage else {}
    return _event({**completion.head("chat.completion.chunk"), "choices": [choice], **usage})


async def _sse(
    first: GenerationEvent,
    events: AsyncGenerator[GenerationEvent, None],
    completion: _Completion,
    request: Request,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    """The answer as OpenAI streams it: a role chunk, content chunks, a finish chunk, the
    usage chunk when asked for, then ``[DONE]``. Usage is reported before the finish chunk."""
    yield _chunk(completion, {"role": "assistant", "content": ""}, None, include_usage)
    event = first
    try:
        while isinstance(event, TextDelta):
            yield _chunk(completion, {"content": event.text}, None, include_usage)
            event = await anext(events)
    except ModelMartError as exc:  # the model failed mid-answer: the SDK raises this error
        yield _event(openai_error_body(exc))
        return
    finally:
        await events.aclose()  # stops the model when the client left early
    usage = _report(request, completion, event)
    yield _chunk(completion, {}, event.finish_reason, include_usage)
    if include_usage:
        yield _event({**completion.head("chat.completion.chunk"), "choices": [], "usage": usage})
    yield b"data: [DONE]\n\n"
