"""The body of OpenAI's chat completions request, and what of it this server can honour.

Fields OpenAI defines that a local chat model cannot serve (tools, several choices, log
probabilities, images) are refused with a 400 that names the field, rather than ignored:
a client that asked for them would otherwise get a silently different answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelmart.errors import InvalidRequest
from modelmart.runtimes.generation import ChatMessage, GenerationRequest, Role

MAX_STOPS = 4
ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",  # OpenAI's newer name for system instructions
    "user": "user",
    "assistant": "assistant",
}


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class MessageIn(BaseModel):
    """One message; extra fields (``name``, ``refusal``) are accepted and not used."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completions request. A field left out or ``null`` takes OpenAI's default."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model": "smollm2-135m-instruct",
                    "messages": [{"role": "user", "content": "Say hello in French."}],
                    "max_tokens": 32,
                }
            ]
        },
    )

    model: str = Field(min_length=1, description="a deployment name, as GET /v1/models lists")
    messages: list[MessageIn]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    n: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logprobs: bool | None = None
    user: str | None = Field(default=None, description="accepted and ignored")


def generation_request(body: ChatCompletionRequest) -> GenerationRequest:
    """What the model is asked to do; InvalidRequest naming the field for what it cannot."""
    if body.n not in (None, 1):
        raise InvalidRequest(
            f"n={body.n} is not supported: this server returns one choice per request; send "
            "n=1 (or leave it out) and repeat the request for more answers",
            details={"param": "n"},
        )
    if body.logprobs:
        raise InvalidRequest(
            "logprobs are not supported by this server; leave logprobs out",
            details={"param": "logprobs"},
        )
    return GenerationRequest(
        messages=read_messages(body.messages),
        max_tokens=_max_tokens(body),
        temperature=1.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        stop=_stops(body.stop),
        seed=body.seed,
        presence_penalty=body.presence_penalty or 0.0,
        frequency_penalty=body.frequency_penalty or 0.0,
    )


def read_messages(messages: list[MessageIn]) -> tuple[ChatMessage, ...]:
    if not messages:
        raise InvalidRequest(
            "'messages' is empty; send at least one message, such as "
            '[{"role": "user", "content": "Hello"}]',
            details={"param": "messages"},
        )
    return tuple(_message(index, message) for index, message in enumerate(messages))


def _message(index: int, message: MessageIn) -> ChatMessage:
    role = ROLES.get(message.role)
    if role is None:
        hint = " (this server does not call tools)" if message.role in {"tool", "function"} else ""
        raise InvalidRequest(
            f"messages[{index}].role is {message.role!r}{hint}; use one of {', '.join(ROLES)}",
            details={"param": f"messages[{index}].role"},
        )
    return ChatMessage(role, _text(index, message.content))


def _text(index: int, content: str | list[ContentPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts: list[str] = []
    for part in content:
        if part.type != "text" or part.text is None:
            raise InvalidRequest(
                f"messages[{index}].content holds a {part.type!r} part; this model reads "
                "text only: send a string or parts of type 'text'",
                details={"param": f"messages[{index}].content"},
            )
        texts.append(part.text)
    return "\n".join(texts)


def _max_tokens(body: ChatCompletionRequest) -> int | None:
    both = body.max_tokens is not None and body.max_completion_tokens is not None
    if both and body.max_tokens != body.max_completion_tokens:
        raise InvalidRequest(
            f"max_tokens ({body.max_tokens}) and max_completion_tokens "
            f"({body.max_completion_tokens}) disagree; send only max_completion_tokens",
            details={"param": "max_tokens"},
        )
    return body.max_completion_tokens or body.max_tokens


def _stops(stop: Any) -> tuple[str, ...]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > MAX_STOPS or not all(stops):
        raise InvalidRequest(
            f"'stop' takes up to {MAX_STOPS} non-empty strings; got {stops!r}",
            details={"param": "stop"},
        )
    return tuple(stops)
