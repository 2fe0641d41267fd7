"""The OpenAI surface that today's llama.cpp runtime already serves, through the official SDK
against a real server and the catalogue's SmolLM2: several choices with seeds, usage with
cached tokens, text completions' shape, refusals, and the OpenAPI document.

(What needs the runtime to apply grammars, report log-probabilities or read raw prompts is
in ``test_openai_engine_features.py``.)"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.integration.chat.conftest import CHAT
from tests.integration.servers import LiveServer

QUESTION: Any = [{"role": "user", "content": "Name a colour."}]


def test_n_choices_follow_their_seeds(sdk: openai.OpenAI) -> None:
    several = sdk.chat.completions.create(
        model=CHAT, messages=QUESTION, n=2, seed=11, max_tokens=12, temperature=1.0
    )
    assert [choice.index for choice in several.choices] == [0, 1]
    singles = [
        sdk.chat.completions.create(
            model=CHAT, messages=QUESTION, seed=seed, max_tokens=12, temperature=1.0
        )
        for seed in (11, 12)
    ]
    # Choice i is what seed + i gives alone: the same sampling, repeatable.
    assert [c.message.content for c in several.choices] == [
        single.choices[0].message.content for single in singles
    ]
    assert several.usage is not None
    assert several.usage.completion_tokens == sum(
        single.usage.completion_tokens for single in singles if single.usage
    )
    assert several.usage.prompt_tokens_details is not None
    assert several.usage.prompt_tokens_details.cached_tokens is not None
    assert several.usage.prompt_tokens_details.cached_tokens >= 0


def test_n_choices_stream_and_usage_sums_them(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model=CHAT,
        messages=QUESTION,
        n=3,
        seed=3,
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    finished = {c.choices[0].index for c in chunks if c.choices and c.choices[0].finish_reason}
    assert finished == {0, 1, 2}
    usage = chunks[-1].usage
    assert usage is not None
    assert 3 <= usage.completion_tokens <= 24
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_text_completions_whole_and_streamed(sdk: openai.OpenAI) -> None:
    whole = sdk.completions.create(model=CHAT, prompt="The capital of France is", temperature=0)
    assert whole.object == "text_completion"
    assert whole.usage is not None
    assert 1 <= whole.usage.completion_tokens <= 16  # OpenAI's default max_tokens
    streamed = sdk.completions.create(
        model=CHAT, prompt="The capital of France is", temperature=0, stream=True
    )
    text = "".join(chunk.choices[0].text for chunk in streamed if chunk.choices)
    assert text == whole.choices[0].text  # greedy: the same tokens either way
    several = sdk.completions.create(model=CHAT, prompt=["One,", "Two,"], n=2, max_tokens=4, seed=1)
    assert [choice.index for choice in several.choices] == [0, 1, 2, 3]


def test_what_cannot_be_served_is_a_clear_400(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as too_many:
        sdk.chat.completions.create(model=CHAT, messages=QUESTION, n=9)
    assert too_many.value.param == "n"
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}}
    with pytest.raises(openai.BadRequestError) as unenforceable:
        sdk.chat.completions.create(
            model=CHAT,
            messages=QUESTION,
            response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
        )
    assert "'minimum'" in unenforceable.value.message
    with pytest.raises(openai.BadRequestError) as suffix:
        sdk.completions.create(model=CHAT, prompt="def f(", suffix="return 1")
    assert suffix.value.param == "suffix"


def test_the_openapi_document_shows_text_completions(chat_server: LiveServer) -> None:
    document = httpx.get(f"{chat_server.url}/openapi.json").json()
    assert "post" in document["paths"]["/v1/completions"]
    assert "post" in document["paths"]["/v1/chat/completions"]
