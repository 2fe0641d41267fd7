"""The body of OpenAI's chat completions request, and what of it this server can honour.

Fields OpenAI defines that a local chat model cannot serve (images, audio, logit biases) are
refused with a 400 that names the field, rather than ignored: a client that asked for them
would otherwise get a silently different answer. ``top_k``, ``min_p`` and
``repetition_penalty`` are llama.cpp's sampling extras, accepted as its own server accepts
them (``extra_body`` in the ``openai`` SDK).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelmart.errors import InvalidRequest
from modelmart.gateway.generations import check_choices, seeded
from modelmart.gateway.response_formats import ResponseFormat, answer_schema, schema_grammar
from modelmart.gateway.tool_calls import ToolChoice, ToolDefinition, ToolPlan, plan_tools
from modelmart.runtimes.generation import ChatMessage, GenerationRequest, Role, ToolCall

MAX_STOPS = 4
ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",  # OpenAI's newer name for system instructions
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
MAX_TOP_LOGPROBS = 20


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class FunctionCallIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    arguments: str


class ToolCallIn(BaseModel):
    """A call an earlier assistant turn made, as the client sends it back."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: str = "function"
    function: FunctionCallIn


class MessageIn(BaseModel):
    """One message; other extra fields (``refusal``) are accepted and not used."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class SamplingFields(BaseModel):
    """How the next tokens are drawn, as chat and text completions both take it. A field left
    out or ``null`` takes OpenAI's default (llama.cpp's for its extras)."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    top_k: int | None = Field(default=None, ge=0, description="llama.cpp: 0 is off")
    min_p: float | None = Field(default=None, ge=0, le=1, description="llama.cpp: 0 is off")
    repetition_penalty: float | None = Field(
        default=None, gt=0, le=10, description="llama.cpp: 1 is none"
    )
    user: str | None = Field(default=None, description="accepted and ignored")
    stream: bool | None = False
    stream_options: StreamOptions | None = None

    def sampling(self) -> dict[str, Any]:
        """The :class:`GenerationRequest` fields these set, defaults filled in;
        InvalidRequest for stops it cannot take."""
        return {
            "temperature": 1.0 if self.temperature is None else self.temperature,
            "top_p": 1.0 if self.top_p is None else self.top_p,
            "stop": _stops(self.stop),
            "seed": self.seed,
            "presence_penalty": self.presence_penalty or 0.0,
            "frequency_penalty": self.frequency_penalty or 0.0,
            "top_k": self.top_k or 0,
            "min_p": self.min_p or 0.0,
            "repetition_penalty": (
                1.0 if self.repetition_penalty is None else self.repetition_penalty
            ),
        }

    @property
    def include_usage(self) -> bool:
        """Whether a streamed answer ends with a usage chunk."""
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(SamplingFields):
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
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, description="choices, at most 8")
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    response_format: ResponseFormat | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = Field(
        default=None, description="accepted: an answer may hold several calls with auto"
    )


@dataclass(frozen=True)
class ChatPlan:
    """What a chat request asks of the model (one request per choice) and of its answers:
    ``schema`` the JSON schema the content must fit (``response_format``), ``tools`` how
    calls are read from it."""

    requests: tuple[GenerationRequest, ...]
    tools: ToolPlan
    schema: dict[str, Any] | None
    logprobs: bool


def chat_plan(body: ChatCompletionRequest) -> ChatPlan:
    """What the model is asked to do; InvalidRequest naming the field for what it cannot."""
    choices = body.n or 1
    check_choices(choices)
    if body.top_logprobs and not body.logprobs:
        raise InvalidRequest(
            "top_logprobs needs logprobs: send logprobs=true as well",
            details={"param": "top_logprobs"},
        )
    tools = plan_tools(body.tools, body.tool_choice)
    schema = answer_schema(body.response_format)
    request = GenerationRequest(
        messages=read_messages(body.messages),
        max_tokens=_max_tokens(body),
        **body.sampling(),
        # A forced call is the whole answer: its grammar wins over response_format's.
        grammar=tools.grammar or (None if schema is None else schema_grammar(schema)),
        tools=tools.shown,
        logprobs=bool(body.logprobs),
        top_logprobs=body.top_logprobs or 0,
    )
    return ChatPlan(
        requests=tuple(seeded(request, index) for index in range(choices)),
        tools=tools,
        schema=None if tools.forced else schema,
        logprobs=bool(body.logprobs),
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
        hint = " (send function results as role 'tool')" if message.role == "function" else ""
        raise InvalidRequest(
            f"messages[{index}].role is {message.role!r}{hint}; use one of {', '.join(ROLES)}",
            details={"param": f"messages[{index}].role"},
        )
    if role == "tool" and not message.tool_call_id:
        raise InvalidRequest(
            f"messages[{index}] is a tool result without 'tool_call_id'; name the call it "
            "answers (the id of an earlier assistant message's tool_calls entry)",
            details={"param": f"messages[{index}].tool_call_id"},
        )
    calls = tuple(
        ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
        for call in message.tool_calls or ()
    )
    if calls and role != "assistant":
        raise InvalidRequest(
            f"messages[{index}] has tool_calls but role {message.role!r}; only assistant "
            "messages carry tool calls",
            details={"param": f"messages[{index}].tool_calls"},
        )
    return ChatMessage(
        role,
        _text(index, message.content),
        tool_calls=calls,
        tool_call_id=message.tool_call_id if role == "tool" else None,
        name=message.name if role == "tool" else None,
    )


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
