"""Function calling: OpenAI's ``tools`` and ``tool_choice``, and the tool calls in an answer.

The model sees the tools through its chat template (or, when the template has none, a system
message asking for the Hermes convention). Whatever the template, a call is written as
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``; an answer may hold several.

- ``tool_choice`` ``auto`` (the default with tools): the model answers freely, and every
  well-formed block naming a declared function becomes a ``tool_calls`` entry. A block
  naming an undeclared function, or that is not JSON, stays in the text as the model wrote
  it: it is not a call the client can make.
- ``required`` or ``{"type": "function", "function": {"name": ...}}``: a grammar makes the
  answer exactly one call, to one of the functions / to the named one, with arguments that
  fit that function's ``parameters`` schema.
- ``none``: the tools are not shown to the model and its answer is text.

:class:`ToolCallParser` reads an answer piece by piece as it streams: text that could be the
start of a call is held back until it is decided, and so is trailing whitespace, which is
dropped around calls.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelmart.errors import InvalidRequest
from modelmart.gateway.response_formats import check_schema, schema_grammar
from modelmart.runtimes.generation import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, ToolCall

MAX_TOOLS = 128
NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


class FunctionDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["auto", "none", "required"] | NamedToolChoice


@dataclass(frozen=True)
class ToolPlan:
    """What the tools of one request ask of the model and of its answer.

    ``declared``: the functions the answer may call, by name, empty when none can be called;
    ``grammar``: the grammar that forces a call (``required`` or a named function);
    ``shown``: the tool definitions the model's template is given.
    """

    declared: frozenset[str] = frozenset()
    grammar: str | None = None
    shown: tuple[dict[str, Any], ...] = ()

    @property
    def forced(self) -> bool:
        return self.grammar is not None


def plan_tools(tools: Sequence[ToolDefinition] | None, choice: ToolChoice | None) -> ToolPlan:
    """The plan for ``tools`` and ``tool_choice``; 400 naming the field at fault."""
    if not tools:
        if choice not in (None, "none"):
            raise InvalidRequest(
                "tool_choice needs tools: declare the functions in 'tools'",
                details={"param": "tool_choice"},
            )
        return ToolPlan()
    if len(tools) > MAX_TOOLS:
        raise InvalidRequest(
            f"'tools' has {len(tools)} entries; at most {MAX_TOOLS}", details={"param": "tools"}
        )
    functions = _functions(tools)
    if choice == "none":
        return ToolPlan()
    shown = tuple(tool.model_dump(exclude_none=True) for tool in tools)
    declared = frozenset(functions)
    if choice in (None, "auto"):
        return ToolPlan(declared=declared, shown=shown)
    if isinstance(choice, NamedToolChoice):
        name = choice.function.name
        if name not in functions:
            raise InvalidRequest(
                f"tool_choice names {name!r}, which 'tools' does not declare; declared: "
                + ", ".join(sorted(functions)),
                details={"param": "tool_choice"},
            )
        functions = {name: functions[name]}
    return ToolPlan(declared=frozenset(functions), grammar=call_grammar(functions), shown=shown)


def _functions(tools: Sequence[ToolDefinition]) -> dict[str, dict[str, Any]]:
    """Each function's parameters schema, by name, checked."""
    functions: dict[str, dict[str, Any]] = {}
    for index, tool in enumerate(tools):
        function = tool.function
        if function.name in functions:
            raise InvalidRequest(
                f"tools[{index}] declares {function.name!r} a second time; names are unique",
                details={"param": f"tools[{index}].function.name"},
            )
        parameters = function.parameters or NO_PARAMETERS
        check_schema(parameters, f"tools[{index}].function.parameters")
        if parameters.get("type", "object") != "object":
            raise InvalidRequest(
                f"tools[{index}].function.parameters must be an object schema: a function's "
                "arguments are named",
                details={"param": f"tools[{index}].function.parameters"},
            )
        functions[function.name] = parameters
    return functions


def call_grammar(functions: Mapping[str, Mapping[str, Any]]) -> str:
    """A grammar for one ``<tool_call>`` block calling one of ``functions`` with arguments
    that fit its parameters schema."""
    definitions: dict[str, Any] = {}
    options = []
    for index, (name, parameters) in enumerate(sorted(functions.items())):
        arguments = _hoist_definitions(parameters, f"tool{index}-", definitions)
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": arguments},
                "required": ["name", "arguments"],
            }
        )
    schema: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
    if definitions:
        schema = {**schema, "$defs": definitions}
    body = schema_grammar(schema, root="call", param="tools")
    opening = json.dumps(TOOL_CALL_OPEN)
    closing = json.dumps(TOOL_CALL_CLOSE)
    return f'root ::= {opening} "\\n"? call "\\n"? {closing}\n{body}'


