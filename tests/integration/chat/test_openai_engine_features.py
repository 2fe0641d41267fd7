"""The OpenAI features whose work happens in the llama.cpp engine — grammars (structured
outputs, forced tool calls), tool definitions in the prompt, log-probabilities, raw prompts
and the prefix cache — through the official SDK against a real server and the catalogue's
SmolLM2. An answer that broke its grammar would come back as ``bad_model_output``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai

from tests.integration.chat.conftest import CHAT

PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
PERSON: Any = {
    "type": "json_schema",
    "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True},
}
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 30}},
            "required": ["city"],
        },
    },
}
TIME: Any = {
    "type": "function",
    "function": {"name": "get_time", "description": "The time now", "parameters": None},
}
ASK_WEATHER: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
FORCE_WEATHER: Any = {"type": "function", "function": {"name": "get_weather"}}


def is_person(text: str) -> bool:
    """The schema checked by hand: exactly a string name of at most 20 characters and an
    integer age."""
    value = json.loads(text)
    return (
        isinstance(value, dict)
        and set(value) == {"name", "age"}
        and isinstance(value["name"], str)
        and len(value["name"]) <= 20
        and isinstance(value["age"], int)
        and not isinstance(value["age"], bool)
    )


async def test_json_schema_answers_validate_in_100_of_100_tries(
    async_sdk: openai.AsyncOpenAI,
) -> None:
    messages: Any = [{"role": "user", "content": "Invent a person."}]
    open_at_once = asyncio.Semaphore(16)  # the instance's sequences; more would only queue

    async def one(seed: int) -> tuple[str | None, str | None]:
        async with open_at_once:
            return await ask(seed)

    async def ask(seed: int) -> tuple[str | None, str | None]:
        answer = await async_sdk.chat.completions.create(
            model=CHAT,
            messages=messages,
            response_format=PERSON,
            max_tokens=80,  # more than the schema's longest answer takes
            temperature=1.0,
            seed=seed,
        )
        choice = answer.choices[0]
        return choice.finish_reason, choice.message.content

    answers = await asyncio.gather(*(one(seed) for seed in range(100)))
    assert all(finish == "stop" for finish, _ in answers), answers
    assert sum(is_person(text or "") for _, text in answers) == 100


def test_json_object_answers_are_objects(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(
        model=CHAT,
        messages=[{"role": "user", "content": "Describe Paris in JSON."}],
        response_format={"type": "json_object"},
        max_tokens=60,
        temperature=0,
    )
    content = answer.choices[0].message.content or ""
    assert content.startswith("{")  # the grammar allows nothing else first
    if answer.choices[0].finish_reason == "stop":  # else cut short by max_tokens
        assert isinstance(json.loads(content), dict)


def _assistant_turn(calls: list[tuple[str, str, str]]) -> Any:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}
            for id_, name, arguments in calls
        ],
    }


def _final_answer(sdk: openai.OpenAI, calls: list[tuple[str, str, str]]) -> str:
    """Sends the call's result back; the model's answer to it."""
    messages: Any = [
        *ASK_WEATHER,
        _assistant_turn(calls),
        {"role": "tool", "tool_call_id": calls[0][0], "content": "Sunny, 21 degrees Celsius."},
    ]
    final = sdk.chat.completions.create(
        model=CHAT, messages=messages, tools=[WEATHER], tool_choice="none", max_tokens=40
    )
    assert final.choices[0].message.tool_calls is None
    assert final.choices[0].finish_reason in {"stop", "length"}
    return final.choices[0].message.content or ""


def test_a_tool_call_round_trip(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(
        model=CHAT,
        messages=ASK_WEATHER,
        tools=[WEATHER, TIME],
        tool_choice=FORCE_WEATHER,
        max_tokens=60,
        temperature=0,
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    assert set(arguments) == {"city"}
    assert isinstance(arguments["city"], str)
    final = _final_answer(sdk, [(call.id, call.function.name, call.function.arguments)])
    assert final.strip()


def test_a_streamed_tool_call_round_trip(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model=CHAT,
        messages=ASK_WEATHER,
        tools=[WEATHER, TIME],
        tool_choice=FORCE_WEATHER,
        max_tokens=60,
        temperature=0,
        stream=True,
    )
    calls: dict[int, list[str]] = {}
    finish = None
    content = ""
    for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
        for part in delta.tool_calls or []:
            call = calls.setdefault(part.index, ["", "", ""])
            call[0] += part.id or ""
            call[1] += part.function.name or "" if part.function else ""
            call[2] += part.function.arguments or "" if part.function else ""
    assert finish == "tool_calls"
    assert content == ""
    assert list(calls) == [0]
    call_id, name, arguments = calls[0]
    assert name == "get_weather"
    assert isinstance(json.loads(arguments)["city"], str)
    assert _final_answer(sdk, [(call_id, name, arguments)]).strip()


def test_required_calls_one_of_the_declared_functions(sdk: openai.OpenAI) -> None:
    answer = sdk.chat.completions.create(
        model=CHAT,
        messages=[{"role": "user", "content": "What time is it?"}],
        tools=[WEATHER, TIME],
        tool_choice="required",
        max_tokens=60,
        seed=1,
    )
    (call,) = answer.choices[0].message.tool_calls or []
    assert call.function.name in {"get_weather", "get_time"}
    assert isinstance(json.loads(call.function.arguments), dict)


def test_logprobs_match_the_answer_whole_and_streamed(sdk: openai.OpenAI) -> None:
    fields: Any = {
        "model": CHAT,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8,
        "temperature": 0,
        "logprobs": True,
        "top_logprobs": 3,
    }
    whole = sdk.chat.completions.create(**fields)
    logprobs = whole.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is not None
    assert whole.usage is not None
    assert len(logprobs.content) == whole.usage.completion_tokens
    assert "".join(t.token for t in logprobs.content) == whole.choices[0].message.content
    for token in logprobs.content:
        assert token.logprob <= 0
        assert len(token.top_logprobs) == 3
        # Greedy: the sampled token is the most likely one.
        assert token.logprob >= max(top.logprob for top in token.top_logprobs) - 1e-4
    chunks = list(sdk.chat.completions.create(**fields, stream=True))
    streamed = [
        token
        for chunk in chunks
        for choice in chunk.choices
        if choice.logprobs and choice.logprobs.content
        for token in choice.logprobs.content
    ]
    text = "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)
    # Each token's log-probability travels with the chunk that carries its text. (The two
    # answers are not compared: after this module's earlier requests filled and evicted the
    # KV cache, the same greedy request can round differently; see the README's notes on
    # determinism.)
    assert "".join(t.token for t in streamed) == text
    assert len(streamed) == 8 or chunks[-1].choices[0].finish_reason == "stop"


def test_text_completion_continues_the_raw_prompt(sdk: openai.OpenAI) -> None:
    prompt = "1, 2, 3, 4,"
    answer = sdk.completions.create(
        model=CHAT, prompt=prompt, max_tokens=6, temperature=0, logprobs=2
    )
    choice = answer.choices[0]
    assert choice.text.strip().startswith("5")  # a continuation, not a chat reply
    logprobs = choice.logprobs
    assert logprobs is not None
    assert logprobs.tokens is not None
    assert logprobs.text_offset is not None
    assert "".join(logprobs.tokens) == choice.text
    assert logprobs.text_offset[0] == len(prompt)
    assert all(len(top) == 2 for top in logprobs.top_logprobs or [])
    echoed = sdk.completions.create(
        model=CHAT, prompt=prompt, max_tokens=6, temperature=0, echo=True
    )
    assert echoed.choices[0].text == prompt + choice.text


def test_a_repeated_prompt_reports_cached_tokens(sdk: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "Tell me about the sea. " * 20}]
    for _ in range(2):
        answer = sdk.chat.completions.create(
            model=CHAT, messages=messages, max_tokens=2, temperature=0
        )
    assert answer.usage is not None
    details = answer.usage.prompt_tokens_details
    assert details is not None
    assert details.cached_tokens is not None
    assert details.cached_tokens > answer.usage.prompt_tokens // 2
