"""The PII policy on the text routes: which one is in force for a request, and applying it to
what the model is sent and what it answers (:mod:`modelmart.privacy.guard`).

The policy in force is the strictest of the caller's (its organisation's and its key's,
carried by the :class:`~modelmart.tenancy.Principal`) and the deployment's. It is left on the
request's state, with the count of entities found per type, for the audit trail
(:mod:`modelmart.gateway.audit`); the texts themselves are never kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.requests import Request

from modelmart.arrays import Array, Batch
from modelmart.gateway.generations import Started
from modelmart.privacy.guard import Detecting, LazyDetector, PiiGuard
from modelmart.runtimes.generation import (
    ChatMessage,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
)
from modelmart.schemas.pii import PiiPolicy, strictest
from modelmart.serving.placement import Endpoint
from modelmart.tenancy import Principal
from modelmart.types import Datatype, Signature

PII_GUARD_STATE = "pii_guard"


@dataclass(frozen=True)
class PiiService:
    """``detector`` gives the detector (called in a worker thread when a request first needs
    it: the server starts without it);
    ``deployment_policy`` a deployment's own setting, by stored name."""

    detector: Callable[[], Detecting]
    deployment_policy: Callable[[str], PiiPolicy | None]


def guard_for(
    request: Request, pii: PiiService, principal: Principal, endpoint: Endpoint
) -> PiiGuard:
    """The request's guard, remembered on its state for the audit trail."""
    policy = strictest([principal.pii_policy, pii.deployment_policy(endpoint.spec.name)])
    guard = PiiGuard(policy, LazyDetector(pii.detector) if policy.detects else None)
    setattr(request.state, PII_GUARD_STATE, guard)
    return guard


def report_fields(guard: PiiGuard) -> dict[str, Any]:
    """What goes beside the answer: ``{"pii": ...}`` under a policy that reports."""
    report = guard.report()
    return {} if report is None else {"pii": report}


async def guarded_texts(guard: PiiGuard, texts: Sequence[str]) -> list[str]:
    """The texts the model gets (redacted under ``redact-input``)."""
    if not guard.active:
        return list(texts)
    return await asyncio.to_thread(guard.input_texts, texts)


async def guarded_requests(
    guard: PiiGuard, requests: Sequence[GenerationRequest]
) -> tuple[GenerationRequest, ...]:
    """Generation requests as the model gets them: every message's content and every prompt
    through the guard, each distinct conversation once (the choices of a request share it)."""
    if not guard.active:
        return tuple(requests)
    return await asyncio.to_thread(_guard_requests, guard, requests)


def _guard_requests(
    guard: PiiGuard, requests: Sequence[GenerationRequest]
) -> tuple[GenerationRequest, ...]:
    seen: dict[tuple[tuple[ChatMessage, ...], str | None], GenerationRequest] = {}
    guarded = []
    for request in requests:
        key = (request.messages, request.prompt)
        if key not in seen:
            messages = tuple(_guard_message(guard, message) for message in request.messages)
            prompt = None if request.prompt is None else guard.input(request.prompt)
            seen[key] = dataclasses.replace(request, messages=messages, prompt=prompt)
        guarded.append(
            dataclasses.replace(request, messages=seen[key].messages, prompt=seen[key].prompt)
        )
    return tuple(guarded)


def _guard_message(guard: PiiGuard, message: ChatMessage) -> ChatMessage:
    """``message`` as the model gets it: its content, and the arguments of the tool calls an
    earlier answer made, through the guard."""
    calls = tuple(
        dataclasses.replace(call, arguments=_guard_arguments(guard, call.arguments))
        for call in message.tool_calls
    )
    return dataclasses.replace(message, content=guard.input(message.content), tool_calls=calls)