def _hoist_definitions(schema: Any, prefix: str, definitions: dict[str, Any]) -> Any:
    """``schema`` with its ``$defs`` moved into ``definitions`` under ``prefix``ed names (the
    combined schema's root), and its references renamed to match."""
    if isinstance(schema, list):
        return [_hoist_definitions(item, prefix, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    moved: dict[str, Any] = {}
    for key, value in schema.items():
        if key in {"$defs", "definitions"}:
            for name, child in value.items():
                definitions[prefix + name] = _hoist_definitions(child, prefix, definitions)
        elif key == "$ref" and isinstance(value, str):
            moved[key] = "#/$defs/" + prefix + value.rsplit("/", 1)[-1]
        elif key in {"enum", "const", "default", "examples"}:
            moved[key] = value  # values, not schemas
        else:
            moved[key] = _hoist_definitions(value, prefix, definitions)
    return moved


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def read_call(block: str, declared: frozenset[str]) -> ToolCall | None:
    """The call a ``<tool_call>`` block's body holds, or None when it is not one the client
    can make (not JSON, no name, an undeclared function, arguments that are no object)."""
    try:
        value = json.loads(block)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or value.get("name") not in declared:
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):  # some models write the arguments as JSON text
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    if not isinstance(arguments, dict):
        return None
    text = json.dumps(arguments, ensure_ascii=False)
    return ToolCall(id=new_call_id(), name=str(value["name"]), arguments=text)


Piece = str | ToolCall
"""Answer text the client may see now, or a call."""


@dataclass
class ToolCallParser:
    """Splits an answer into text and calls as it arrives (:meth:`feed`, then
    :meth:`finish`); the same pieces whatever the answer's split into deltas."""

    declared: frozenset[str]
    calls: int = 0
    _pending: str = field(default="", init=False)
    _blank: str = field(default="", init=False)
    _in_call: bool = field(default=False, init=False)

    def feed(self, text: str) -> list[Piece]:
        self._pending += text
        pieces: list[Piece] = []
        while True:
            if self._in_call:
                end = self._pending.find(TOOL_CALL_CLOSE)
                if end < 0:
                    return pieces
                block = self._pending[: end + len(TOOL_CALL_CLOSE)]
                self._pending = self._pending[len(block) :]
                self._in_call = False
                pieces.extend(self._block(block))
                continue
            start = self._pending.find(TOOL_CALL_OPEN)
            if start < 0:
                held = _partial_opening(self._pending)
                pieces.extend(self._text(self._pending[: len(self._pending) - held]))
                self._pending = self._pending[len(self._pending) - held :]
                return pieces
            pieces.extend(self._text(self._pending[:start]))
            self._pending = self._pending[start:]
            self._in_call = True

    def finish(self) -> list[Piece]:
        """What is still held back, once the answer is complete (or was cut short)."""
        pieces = self._text(self._pending)
        self._pending, self._in_call = "", False
        if self.calls == 0 and self._blank:
            pieces.append(self._blank)
        self._blank = ""
        return pieces

    def _block(self, block: str) -> list[Piece]:
        call = read_call(block[len(TOOL_CALL_OPEN) : -len(TOOL_CALL_CLOSE)], self.declared)
        if call is None:
            return self._text(block)
        self.calls += 1
        self._blank = ""  # whitespace between text and a call, or between calls
        return [call]

    def _text(self, text: str) -> list[Piece]:
        text = self._blank + text
        kept = text.rstrip()
        self._blank = text[len(kept) :]
        return [kept] if kept else []


def _partial_opening(text: str) -> int:
    """Length of the longest end of ``text`` that begins ``<tool_call>``."""
    for size in range(min(len(TOOL_CALL_OPEN) - 1, len(text)), 0, -1):
        if text.endswith(TOOL_CALL_OPEN[:size]):
            return size
    return 0


def split_answer(text: str, declared: frozenset[str]) -> tuple[str | None, list[ToolCall]]:
    """A whole answer's content (None when it holds only calls) and calls."""
    parser = ToolCallParser(declared)
    pieces = parser.feed(text) + parser.finish()
    calls = [piece for piece in pieces if isinstance(piece, ToolCall)]
    content = "".join(piece for piece in pieces if isinstance(piece, str))
    return (content or None) if calls else content, calls


def call_object(call: ToolCall) -> dict[str, Any]:
    """A call as OpenAI's ``message.tool_calls`` entry."""
    function = {"name": call.name, "arguments": call.arguments}
    return {"id": call.id, "type": "function", "function": function}
