"""The continuous-batching engine on a toy model: batching, prefix cache, budget, queue."""

from __future__ import annotations

import pytest

from modelmart.errors import ContextLengthExceeded, Overloaded
from modelmart.runtimes.generation import (
    ChatMessage,
    GenerationDone,
    GenerationEngine,
    GenerationRequest,
    TextDelta,
)
from modelmart.runtimes.llama_engine.engine import LlamaEngine

from .toy_backend import ToyBackend, letters, toy_engine


def ask(text: str, **options: object) -> GenerationRequest:
    return GenerationRequest((ChatMessage("user", text),), temperature=0.0, **options)  # type: ignore[arg-type]


def run(
    engine: GenerationEngine, requests: dict[str, GenerationRequest]
) -> dict[str, tuple[str, GenerationDone]]:
    """Submit every request, step until each is done; (text, done) per request id."""
    for rid, request in requests.items():
        engine.submit(rid, request)
    texts = {rid: "" for rid in requests}
    done: dict[str, GenerationDone] = {}
    for _ in range(10_000):
        if not engine.has_work:
            break
        for rid, item in engine.step():
            assert not isinstance(item, Exception), item
            if isinstance(item, TextDelta):
                texts[rid] += item.text
            else:
                done[rid] = item
    return {rid: (texts[rid], done[rid]) for rid in requests}


PROMPTS = ["hello there", "what is two and two", "a", "name a fruit", "tell me a story"]


def test_concurrent_greedy_answers_equal_the_answers_alone() -> None:
    alone = {}
    for index, prompt in enumerate(PROMPTS):
        engine, _ = toy_engine(prefix_cache=False)
        alone[index] = run(engine, {"r": ask(prompt, max_tokens=12)})["r"]
    engine, backend = toy_engine(parallel=4, prefix_cache=False)
    together = run(engine, {str(i): ask(p, max_tokens=12) for i, p in enumerate(PROMPTS)})
    assert {int(rid): answer for rid, answer in together.items()} == alone
    assert max(len(batch) for batch in backend.batches) > 1  # really decoded together
    assert {t.seq_id for batch in backend.batches for t in batch} == {0, 1, 2, 3}


def test_every_step_decodes_one_token_of_each_running_sequence() -> None:
    engine, backend = toy_engine(parallel=3, prefix_cache=False)
    run(engine, {str(i): ask(p, max_tokens=5) for i, p in enumerate(PROMPTS[:3])})
    decode_steps = [b for b in backend.batches if all(t.wants_logits for t in b)]
    assert decode_steps
    assert all(len({t.seq_id for t in b}) == len(b) for b in decode_steps)
    assert len(backend.batches) == 5  # one prompt step, then one per further token


def test_a_long_prompt_is_read_in_chunks_between_the_others_tokens() -> None:
    engine, backend = toy_engine(parallel=2, prefill_chunk=8, prefix_cache=False)
    engine.submit("short", ask("hi", max_tokens=20))
    engine.step()
    engine.submit("long", ask("x" * 40, max_tokens=2))
    while engine.has_work:
        engine.step()
    mixed = [b for b in backend.batches if len({t.seq_id for t in b}) == 2]
    assert len(mixed) >= 5  # the short one kept getting its token while the long one was read
    assert all(sum(not t.wants_logits for t in b) <= 8 for b in backend.batches)


def test_the_prefix_cache_skips_what_an_earlier_turn_evaluated() -> None:
    first = ask("the system prompt. first question", max_tokens=6)
    second = ask("the system prompt. other question", max_tokens=6)
    cached_engine, cached_backend = toy_engine()
    plain_engine, _ = toy_engine(prefix_cache=False)
    run(cached_engine, {"a": first})
    evaluated_before = sum(len(b) for b in cached_backend.batches)
    text, done = run(cached_engine, {"b": second})["b"]
    assert done.cached_tokens == len("the system prompt. ")
    evaluated = sum(len(b) for b in cached_backend.batches) - evaluated_before
    assert evaluated == done.prompt_tokens - done.cached_tokens + done.completion_tokens - 1
    run(plain_engine, {"a": first})
    assert run(plain_engine, {"b": second})["b"] == (
        text,
        GenerationDone(done.prompt_tokens, done.completion_tokens, done.finish_reason, 0),
    )


def test_the_same_prompt_again_evaluates_only_its_last_token() -> None:
    engine, backend = toy_engine()
    once = run(engine, {"a": ask("repeat me", max_tokens=4)})["a"]
    steps = len(backend.batches)
    again = run(engine, {"b": ask("repeat me", max_tokens=4)})["b"]
    assert again[0] == once[0]
    assert again[1].cached_tokens == len("repeat me") - 1
    assert len(backend.batches[steps]) == 1


def test_cache_entries_are_evicted_when_their_cells_are_needed() -> None:
    engine, backend = toy_engine(ToyBackend(n_ctx=64, n_seq_max=4), parallel=2)
    for index in range(6):
        run(engine, {str(index): ask(f"prompt number {index} " * 2, max_tokens=8)})
        assert backend.used_cells() <= 64
    assert engine.stats().kv_tokens <= 64


