"""Tool calls: the plan tools and tool_choice make, the grammar that forces a call, and the
calls read from answers, whole or split anywhere."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelmart.errors import InvalidRequest
from modelmart.gateway.tool_calls import (
    NamedToolChoice,
    ToolCallParser,
    ToolDefinition,
    plan_tools,
    split_answer,
)
from modelmart.runtimes.generation import ToolCall

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
DECLARED = frozenset({"get_weather", "add"})
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
ANSWERS = [
    "Hello there.",
    CALL,
    f"Let me check.\n{CALL}\n",
    f"{CALL}\n{CALL.replace('Paris', 'Rome')}",
    "<tool_call>not json</tool_call> and more",
    '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>',
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Par',
    "a < b and <tool_ is not a call",
    '<tool_call>\n{"name": "add", "arguments": "{\\"a\\": 1}"}\n</tool_call> done',
    "trailing space \n",
]


def tools(*definitions: dict[str, Any]) -> list[ToolDefinition]:
    return [ToolDefinition.model_validate(d) for d in definitions]


def named(name: str) -> NamedToolChoice:
    return NamedToolChoice.model_validate({"type": "function", "function": {"name": name}})


def summary(pieces: list[str | ToolCall]) -> list[Any]:
    """Pieces without call ids (fresh each time), adjacent texts joined."""
    joined: list[Any] = []
    for piece in pieces:
        if isinstance(piece, str) and joined and isinstance(joined[-1], str):
            joined[-1] += piece
        else:
            joined.append(piece if isinstance(piece, str) else (piece.name, piece.arguments))
    return joined


def test_a_whole_answer_splits_into_content_and_calls() -> None:
    content, calls = split_answer(f"Let me check.\n{CALL}\n", DECLARED)
    assert content == "Let me check."
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert calls[0].id.startswith("call_")


def test_only_calls_means_no_content_and_several_calls_are_read() -> None:
    content, calls = split_answer(f"{CALL}\n{CALL.replace('Paris', 'Rome')}\n", DECLARED)
    assert content is None
    assert [json.loads(c.arguments)["city"] for c in calls] == ["Paris", "Rome"]
    assert len({c.id for c in calls}) == 2


@pytest.mark.parametrize(
    "block",
    [
        '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>',  # undeclared
        "<tool_call>not json</tool_call>",
        '<tool_call>{"name": "add", "arguments": [1, 2]}</tool_call>',
        '<tool_call>{"arguments": {}}</tool_call>',
        '<tool_call>{"name": "get_weather"',  # cut short
    ],
)
def test_a_block_that_is_no_callable_call_stays_text(block: str) -> None:
    assert split_answer(f"Hi {block}", DECLARED) == (f"Hi {block}", [])


def test_arguments_written_as_json_text_are_read() -> None:
    block = '<tool_call>{"name": "add", "arguments": "{\\"a\\": 1}"}</tool_call>'
    _, (call,) = split_answer(block, DECLARED)
    assert json.loads(call.arguments) == {"a": 1}


@pytest.mark.parametrize("answer", ANSWERS)
def test_streamed_pieces_are_the_same_wherever_the_answer_is_split(answer: str) -> None:
    whole = ToolCallParser(DECLARED)
    expected = summary(whole.feed(answer) + whole.finish())
    for cut in range(len(answer) + 1):
        parser = ToolCallParser(DECLARED)
        pieces = parser.feed(answer[:cut]) + parser.feed(answer[cut:]) + parser.finish()
        assert summary(pieces) == expected, cut
    one_by_one = ToolCallParser(DECLARED)
    pieces = [p for char in answer for p in one_by_one.feed(char)] + one_by_one.finish()
    assert summary(pieces) == expected


def test_text_that_may_open_a_call_is_held_back_until_decided() -> None:
    parser = ToolCallParser(DECLARED)
    assert parser.feed("Sure <tool") == ["Sure"]
    assert parser.feed("_ca") == []
    assert parser.feed("t is here") == [" <tool_cat is here"]


def test_no_tools_or_none_shows_nothing_and_reads_no_calls() -> None:
    assert plan_tools(None, None).declared == frozenset()
    plan = plan_tools(tools(WEATHER), "none")
    assert (plan.declared, plan.shown, plan.grammar) == (frozenset(), (), None)


def test_auto_shows_the_tools_and_forces_nothing() -> None:
    plan = plan_tools(tools(WEATHER), "auto")
    assert plan.declared == {"get_weather"}
    assert plan.shown[0]["function"]["name"] == "get_weather"
    assert plan.grammar is None
    assert not plan.forced


def test_required_and_named_choices_force_a_call_by_grammar() -> None:
    add = {"type": "function", "function": {"name": "add"}}  # no parameters: none taken
    required = plan_tools(tools(WEATHER, add), "required")
    assert required.forced
    assert required.grammar is not None
    assert required.grammar.startswith('root ::= "<tool_call>"')
    assert '"\\"get_weather\\""' in required.grammar
    assert '"\\"add\\""' in required.grammar
    only = plan_tools(tools(WEATHER, add), named("add"))
    assert only.declared == {"add"}
    assert only.grammar is not None
    assert "get_weather" not in only.grammar
    assert len(only.shown) == 2  # the model still sees every tool


def test_parameters_with_definitions_keep_their_references_apart() -> None:
    place = {"$defs": {"place": {"type": "string"}}, "type": "object"}
    first = {
        "type": "function",
        "function": {
            "name": "a",
            "parameters": {**place, "properties": {"p": {"$ref": "#/$defs/place"}}},
        },
    }
    second = {
        "type": "function",
        "function": {
            "name": "b",
            "parameters": {
                "$defs": {"place": {"type": "integer"}},
                "type": "object",
                "properties": {"p": {"$ref": "#/$defs/place"}},
            },
        },
    }
    grammar = plan_tools(tools(first, second), "required").grammar
    assert grammar is not None
    # Each function's "place" is its own: a string for a, an integer for b.
    assert "call-0-arguments-p ::= string" in grammar
    assert "call-1-arguments-p ::= integer" in grammar


@pytest.mark.parametrize(
    ("definitions", "choice", "param", "fragment"),
    [
        ([], "required", "tool_choice", "needs tools"),
        ([WEATHER], named("nope"), "tool_choice", "does not declare"),
        ([WEATHER, WEATHER], "auto", "tools[1].function.name", "second time"),
        (
            [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}],
            "auto",
            "tools[0].function.parameters",
            "object schema",
        ),
        (
            [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "parameters": {
                            "type": "object",
                            "properties": {"n": {"type": "integer", "minimum": 1}},
                        },
                    },
                }
            ],
            "auto",
            "tools[0].function.parameters",
            "'minimum'",
        ),
    ],
)
def test_bad_tools_are_400_naming_the_field(
    definitions: list[dict[str, Any]], choice: Any, param: str, fragment: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        plan_tools(tools(*definitions), choice)
    assert caught.value.details["param"] == param
    assert fragment in caught.value.message
