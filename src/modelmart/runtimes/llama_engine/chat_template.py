"""A request as the model's chat template sees it, tools included.

A template that mentions ``tools`` gets them in the Hugging Face convention: ``tools=[...]``,
assistant turns with ``tool_calls`` of ``{"type": "function", "function": {"name",
"arguments"}}``, tool turns ``{"role": "tool", "tool_call_id", "content"}``. A template that
does not (SmolLM2's) gets a system message that lists the tools as JSON and asks for calls
written ``TOOL_CALL_OPEN {"name": ..., "arguments": {...}} TOOL_CALL_CLOSE``; earlier calls
and their results are written as text in the same convention.
"""

from __future__ import annotations

import json
from typing import Any

from modelmart.runtimes.generation import (
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    ChatMessage,
    GenerationRequest,
    ToolCall,
)

TOOL_RESULT_OPEN = "<tool_response>"
TOOL_RESULT_CLOSE = "</tool_response>"


def template_knows_tools(template: str) -> bool:
    return "tools" in template


def template_inputs(
    request: GenerationRequest, knows_tools: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """(messages, tools) to render with the chat template."""
    if knows_tools:
        return [_native(message) for message in request.messages], list(request.tools) or None
    messages = [_as_text(message) for message in request.messages]
    if request.tools:
        messages = _with_tool_instructions(messages, request.tools)
    return messages, None


def _native(message: ChatMessage) -> dict[str, Any]:
    rendered: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        rendered["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": _arguments(call)},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        rendered["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        rendered["name"] = message.name
    return rendered


def _arguments(call: ToolCall) -> Any:
    """The arguments as an object when they are JSON (templates iterate over them)."""
    try:
        return json.loads(call.arguments)
    except ValueError:
        return call.arguments


def _as_text(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        # Templates without tools often know no "tool" role: the result is a user turn.
        return {
            "role": "user",
            "content": f"{TOOL_RESULT_OPEN}{message.content}{TOOL_RESULT_CLOSE}",
        }
    content = message.content
    for call in message.tool_calls:
        written = json.dumps({"name": call.name, "arguments": _arguments(call)})
        content += f"{TOOL_CALL_OPEN}{written}{TOOL_CALL_CLOSE}"
    return {"role": message.role, "content": content}


def tool_instructions(tools: tuple[dict[str, Any], ...]) -> str:
    listed = "\n".join(json.dumps(tool) for tool in tools)
    return (
        "You may call these tools (JSON definitions, one a line):\n"
        f"{listed}\n"
        f"To call one, answer only {TOOL_CALL_OPEN}"
        '{"name": <tool name>, "arguments": <JSON object>}'
        f"{TOOL_CALL_CLOSE}. A tool's result comes back as "
        f"{TOOL_RESULT_OPEN}...{TOOL_RESULT_CLOSE}."
    )


def _with_tool_instructions(
    messages: list[dict[str, Any]], tools: tuple[dict[str, Any], ...]
) -> list[dict[str, Any]]:
    instructions = tool_instructions(tools)
    if messages and messages[0]["role"] == "system":
        first = {**messages[0], "content": f"{messages[0]['content']}\n\n{instructions}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": instructions}, *messages]
