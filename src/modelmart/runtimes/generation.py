"""Generative models: a runtime that streams text instead of answering one batch at once.

A chat model does not fit ``predict(batch)``: its answer arrives token by token, and a caller
who goes away must be able to stop it. A runtime that can generate also implements
:class:`TextGenerator`; the serving layer runs ``generate`` in the instance's worker and
relays each :class:`TextDelta` as it comes, then the closing :class:`GenerationDone`.

Everything here is plain data that pickles, so it can cross a worker's pipe.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from modelmart.types import Datatype, Signature, TensorSpec

CHAT_SIGNATURE = Signature(
    inputs=(TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),),
    outputs=(TensorSpec(name="completion", datatype=Datatype.BYTES, shape=(-1,)),),
)
"""What a chat model serves on the tensor routes: one prompt in, its answer out."""

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls"]


TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
"""How a model writes a tool call when its chat template has no tool format of its own (the
Hermes/Qwen convention): ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``."""


@dataclass(frozen=True)
class ToolCall:
    """A function the model asked to call; ``arguments`` is the JSON text it produced."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatMessage:
    """One turn. An assistant turn may carry ``tool_calls``; a ``tool`` turn answers the call
    named by ``tool_call_id``."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """One conversation to continue, with OpenAI's sampling options and llama.cpp's extras.

    ``max_tokens`` None generates until the model stops or the context window is full;
    ``seed`` None samples differently on every call; ``temperature`` 0 is greedy.
    ``top_k`` 0 and ``min_p`` 0 switch those filters off; ``repetition_penalty`` 1 is none.
    ``grammar`` is a GBNF grammar the answer must follow (built from ``response_format`` or
    the tool choice by the caller); ``tools`` are OpenAI tool definitions (JSON objects),
    given to the model's chat template so it can see them. ``logprobs`` asks for the
    log-probability of each sampled token and of the ``top_logprobs`` most likely ones.
    ``prompt`` set (a raw completion, ``/v1/completions``) is used as the model's input as
    it is, and ``messages`` is then empty.
    """

    messages: tuple[ChatMessage, ...]
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    top_k: int = 0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    grammar: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    logprobs: bool = False
    top_logprobs: int = 0
    prompt: str | None = None


@dataclass(frozen=True)
class TopLogprob:
    token: str
    logprob: float
    bytes: tuple[int, ...]


@dataclass(frozen=True)
class TokenLogprob:
    """One sampled token with its log-probability and the most likely alternatives."""

    token: str
    logprob: float
    bytes: tuple[int, ...]
    top: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True)
class TextDelta:
    """The next piece of the answer (whole characters; may hold several tokens).

    ``logprobs`` holds one entry per token in the piece when the request asked for them.
    """

    text: str
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class GenerationDone:
    """The last event of every generation that was not stopped by its caller.

    ``cached_tokens``: prompt tokens that were not evaluated again because the prefix cache
    held them (OpenAI's ``usage.prompt_tokens_details.cached_tokens``). ``energy_uj``: the
    microjoules the generation used, filled in by the serving layer's engine loop.
    """

    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    cached_tokens: int = 0
    energy_uj: int = 0


GenerationEvent = TextDelta | GenerationDone


class TextGenerator(ABC):
    """The capability a runtime adds to serve chat completions.

    ``generate`` returns a generator that yields text deltas and ends with one
    :class:`GenerationDone`. The caller may ``close()`` it at any time to stop generating (a
    client went away); the implementation must then stop computing. Errors in the request
    (a prompt beyond the context window) are raised before the first event.
    """

    @abstractmethod
    def generate(self, request: GenerationRequest) -> Generator[GenerationEvent, None, None]: ...

    @property
    @abstractmethod
    def context_length(self) -> int:
        """Tokens of prompt and answer together that the loaded model can attend to."""

    def engine(self) -> GenerationEngine:
        """What the serving layer drives to run many generations on this model. The default
        runs them one after the other through :meth:`generate`; a runtime that can batch
        sequences returns its own engine (always the same one: it owns the model's state)."""
        return SerialEngine(self)

    def prediction_requests(self, prompts: Sequence[str]) -> list[GenerationRequest]:
        """How the plain tensor routes ask this model: each text one user message, greedy."""
        return [
            GenerationRequest(messages=(ChatMessage("user", text),), temperature=0.0)
            for text in prompts
        ]


@dataclass
class StopMatcher:
    """Cuts the generated text at the first stop sequence, across token boundaries.

    Text that could still turn out to be the start of a stop sequence is held back until the
    next piece decides it, so a stop sequence is never partly sent to the client.
    """

    stops: Sequence[str]
    _pending: str = field(default="", init=False)

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to send now, whether a stop sequence was reached)."""
        pending = self._pending + text
        cut = min((i for i in (pending.find(s) for s in self.stops if s) if i >= 0), default=-1)
        if cut >= 0:
            self._pending = ""
            return pending[:cut], True
        held = self._held_back(pending)
        self._pending = pending[len(pending) - held :] if held else ""
        return pending[: len(pending) - held], False

    def flush(self) -> str:
        """What is still held back, once generation ended without reaching a stop."""
        pending, self._pending = self._pending, ""
        return pending

    def _held_back(self, text: str) -> int:
        """Length of the longest end of ``text`` that begins some stop sequence."""
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:size]):
                    longest = size
                    break
        return longest


StepItem = tuple[str, GenerationEvent | Exception]
"""One result of an engine step: a request id and its next event, or the error that ended
it. A request's last item is its :class:`GenerationDone` or an exception."""


@dataclass(frozen=True)
class EngineStats:
    """What an engine holds right now, for the deployment's metrics.

    ``kv_tokens`` counts the cache cells reserved by running sequences plus those kept for
    the prefix cache, out of ``kv_capacity`` (0 for an engine without a KV cache).
    """

    running: int = 0
    waiting: int = 0
    kv_tokens: int = 0
    kv_capacity: int = 0


class GenerationEngine(ABC):
    """Runs many generations at once, one step at a time, in one thread.

    ``submit`` queues a request (raising its request errors, or
    :class:`~modelmart.errors.Overloaded` when the waiting queue is full); every ``step``
    advances all running requests by (at most) one token and returns their events. A
    ``cancel`` ends a request silently: it gets no more events. Not thread-safe: the serving
    layer calls every method from its engine thread.
    """

    parallel: int = 1

    @abstractmethod
    def submit(self, rid: str, request: GenerationRequest) -> None: ...

    @abstractmethod
    def cancel(self, rid: str) -> None: ...

    @abstractmethod
    def step(self) -> list[StepItem]: ...

    @property
    @abstractmethod
    def has_work(self) -> bool: ...

    def stats(self) -> EngineStats:
        return EngineStats()


class SerialEngine(GenerationEngine):
    """The engine of a runtime that only has :meth:`TextGenerator.generate`: one request at
    a time, in arrival order, one event per step."""

    def __init__(self, generator: TextGenerator) -> None:
        self._generator = generator
        self._waiting: deque[tuple[str, GenerationRequest]] = deque()
        self._current: tuple[str, Iterator[GenerationEvent]] | None = None

    def submit(self, rid: str, request: GenerationRequest) -> None:
        self._waiting.append((rid, request))

    def cancel(self, rid: str) -> None:
        self._waiting = deque(item for item in self._waiting if item[0] != rid)
        if self._current is not None and self._current[0] == rid:
            self._close_current()

    @property
    def has_work(self) -> bool:
        return self._current is not None or bool(self._waiting)

    def stats(self) -> EngineStats:
        return EngineStats(running=int(self._current is not None), waiting=len(self._waiting))

    def step(self) -> list[StepItem]:
        if self._current is None:
            if not self._waiting:
                return []
            rid, request = self._waiting.popleft()
            try:
                self._current = rid, self._generator.generate(request)
            except Exception as exc:  # a request error, raised before the first event
                return [(rid, exc)]
        rid, events = self._current
        try:
            event = next(events)
        except StopIteration:
            self._current = None
            return [(rid, RuntimeError("the generation ended without GenerationDone"))]
        except Exception as exc:  # a model may raise anything; it fails only this request
            self._current = None
            return [(rid, exc)]
        if isinstance(event, GenerationDone):
            self._close_current()
        return [(rid, event)]

    def _close_current(self) -> None:
        if self._current is not None:
            events = self._current[1]
            if isinstance(events, Generator):
                events.close()
            self._current = None
