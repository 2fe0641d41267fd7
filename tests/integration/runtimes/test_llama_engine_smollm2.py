"""The continuous-batching engine on the catalogue's SmolLM2 (llama.cpp): concurrent greedy
answers equal the answers alone, the prefix cache changes no answer, grammar, logprobs,
seeds, cancellation and the waiting queue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelmart.errors import Overloaded
from modelmart.runtimes.base import LoadRequest
from modelmart.runtimes.generation import (
    ChatMessage,
    GenerationDone,
    GenerationEngine,
    GenerationRequest,
    TextDelta,
)
from modelmart.runtimes.llama_cpp import LlamaCppRuntime
from modelmart.types import ArtifactFormat
from tests.integration.runtimes.test_llama_cpp_runtime import packaged_gguf

QUESTIONS = [
    "What is the capital of France?",
    "Name three fruits.",
    "What is 2 + 2?",
    "Say hello in Spanish.",
    "What colour is the sky?",
    "Write one sentence about cats.",
    "What is the opposite of hot?",
    "Count from one to five.",
]
SYSTEM = ChatMessage("system", "You are a concise assistant. Answer in one short sentence.")


def load(parallel: int, prefix_cache: bool = True, queue_limit: int = 64) -> LlamaCppRuntime:
    runtime = LlamaCppRuntime()
    parameters = {
        "context_length": 4096,
        "threads": 2,
        "parallel": parallel,
        "prefix_cache": prefix_cache,
        "queue_limit": queue_limit,
    }
    runtime.load(LoadRequest(packaged_gguf(), ArtifactFormat.GGUF, parameters=parameters))
    return runtime


@pytest.fixture(scope="module")
def batched() -> Iterator[LlamaCppRuntime]:
    runtime = load(parallel=16)
    yield runtime
    runtime.unload()


def ask(text: str, **options: object) -> GenerationRequest:
    messages = (SYSTEM, ChatMessage("user", text))
    return GenerationRequest(messages, **{"temperature": 0.0, "max_tokens": 16, **options})  # type: ignore[arg-type]


def run_all(
    engine: GenerationEngine, requests: list[GenerationRequest]
) -> list[tuple[str, GenerationDone]]:
    for index, request in enumerate(requests):
        engine.submit(str(index), request)
    texts = [""] * len(requests)
    done: dict[int, GenerationDone] = {}
    while engine.has_work:
        for rid, item in engine.step():
            assert not isinstance(item, Exception), item
            if isinstance(item, TextDelta):
                texts[int(rid)] += item.text
            else:
                done[int(rid)] = item
    return [(texts[i], done[i]) for i in range(len(requests))]


def test_sixteen_concurrent_greedy_answers_equal_each_answer_alone(
    batched: LlamaCppRuntime,
) -> None:
    alone_runtime = load(parallel=1, prefix_cache=False)
    try:
        alone = [run_all(alone_runtime.engine(), [ask(q)])[0][0] for q in QUESTIONS]
    finally:
        alone_runtime.unload()
    requests = [ask(q) for q in QUESTIONS * 2]  # 16 streams
    together = run_all(batched.engine(), requests)
    assert [text for text, _ in together] == alone * 2
    assert all(done.completion_tokens > 0 for _, done in together)


def test_the_prefix_cache_changes_no_greedy_answer_and_saves_the_earlier_turns() -> None:
    cached, plain = load(parallel=4), load(parallel=4, prefix_cache=False)
    try:
        first = ask("What is the capital of France?")
        answers = {}
        for name, runtime in (("cached", cached), ("plain", plain)):
            ((reply, _),) = run_all(runtime.engine(), [first])
            turns = (ChatMessage("assistant", reply), ChatMessage("user", "And of Italy?"))
            second = GenerationRequest((*first.messages, *turns), temperature=0.0, max_tokens=16)
            answers[name] = run_all(runtime.engine(), [second])[0]
        assert answers["cached"][0] == answers["plain"][0]
        assert answers["cached"][1].cached_tokens > len(cached.encode(first)) // 2
        assert answers["plain"][1].cached_tokens == 0
    finally:
        cached.unload()
        plain.unload()


def test_a_grammar_constrains_the_answer(batched: LlamaCppRuntime) -> None:
    grammar = 'root ::= "yes" | "no"'
    results = run_all(
        batched.engine(),
        [ask("Is the sky blue?", temperature=1.0, seed=seed, grammar=grammar) for seed in range(4)],
    )
    assert {text for text, _ in results} <= {"yes", "no"}
    assert all(done.finish_reason == "stop" for _, done in results)


def test_logprobs_are_log_probabilities_of_each_token(batched: LlamaCppRuntime) -> None:
    engine = batched.engine()
    engine.submit("lp", ask("What is 2 + 2?", max_tokens=6, logprobs=True, top_logprobs=3))
    entries = []
    while engine.has_work:
        for _, item in engine.step():
            if isinstance(item, TextDelta):
                entries.extend(item.logprobs)
    assert len(entries) == 6
    for entry in entries:
        assert entry.logprob <= 0
        assert len(entry.top) == 3
        assert entry.top[0].logprob >= entry.logprob  # greedy: the best one, ties aside
        assert entry.top[0].logprob == pytest.approx(entry.logprob)


def test_a_seed_makes_sampling_repeatable() -> None:
    request = ask("Name a fruit.", temperature=1.0, top_p=0.95, top_k=40, seed=11)
    runs = []
    for _ in range(2):
        runtime = load(parallel=4)
        try:
            runs.append([text for text, _ in run_all(runtime.engine(), [request, request])])
        finally:
            runtime.unload()
    assert runs[0] == runs[1]
    assert runs[0][0] == runs[0][1]  # the same seed in the same batch too


def test_cancelling_frees_the_slot_and_a_full_queue_refuses() -> None:
    runtime = load(parallel=1, queue_limit=1)
    engine = runtime.engine()
    try:
        engine.submit("long", ask("Repeat the word 'hello' 500 times.", max_tokens=400))
        engine.submit("waiting", ask("What is 2 + 2?", max_tokens=4))
        with pytest.raises(Overloaded):
            engine.submit("refused", ask("Hi"))
        engine.step()
        assert (engine.stats().running, engine.stats().waiting) == (1, 1)
        engine.cancel("long")
        items = engine.step()
        assert {rid for rid, _ in items} <= {"waiting"}
        assert (engine.stats().running, engine.stats().waiting) == (1, 0)
        while engine.has_work:
            engine.step()
    finally:
        runtime.unload()


def test_tools_reach_a_template_without_a_tool_format_as_a_system_message(
    batched: LlamaCppRuntime,
) -> None:
    tool = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    plain = batched.encode(ask("Weather in Paris?"))
    with_tools = batched.encode(ask("Weather in Paris?", tools=(tool,)))
    assert len(with_tools) > len(plain) + 10
