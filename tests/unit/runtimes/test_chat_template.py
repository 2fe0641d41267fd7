"""Tools, tool calls and tool results as a chat template sees them."""

from __future__ import annotations

import json

from modelmart.runtimes.generation import (
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    ChatMessage,
    GenerationRequest,
    ToolCall,
)
from modelmart.runtimes.llama_engine.chat_template import (
    TOOL_RESULT_CLOSE,
    TOOL_RESULT_OPEN,
    template_inputs,
    template_knows_tools,
)

WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
CALL = ToolCall(id="call_1", name="weather", arguments='{"city": "Paris"}')
TURNS = (
    ChatMessage("user", "Weather in Paris?"),
    ChatMessage("assistant", "", tool_calls=(CALL,)),
    ChatMessage("tool", "sunny", tool_call_id="call_1"),
)


def test_a_template_with_tools_gets_them_in_the_hugging_face_convention() -> None:
    messages, tools = template_inputs(GenerationRequest(TURNS, tools=(WEATHER,)), knows_tools=True)
    assert tools == [WEATHER]
    assert messages[1]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "weather", "arguments": {"city": "Paris"}},
        }
    ]
    assert messages[2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}


def test_a_template_without_tools_gets_a_system_message_and_text_calls() -> None:
    request = GenerationRequest(TURNS, tools=(WEATHER,))
    messages, tools = template_inputs(request, knows_tools=False)
    assert tools is None
    assert messages[0]["role"] == "system"
    assert json.dumps(WEATHER) in messages[0]["content"]
    assert TOOL_CALL_OPEN in messages[0]["content"]
    written = json.dumps({"name": "weather", "arguments": {"city": "Paris"}})
    assert messages[2]["content"] == f"{TOOL_CALL_OPEN}{written}{TOOL_CALL_CLOSE}"
    assert messages[3] == {"role": "user", "content": f"{TOOL_RESULT_OPEN}sunny{TOOL_RESULT_CLOSE}"}


def test_an_existing_system_message_takes_the_tool_instructions() -> None:
    request = GenerationRequest((ChatMessage("system", "Be brief."), *TURNS[:1]), tools=(WEATHER,))
    messages, _ = template_inputs(request, knows_tools=False)
    assert len(messages) == 2
    assert messages[0]["content"].startswith("Be brief.\n\n")


def test_without_tools_messages_pass_as_they_are() -> None:
    messages, tools = template_inputs(GenerationRequest(TURNS[:1]), knows_tools=False)
    assert (messages, tools) == ([{"role": "user", "content": "Weather in Paris?"}], None)
    assert template_knows_tools("{% if tools %}...{% endif %}")
    assert not template_knows_tools("{% for message in messages %}{% endfor %}")
