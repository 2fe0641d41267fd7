"""Structured outputs: OpenAI's ``response_format`` as a GBNF grammar the model must follow.

``{"type": "json_object"}`` and ``{"type": "json_schema", "json_schema": {"name", "schema",
"strict"}}`` become a grammar (llama.cpp's JSON-schema converter, shipped with
llama-cpp-python) that the runtime's sampler applies token by token, so the answer always
parses and fits the schema. The converter enforces only part of JSON Schema and silently
drops the rest (``minimum``, ``pattern`` ...): a schema is checked first, and a keyword the
grammar could not enforce is a 400 that names it, rather than an answer that may not
validate. After the answer, :func:`check_answer` validates it (``jsonschema`` when it is
installed, else :func:`conforms`); an answer cut by ``max_tokens`` is not checked: its
``finish_reason`` is ``length``, as OpenAI's is.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field

from modelmart.errors import BadModelOutput, InvalidRequest

ANY_OBJECT: dict[str, Any] = {"type": "object"}

ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$schema",
        "$id",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",  # the grammar enforces date, time, date-time and uuid; others annotate
    }
)
"""Keywords that do not constrain a value (for a validator without format checks)."""

ENFORCED = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "enum",
        "const",
        "anyOf",
        "$ref",
        "$defs",
        "definitions",
        "minLength",
        "maxLength",
    }
)
"""Keywords the grammar enforces exactly; any other keyword is refused."""

TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})

STRICT_CHAR_RULE = (
    r'char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] '
    r"[0-9a-fA-F] [0-9a-fA-F])"
)
"""A string character as JSON allows it: the converter's own rule lets raw control
characters (a newline) into strings, which strict JSON parsers reject."""

_CHAR_RULE = re.compile(r"^char ::= .*$", re.MULTILINE)


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    """OpenAI's ``response_format``: ``text`` (the default), ``json_object`` or
    ``json_schema``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


def answer_schema(response_format: ResponseFormat | None) -> dict[str, Any] | None:
    """The JSON schema the answer must fit, or None for free text; 400 naming the keyword
    the grammar cannot enforce."""
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return ANY_OBJECT
    if response_format.json_schema is None:
        raise InvalidRequest(
            "response_format of type 'json_schema' needs 'json_schema': "
            '{"name": ..., "schema": {...}}',
            details={"param": "response_format.json_schema"},
        )
    schema = response_format.json_schema.json_schema
    if schema is None:  # OpenAI: no schema is any JSON object
        return ANY_OBJECT
    check_schema(schema, "response_format.json_schema.schema")
    return schema


def check_schema(schema: Any, param: str) -> None:
    """InvalidRequest naming the first keyword of ``schema`` a grammar cannot enforce."""
    for path, node in _subschemas(schema, param):
        if isinstance(node, bool):
            if path.endswith(".additionalProperties"):
                continue  # additionalProperties: false (or true)
            _refuse(param, f"{path} is {node!r}; write {{}} for any value")
        if not isinstance(node, dict):
            _refuse(param, f"{path} is {type(node).__name__}; a schema is a JSON object")
        for keyword in node:
            known = keyword in ENFORCED or keyword in ANNOTATIONS or keyword.startswith("x-")
            if not known:
                _refuse(param, f"{path} uses {keyword!r}, {_hint(keyword)}")
        _check_types(node, path, param)
        _check_required(node, path, param)
        ref = node.get("$ref")
        if ref is not None and not (isinstance(ref, str) and _local_ref(ref)):
            _refuse(param, f"{path}.$ref is {ref!r}; only '#/$defs/<name>' references work")


def _hint(keyword: str) -> str:
    if keyword == "oneOf":
        return "which the grammar cannot enforce: use 'anyOf'"
    return (
        "which the grammar cannot enforce; supported: "
        + ", ".join(sorted(ENFORCED))
        + " and annotations ("
        + ", ".join(sorted(ANNOTATIONS))
        + ")"
    )


def _refuse(param: str, problem: str) -> NoReturn:
    raise InvalidRequest(f"the JSON schema is not supported: {problem}", details={"param": param})


def _local_ref(ref: str) -> bool:
    parts = ref.split("/")
    return len(parts) == 3 and parts[0] == "#" and parts[1] in {"$defs", "definitions"}


def _check_types(node: Mapping[str, Any], path: str, param: str) -> None:
    kinds = node.get("type")
    listed = kinds if isinstance(kinds, list) else [] if kinds is None else [kinds]
    for kind in listed:
        if kind not in TYPES:
            _refuse(param, f"{path}.type is {kind!r}; use one of {', '.join(sorted(TYPES))}")


def _check_required(node: Mapping[str, Any], path: str, param: str) -> None:
    required = node.get("required", [])
    properties = node.get("properties", {})
    if not isinstance(required, list) or not isinstance(properties, dict):
        _refuse(param, f"{path}: 'required' is a list of names, 'properties' an object")
    missing = [name for name in required if name not in properties]
    if missing:
        _refuse(param, f"{path}.required names {missing!r}, which 'properties' does not define")