def _guard_arguments(guard: PiiGuard, arguments: str) -> str:
    """A tool call's JSON arguments with every string value through the guard, still JSON;
    unchanged text when nothing was redacted (the model sees what it wrote), and the whole
    text through the guard when it is not JSON."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return guard.input_value(arguments)
    guarded = _guard_strings(guard, parsed)
    return arguments if guarded == parsed else json.dumps(guarded, ensure_ascii=False)


def _guard_strings(guard: PiiGuard, value: Any) -> Any:
    if isinstance(value, str):
        return guard.input_value(value)
    if isinstance(value, dict):
        return {key: _guard_strings(guard, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_guard_strings(guard, item) for item in value]
    return value


@dataclass
class GuardedOutput(Started):
    """A started generation whose text goes through the guard as it comes. Under a policy
    that redacts the answer, token log-probabilities are left out: their tokens would spell
    what was redacted. ``events`` stays the generation's own, so closing it stops the model."""

    guard: PiiGuard = field(kw_only=True)
    index: int = field(kw_only=True)

    async def all(self) -> AsyncGenerator[GenerationEvent, None]:
        stream = self.guard.output_stream(self.index)
        redacting = self.guard.policy.redacts_output
        async with contextlib.aclosing(super().all()) as events:
            async for event in events:
                if isinstance(event, GenerationDone):
                    rest = await asyncio.to_thread(stream.finish)
                    if rest:
                        yield TextDelta(rest)
                    yield event
                    continue
                text = await asyncio.to_thread(stream.feed, event.text)
                logprobs = () if redacting else event.logprobs
                if text or logprobs:
                    yield TextDelta(text, logprobs)


def guarded_outputs(guard: PiiGuard, started: Sequence[Started]) -> list[Started]:
    """The generations, their answers through the guard."""
    if not guard.active:
        return list(started)
    return [
        GuardedOutput(s.events, s.first, guard=guard, index=index)
        for index, s in enumerate(started)
    ]


ENCODED_FILE_INPUTS = frozenset({"image", "audio"})
"""``BYTES`` inputs of the vision and speech runtimes: encoded files (or their base64), not
text; read as text and redacted, an image or a sound would be corrupted."""


async def guarded_inputs(guard: PiiGuard, signature: Signature, batch: Batch) -> Batch:
    """``batch`` as the model gets it: every text of its ``BYTES`` inputs through the guard
    (other inputs, numbers and encoded files, carry no text to check)."""
    if not guard.active:
        return batch
    texts = {
        spec.name
        for spec in signature.inputs
        if spec.datatype is Datatype.BYTES and spec.name not in ENCODED_FILE_INPUTS
    }
    return await asyncio.to_thread(_guard_columns, batch, texts, guard.input)


async def guarded_outputs_batch(guard: PiiGuard, outputs: Batch) -> Batch:
    """A model's outputs as the caller gets them: every text among them through the guard,
    reported by row and output name."""
    if not guard.active:
        return outputs
    texts = {name for name, column in outputs.items() if column.dtype == object}

    def check(batch: Batch) -> Batch:
        return {
            name: _map_texts(column, _row_output(guard, name)) if name in texts else column
            for name, column in batch.items()
        }

    return await asyncio.to_thread(check, outputs)


async def guarded_results(guard: PiiGuard, results: list[Any]) -> list[Any]:
    """A task's results (one per input) as the caller gets them: every string in them
    through the guard, reported by result and field."""
    if not guard.active:
        return results
    return await asyncio.to_thread(
        lambda: [_walk(guard, index, result, "") for index, result in enumerate(results)]
    )


def _walk(guard: PiiGuard, index: int, value: Any, path: str) -> Any:
    if isinstance(value, str):
        return guard.output(index, value, field=path or None)
    if isinstance(value, dict):
        return {
            key: _walk(guard, index, item, f"{path}.{key}" if path else key)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_walk(guard, index, item, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


def _row_output(guard: PiiGuard, name: str) -> Callable[[int, str], str]:
    return lambda row, text: guard.output(row, text, field=name)


def _guard_columns(batch: Batch, names: set[str], check: Callable[[str], str]) -> Batch:
    return {
        name: _map_texts(column, lambda _row, text: check(text)) if name in names else column
        for name, column in batch.items()
    }


def _map_texts(column: Array, check: Callable[[int, str], str]) -> Array:
    """``column`` with each text element replaced by ``check(row, text)``; bytes stay bytes."""
    result = np.empty(column.shape, dtype=object)
    for position, value in np.ndenumerate(column):
        row = position[0] if position else 0
        if isinstance(value, bytes):
            result[position] = check(row, value.decode("utf-8", errors="replace")).encode()
        elif isinstance(value, str):
            result[position] = check(row, value)
        else:
            result[position] = value
    return result