def test_a_cancelled_sequence_frees_its_cells_and_slot_at_the_next_step() -> None:
    engine, backend = toy_engine(parallel=1, prefix_cache=False)
    engine.submit("long", ask("go on", max_tokens=200))
    engine.submit("next", ask("then me", max_tokens=3))
    engine.step()
    assert engine.stats().running == 1
    assert engine.stats().waiting == 1
    engine.cancel("long")
    items = engine.step()
    cancelled = letters("go on")
    assert not any(held[: len(cancelled)] == cancelled for held in backend.cells.values())
    assert all(rid == "next" for rid, _ in items)
    assert engine.stats().running == 1
    assert engine.stats().waiting == 0
    while engine.has_work:
        engine.step()
    assert backend.open_samplers == 0


def test_a_full_queue_refuses_with_overloaded() -> None:
    engine, _ = toy_engine(parallel=1, queue_limit=2)
    for index in range(3):  # one for the free slot, two waiting
        engine.submit(str(index), ask("hi", max_tokens=2))
    with pytest.raises(Overloaded) as refused:
        engine.submit("3", ask("hi", max_tokens=2))
    assert refused.value.headers() == {"Retry-After": "1"}


def test_a_sequence_waits_until_the_kv_cells_it_may_need_are_free() -> None:
    engine, _ = toy_engine(ToyBackend(n_ctx=40), parallel=4, prefix_cache=False)
    engine.submit("a", ask("abc", max_tokens=30))
    engine.submit("b", ask("def", max_tokens=30))
    engine.step()
    assert (engine.stats().running, engine.stats().waiting) == (1, 1)
    finished = []
    while engine.has_work:
        finished += [rid for rid, item in engine.step() if isinstance(item, GenerationDone)]
        assert engine.stats().running <= 1
    assert finished == ["a", "b"]


def test_without_max_tokens_the_answer_grows_its_reserve_until_the_window_is_full() -> None:
    engine, _ = toy_engine(ToyBackend(n_ctx=48), reserve=8, prefix_cache=False)
    text, done = run(engine, {"a": ask("abc")})["a"]
    assert (done.finish_reason, done.prompt_tokens + done.completion_tokens) == ("length", 48)
    assert len(text) == done.completion_tokens


def test_limits_stops_and_the_end_token_finish_the_answer() -> None:
    engine, _ = toy_engine(ToyBackend(end_every=9))
    (text, done) = run(engine, {"a": ask("abcd", max_tokens=50)})["a"]
    # END comes once the sequence holds 9 tokens: the prompt's 4 and 5 of the answer.
    assert (done.finish_reason, done.completion_tokens, len(text)) == ("stop", 5, 5)
    engine, _ = toy_engine()
    full, _ = run(engine, {"a": ask("abcd", max_tokens=10)})["a"]
    stop = full[3:5]
    cut, done = run(engine, {"b": ask("abcd", max_tokens=10, stop=(stop,))})["b"]
    assert (cut, done.finish_reason) == (full[: full.index(stop)], "stop")
    assert done.completion_tokens == full.index(stop) + len(stop)


def test_context_errors_come_at_submit() -> None:
    engine, _ = toy_engine(ToyBackend(n_ctx=16))
    with pytest.raises(ContextLengthExceeded, match="maximum context length is 16"):
        engine.submit("a", ask("x" * 16))
    with pytest.raises(ContextLengthExceeded) as caught:
        engine.submit("b", ask("x", max_tokens=16))
    assert caught.value.details["param"] == "max_tokens"


def test_logprobs_come_from_the_raw_logits() -> None:
    engine, _ = toy_engine()
    engine.submit("a", ask("abc", max_tokens=3, logprobs=True, top_logprobs=2))
    deltas = []
    while engine.has_work:
        deltas += [item for _, item in engine.step() if isinstance(item, TextDelta)]
    entries = [entry for delta in deltas for entry in delta.logprobs]
    assert len(entries) == 3
    for entry in entries:
        assert entry.logprob <= 0
        assert [top.logprob for top in entry.top] == sorted(
            (t.logprob for t in entry.top), reverse=True
        )
        assert entry.token == entry.top[0].token  # greedy takes the most likely one
        assert entry.bytes == tuple(entry.token.encode())


def test_a_seed_makes_sampling_repeatable() -> None:
    def sampled(seed: int) -> str:
        engine, _ = toy_engine()
        request = ask("abc", max_tokens=12, seed=seed)
        request = GenerationRequest(request.messages, max_tokens=12, temperature=1.5, seed=seed)
        return run(engine, {"a": request})["a"][0]

    assert sampled(7) == sampled(7)
    assert len({sampled(seed) for seed in range(6)}) > 1


def test_a_failed_decode_fails_every_running_sequence_and_frees_them() -> None:
    engine, backend = toy_engine(parallel=2)
    engine.submit("a", ask("one", max_tokens=5))
    engine.submit("b", ask("two", max_tokens=5))
    backend.fail_next_decode = True
    items = engine.step()
    assert sorted(rid for rid, _ in items) == ["a", "b"]
    assert all(isinstance(item, RuntimeError) for _, item in items)
    assert not engine.has_work
    assert backend.open_samplers == 0
    assert run(engine, {"c": ask("three", max_tokens=2)})["c"][1].completion_tokens == 2


def test_engine_is_a_generation_engine() -> None:
    engine, _ = toy_engine(parallel=3)
    assert isinstance(engine, LlamaEngine)
    assert engine.parallel == 3
