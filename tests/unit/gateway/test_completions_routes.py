"""POST /v1/completions (legacy text completions) through the official SDK against a scripted
model: prompts and choices, echo, logprobs in the legacy shape, streaming, usage, refusals."""

from __future__ import annotations

import httpx
import openai
import pytest
from starlette.types import Receive, Scope, Send

from modelmart.gateway.routes import completions
from modelmart.gateway.usage import Usage, reported_usage
from modelmart.runtimes.generation import GenerationRequest
from tests.unit.gateway.generation_fakes import ScriptedChat, pieces_of, sdk_for
from tests.unit.gateway.route_fakes import app_with


def continued(request: GenerationRequest) -> list[str]:
    return [f" after {request.prompt}", f" #{request.seed}"]


async def test_prompt_is_raw_text_with_openai_defaults() -> None:
    model = ScriptedChat(pieces_of(" there", "!"))
    async with sdk_for(model) as sdk:
        answer = await sdk.completions.create(model="chat", prompt="Hello")
    assert answer.object == "text_completion"
    assert answer.id.startswith("cmpl-")
    (choice,) = answer.choices
    assert (choice.index, choice.text, choice.finish_reason) == (0, " there!", "stop")
    assert choice.logprobs is None
    sent = model.requests[0]
    assert (sent.prompt, sent.messages, sent.max_tokens) == ("Hello", (), 16)
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (7, 2)


async def test_a_list_of_prompts_times_n_in_openai_order() -> None:
    model = ScriptedChat(continued)
    async with sdk_for(model) as sdk:
        answer = await sdk.completions.create(
            model="chat", prompt=["a", "b"], n=2, seed=10, max_tokens=5, temperature=0.5, stop="\n"
        )
    texts = [(c.index, c.text) for c in answer.choices]
    assert texts == [
        (0, " after a #10"),
        (1, " after a #11"),
        (2, " after b #10"),
        (3, " after b #11"),
    ]
    assert answer.usage is not None
    assert answer.usage.total_tokens == 4 * (7 + 2)
    assert {(r.max_tokens, r.temperature, r.stop) for r in model.requests} == {(5, 0.5, ("\n",))}


async def test_echo_puts_the_prompt_first_whole_and_streamed() -> None:
    model = ScriptedChat(pieces_of(" world"))
    async with sdk_for(model) as sdk:
        whole = await sdk.completions.create(model="chat", prompt="Hello", echo=True)
        stream = await sdk.completions.create(model="chat", prompt="Hello", echo=True, stream=True)
        chunks = [chunk async for chunk in stream]
    assert whole.choices[0].text == "Hello world"
    assert "".join(c.choices[0].text for c in chunks) == "Hello world"


async def test_logprobs_in_the_legacy_shape_whole_and_streamed() -> None:
    model = ScriptedChat(pieces_of(" a", "bc"))
    async with sdk_for(model) as sdk:
        whole = await sdk.completions.create(model="chat", prompt="xyz", logprobs=2)
        stream = await sdk.completions.create(model="chat", prompt="xyz", logprobs=2, stream=True)
        chunks = [chunk async for chunk in stream]
    assert (model.requests[0].logprobs, model.requests[0].top_logprobs) == (True, 2)
    logprobs = whole.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.tokens == [" a", "bc"]
    assert logprobs.token_logprobs == [0, -1]
    assert logprobs.top_logprobs == [{" a~0": 0, " a~1": -1}, {"bc~0": -1, "bc~1": -2}]
    assert logprobs.text_offset == [3, 5]  # after the prompt's 3 characters
    streamed = [c.choices[0].logprobs for c in chunks if c.choices and c.choices[0].logprobs]
    assert [lp.tokens for lp in streamed] == [[" a"], ["bc"]]
    assert [lp.text_offset for lp in streamed] == [[3], [5]]


async def test_streamed_usage_when_asked_for() -> None:
    model = ScriptedChat(pieces_of("a", "b", "c"), finish="length")
    async with sdk_for(model) as sdk:
        stream = await sdk.completions.create(
            model="chat", prompt="p", stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "abc"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3


@pytest.mark.parametrize(
    ("fields", "param", "fragment"),
    [
        ({"suffix": "end"}, "suffix", "does not fill in the middle"),
        ({"echo": True, "logprobs": 1}, "echo", "not both"),
        ({"best_of": 3}, "best_of", "answers are not ranked"),
        ({"logprobs": 6}, "logprobs", "less than or equal to 5"),
        ({"n": 5, "prompt": ["a", "b"]}, "n", "at most 8"),
        ({"prompt": [1, 2]}, "prompt", "token arrays"),
        ({"prompt": "  "}, "prompt", "blank"),
        ({"stop": ["1", "2", "3", "4", "5"]}, "stop", "up to 4"),
        ({"logit_bias": {"1": 1}}, "logit_bias", "Extra inputs"),
    ],
)
async def test_what_cannot_be_honoured_is_400_naming_the_field(
    fields: dict[str, object], param: str, fragment: str
) -> None:
    async with sdk_for(ScriptedChat(pieces_of("x"))) as sdk:
        prompt = fields.pop("prompt", "Hi")
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.completions.create(model="chat", prompt=prompt, extra_body=fields)  # type: ignore[arg-type]
    assert caught.value.param == param
    assert fragment in caught.value.message


async def test_usage_is_reported_for_billing() -> None:
    app = app_with({"chat": ScriptedChat(pieces_of("a", "b"))}, modules=(completions,))
    seen: list[Usage | None] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)
        seen.append(reported_usage(scope))

    transport = httpx.ASGITransport(app=recording)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.post("/v1/completions", json={"model": "chat", "prompt": "p", "n": 2})
    assert response.status_code == 200
    units = {"requests": 1.0, "tokens": 18.0, "prompt_tokens": 14.0, "completion_tokens": 4.0}
    assert seen == [Usage("smol", 4, units)]