def _subschemas(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every schema within ``node`` (itself included), with where it is."""
    yield path, node
    if not isinstance(node, dict):
        return
    for keyword in ("properties", "$defs", "definitions"):
        for name, child in _mapping(node.get(keyword)).items():
            yield from _subschemas(child, f"{path}.{keyword}.{name}")
    for keyword in ("anyOf", "prefixItems"):
        for index, child in enumerate(_sequence(node.get(keyword))):
            yield from _subschemas(child, f"{path}.{keyword}[{index}]")
    for keyword in ("items", "additionalProperties"):
        if keyword in node:
            yield from _subschemas(node[keyword], f"{path}.{keyword}")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def schema_grammar(
    schema: Mapping[str, Any], root: str = "", param: str = "response_format"
) -> str:
    """A GBNF grammar for the JSON ``schema`` (checked first by :func:`check_schema`).

    ``root`` empty names the schema's rule ``root``; otherwise its rule is ``root`` (for a
    caller that wraps it in a larger grammar) and the grammar has no ``root`` rule.
    """
    # Imported here: loading llama-cpp-python is only worth it once a request needs it.
    module: Any = importlib.import_module("llama_cpp.llama_grammar")
    converter = module.SchemaConverter(
        prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False
    )
    try:
        resolved = converter.resolve_refs(copy.deepcopy(dict(schema)), "request")
        converter.visit(resolved, root)
    except (AssertionError, AttributeError, KeyError, ValueError, TypeError, RecursionError) as exc:
        raise InvalidRequest(
            f"the JSON schema could not be turned into a grammar ({exc}); simplify it",
            details={"param": param},
        ) from exc
    grammar: str = converter.format_grammar()
    return _CHAR_RULE.sub(lambda _: STRICT_CHAR_RULE, grammar)


def check_answer(text: str, schema: Mapping[str, Any]) -> None:
    """BadModelOutput unless ``text`` is JSON that fits ``schema`` (the grammar should make
    that certain: a failure means the model's runtime did not apply it)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _broken(f"it is not JSON ({exc})") from exc
    problem = schema_problem(value, schema)
    if problem is not None:
        raise _broken(problem)


def _broken(problem: str) -> BadModelOutput:
    return BadModelOutput(
        f"the model's answer does not follow the requested response_format: {problem}. "
        "This model's runtime did not apply the grammar; retry, or deploy a llama.cpp model"
    )


def schema_problem(value: Any, schema: Mapping[str, Any]) -> str | None:
    """Why ``value`` does not fit ``schema``, or None when it does."""
    try:
        validator: Any = importlib.import_module("jsonschema")
    except ImportError:
        return conforms(value, schema, schema)
    error = validator.exceptions.best_match(
        validator.Draft202012Validator(schema).iter_errors(value)
    )
    return None if error is None else str(error.message)


def conforms(value: Any, schema: Any, root: Mapping[str, Any], path: str = "$") -> str | None:
    """A validator for exactly the keywords :func:`check_schema` accepts: why ``value``
    does not fit ``schema``, or None."""
    if isinstance(schema, bool):
        return None if schema else f"{path} is not allowed"
    if "$ref" in schema:
        _, section, name = schema["$ref"].split("/")
        return conforms(value, root[section][name], root, path)
    checks = (_choice_problem, _type_problem, _object_problem, _array_problem, _string_problem)
    for check in checks:
        problem = check(value, schema, root, path)
        if problem is not None:
            return problem
    return None


def _choice_problem(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str
) -> str | None:
    options = schema.get("anyOf")
    if options is not None and all(conforms(value, o, root, path) for o in options):
        return f"{path} matches none of anyOf"
    if "const" in schema and not _same(value, schema["const"]):
        return f"{path} is not {schema['const']!r}"
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        return f"{path} is not one of {schema['enum']!r}"
    return None


def _type_problem(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str
) -> str | None:
    kinds = schema.get("type")
    if kinds is None:
        return None
    listed = kinds if isinstance(kinds, list) else [kinds]
    if any(_is_type(value, kind) for kind in listed):
        return None
    return f"{path} is not of type {kinds!r}"


def _string_problem(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str
) -> str | None:
    if not isinstance(value, str):
        return None
    if len(value) < schema.get("minLength", 0):
        return f"{path} is shorter than {schema['minLength']}"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return f"{path} is longer than {schema['maxLength']}"
    return None


def _object_problem(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str
) -> str | None:
    if not isinstance(value, dict):
        return None
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            return f"{path} lacks {name!r}"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        child = properties.get(name, extra)
        problem = conforms(item, child, root, f"{path}.{name}")
        if problem is not None:
            return problem
    return None


def _array_problem(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str
) -> str | None:
    if not isinstance(value, list):
        return None
    if len(value) < schema.get("minItems", 0):
        return f"{path} has fewer than {schema['minItems']} items"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        return f"{path} has more than {schema['maxItems']} items"
    prefix = schema.get("prefixItems", [])
    items = schema.get("items", True)
    for index, item in enumerate(value):
        child = prefix[index] if index < len(prefix) else items
        problem = conforms(item, child, root, f"{path}[{index}]")
        if problem is not None:
            return problem
    return None


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or _whole_float(value)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    expected = {"object": dict, "array": list, "string": str, "boolean": bool}
    if kind == "null":
        return value is None
    return isinstance(value, expected[kind])


def _whole_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def _same(value: Any, expected: Any) -> bool:
    """JSON equality: ``1 == True`` in Python, not in JSON."""
    return (type(value) is type(expected) and value == expected) or (
        _is_type(value, "number") and _is_type(expected, "number") and value == expected
    )
