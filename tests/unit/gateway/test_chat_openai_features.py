"""Chat completions' OpenAI features through the official SDK against a scripted model:
choices, logprobs, structured outputs, tool calls (whole and streamed) and tool turns."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from modelmart.runtimes.generation import GenerationRequest
from tests.unit.gateway.generation_fakes import (
    FAIL,
    ScriptedChat,
    pieces_of,
    sdk_for,
    split_every,
)

QUESTION: list[Any] = [{"role": "user", "content": "Hi"}]
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def as_schema(schema: dict[str, Any]) -> Any:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


async def _create(sdk: openai.AsyncOpenAI, stream: bool, **fields: Any) -> None:
    """One request, streamed to its end when ``stream``."""
    answer = await sdk.chat.completions.create(
        model="chat", messages=QUESTION, stream=stream, **fields
    )
    if stream:
        async for _ in answer:  # type: ignore[union-attr]
            pass


def by_seed(request: GenerationRequest) -> list[str]:
    return [f"seed {request.seed}", "!"]


async def test_n_choices_run_concurrently_with_their_own_seeds_and_summed_usage() -> None:
    model = ScriptedChat(by_seed, cached=2, delay=0.01)
    async with sdk_for(model) as sdk:
        answer = await sdk.chat.completions.create(model="chat", messages=QUESTION, n=3, seed=5)
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert [c.message.content for c in answer.choices] == ["seed 5!", "seed 6!", "seed 7!"]
    assert model.most_running == 3
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (21, 6)
    assert answer.usage.prompt_tokens_details is not None
    assert answer.usage.prompt_tokens_details.cached_tokens == 6


@pytest.mark.parametrize("stream", [False, True])
async def test_more_choices_than_instances_take_turns(stream: bool) -> None:
    model = ScriptedChat(by_seed, instances=1)
    async with sdk_for(model) as sdk:
        await asyncio.wait_for(_create(sdk, stream, n=3, seed=1), timeout=10)
    assert model.most_running == 1
    assert sorted(r.seed for r in model.requests) == [1, 2, 3]


@pytest.mark.parametrize("stream", [False, True])
async def test_one_failing_choice_fails_the_answer_and_stops_the_others(stream: bool) -> None:
    def second_fails(request: GenerationRequest) -> list[str]:
        return [FAIL] if request.seed == 2 else ["word "] * 200

    model = ScriptedChat(second_fails, delay=0.001)
    async with sdk_for(model) as sdk:
        with pytest.raises(openai.APIError) as caught:
            await _create(sdk, stream, n=2, seed=1)
    assert "the worker died" in caught.value.message
    assert model.yielded < 200  # the first choice was stopped, not read to its end
    assert model.closed == 2


async def test_n_choices_without_a_seed_are_all_unseeded() -> None:
    model = ScriptedChat(by_seed)
    async with sdk_for(model) as sdk:
        await sdk.chat.completions.create(model="chat", messages=QUESTION, n=2)
    assert [r.seed for r in model.requests] == [None, None]


async def test_n_choices_stream_interleaved_each_with_its_finish() -> None:
    model = ScriptedChat(by_seed, delay=0.01)
    async with sdk_for(model) as sdk:
        stream = await sdk.chat.completions.create(
            model="chat",
            messages=QUESTION,
            n=2,
            seed=1,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    texts = {0: "", 1: ""}
    finishes = {}
    for chunk in chunks[:-1]:
        (choice,) = chunk.choices
        texts[choice.index] += choice.delta.content or ""
        if choice.finish_reason:
            finishes[choice.index] = choice.finish_reason
    assert texts == {0: "seed 1!", 1: "seed 2!"}
    assert finishes == {0: "stop", 1: "stop"}
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4


async def test_logprobs_in_openai_shape_whole_and_streamed() -> None:
    model = ScriptedChat(pieces_of("Hel", "lo"))
    async with sdk_for(model) as sdk:
        whole = await sdk.chat.completions.create(
            model="chat", messages=QUESTION, logprobs=True, top_logprobs=2
        )
        stream = await sdk.chat.completions.create(
            model="chat", messages=QUESTION, logprobs=True, top_logprobs=2, stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert (model.requests[0].logprobs, model.requests[0].top_logprobs) == (True, 2)
    logprobs = whole.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is not None
    first, second = logprobs.content
    assert (first.token, first.logprob, first.bytes) == ("Hel", 0, list(b"Hel"))
    assert (second.token, second.logprob) == ("lo", -1)
    assert [(t.token, t.logprob, t.bytes) for t in second.top_logprobs] == [
        ("lo~0", -1, list(b"lo~0")),
        ("lo~1", -2, list(b"lo~1")),
    ]
    streamed = [
        token
        for chunk in chunks
        for choice in chunk.choices
        if choice.logprobs and choice.logprobs.content
        for token in choice.logprobs.content
    ]
    assert streamed == logprobs.content


async def test_without_logprobs_none_are_asked_or_sent() -> None:
    model = ScriptedChat(pieces_of("Hi"))
    async with sdk_for(model) as sdk:
        answer = await sdk.chat.completions.create(model="chat", messages=QUESTION)
    assert answer.choices[0].logprobs is None
    assert model.requests[0].logprobs is False


async def test_llama_cpp_sampling_extras_reach_the_model() -> None:
    model = ScriptedChat(pieces_of("Hi"))
    async with sdk_for(model) as sdk:
        await sdk.chat.completions.create(
            model="chat",
            messages=QUESTION,
            extra_body={"top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1},
        )
    sent = model.requests[0]
    assert (sent.top_k, sent.min_p, sent.repetition_penalty) == (40, 0.05, 1.1)


async def test_json_schema_becomes_a_grammar_and_the_answer_is_checked() -> None:
    model = ScriptedChat(pieces_of('{"name": ', '"Ann", "age": 3}'))
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": PERSON, "strict": True},
    }
    async with sdk_for(model) as sdk:
        answer = await sdk.chat.completions.create(
            model="chat", messages=QUESTION, response_format=response_format
        )
    assert json.loads(answer.choices[0].message.content or "") == {"name": "Ann", "age": 3}
    grammar = model.requests[0].grammar
    assert grammar is not None
    assert 'name-kv ::= "\\"name\\"" space ":" space string' in grammar


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_that_breaks_the_schema_is_an_error(stream: bool) -> None:
    model = ScriptedChat(pieces_of('{"name": "Ann"}'))
    async with sdk_for(model) as sdk:
        with pytest.raises(openai.APIError) as caught:
            await _create(sdk, stream, response_format=as_schema(PERSON))
    assert "does not follow the requested response_format" in caught.value.message


async def test_json_cut_by_max_tokens_finishes_with_length_unchecked() -> None:
    model = ScriptedChat(pieces_of('{"name": "A'), finish="length")
    async with sdk_for(model) as sdk:
        answer = await sdk.chat.completions.create(
            model="chat", messages=QUESTION, response_format={"type": "json_object"}, max_tokens=3
        )
    assert answer.choices[0].finish_reason == "length"
    assert answer.choices[0].message.content == '{"name": "A'


async def test_an_unsupported_schema_is_a_400_naming_the_keyword() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}
    async with sdk_for(ScriptedChat(pieces_of("{}"))) as sdk:
        with pytest.raises(openai.BadRequestError) as caught:
            await _create(sdk, False, response_format=as_schema(schema))
    assert "'maximum'" in caught.value.message
    assert caught.value.param == "response_format.json_schema.schema"


async def test_auto_tool_calls_are_read_from_a_whole_answer() -> None:
    model = ScriptedChat(pieces_of(*split_every(f"{CALL}\n{CALL.replace('Paris', 'Rome')}", 7)))
    async with sdk_for(model) as sdk:
        answer = await sdk.chat.completions.create(model="chat", messages=QUESTION, tools=[WEATHER])
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [(c.type, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("function", "get_weather", {"city": "Paris"}),
        ("function", "get_weather", {"city": "Rome"}),
    ]
    assert all(c.id.startswith("call_") for c in calls)
    sent = model.requests[0]
    assert sent.tools[0]["function"]["name"] == "get_weather"
    assert sent.grammar is None


@pytest.mark.parametrize("size", [1, 3, 200])
async def test_streamed_tool_calls_arrive_as_openai_deltas(size: int) -> None:
    answer = f"Checking.\n{CALL}\n{CALL.replace('Paris', 'Rome')}"
    model = ScriptedChat(pieces_of(*split_every(answer, size)))
    async with sdk_for(model) as sdk:
        stream = await sdk.chat.completions.create(
            model="chat", messages=QUESTION, tools=[WEATHER], stream=True
        )
        chunks = [chunk async for chunk in stream]
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert content == "Checking."
    assert "<tool" not in content
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            assert delta.function is not None
            call["name"] += delta.function.name or ""
            call["arguments"] += delta.function.arguments or ""
    assert sorted(calls) == [0, 1]
    assert [json.loads(calls[i]["arguments"])["city"] for i in (0, 1)] == ["Paris", "Rome"]
    assert all(c["name"] == "get_weather" and c["id"].startswith("call_") for c in calls.values())
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_a_call_to_an_undeclared_function_is_text() -> None:
    block = '<tool_call>{"name": "delete_all", "arguments": {}}</tool_call>'
    async with sdk_for(ScriptedChat(pieces_of(block))) as sdk:
        answer = await sdk.chat.completions.create(model="chat", messages=QUESTION, tools=[WEATHER])
    assert answer.choices[0].message.content == block
    assert answer.choices[0].message.tool_calls is None
    assert answer.choices[0].finish_reason == "stop"


async def test_a_named_tool_choice_forces_the_call_by_grammar() -> None:
    model = ScriptedChat(pieces_of(CALL))
    choice: Any = {"type": "function", "function": {"name": "get_weather"}}
    async with sdk_for(model) as sdk:
        answer = await sdk.chat.completions.create(
            model="chat", messages=QUESTION, tools=[WEATHER], tool_choice=choice
        )
    grammar = model.requests[0].grammar
    assert grammar is not None
    assert grammar.startswith('root ::= "<tool_call>"')
    assert answer.choices[0].finish_reason == "tool_calls"


async def test_a_required_call_the_model_did_not_make_is_an_error() -> None:
    async with sdk_for(ScriptedChat(pieces_of("No."))) as sdk:
        with pytest.raises(openai.InternalServerError) as caught:
            await sdk.chat.completions.create(
                model="chat", messages=QUESTION, tools=[WEATHER], tool_choice="required"
            )
    assert "no tool call" in caught.value.message


async def test_tool_choice_none_hides_the_tools_and_reads_no_calls() -> None:
    model = ScriptedChat(pieces_of(CALL))
    async with sdk_for(model) as sdk:
        answer = await sdk.chat.completions.create(
            model="chat", messages=QUESTION, tools=[WEATHER], tool_choice="none"
        )
    assert model.requests[0].tools == ()
    assert answer.choices[0].message.content == CALL


async def test_tool_turns_reach_the_model() -> None:
    model = ScriptedChat(pieces_of("It is sunny."))
    messages: Any = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
    ]
    async with sdk_for(model) as sdk:
        await sdk.chat.completions.create(model="chat", messages=messages, tools=[WEATHER])
    _, assistant, tool = model.requests[0].messages
    assert assistant.role == "assistant"
    assert assistant.content == ""
    assert [(c.id, c.name, c.arguments) for c in assistant.tool_calls] == [
        ("call_1", "get_weather", '{"city": "Paris"}')
    ]
    assert (tool.role, tool.content, tool.tool_call_id) == ("tool", "sunny, 21 C", "call_1")
