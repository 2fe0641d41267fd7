from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from modelmart.arrays import Batch
from modelmart.catalog.cards import Measurements
from modelmart.catalog.chat_entries import SMOLLM2
from modelmart.catalog.chat_evaluation import INSTRUCTIONS, measure_chat, merge_into, passes
from modelmart.catalog.entry import CatalogEntry
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.generation import (
    CHAT_SIGNATURE,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
    TextGenerator,
)
from modelmart.types import RuntimeName, Signature

ANSWERS = {instruction: accepted[0] for instruction, accepted in INSTRUCTIONS}


class Oracle(Runtime, TextGenerator):
    """Knows the first half of the answers; says "no idea" to the rest."""

    name = RuntimeName.LLAMA_CPP
    unloaded = False

    def load(self, request: LoadRequest) -> None:
        return None

    @property
    def signature(self) -> Signature:
        return CHAT_SIGNATURE

    @property
    def context_length(self) -> int:
        return 100

    def predict(self, batch: Batch) -> Batch:
        raise NotImplementedError

    def unload(self) -> None:
        self.unloaded = True

    def generate(self, request: GenerationRequest) -> Generator[GenerationEvent, None, None]:
        instruction = request.messages[-1].content
        known = (
            list(ANSWERS).index(instruction) < len(ANSWERS) // 2
            if instruction in ANSWERS
            else False
        )
        words = ["It", "is", ANSWERS[instruction]] if known else ["No", "idea"]
        for word in words:
            yield TextDelta(f"{word} ")
        yield GenerationDone(5, len(words), "stop")


def test_answers_pass_on_an_accepted_word_only() -> None:
    assert passes("The capital is Paris.", ("paris",))
    assert not passes("Parisian food", ("paris",))
    assert passes("It has 8 legs", ("8", "eight"))


def test_measure_chat_scores_and_times_every_chat_entry() -> None:
    runtimes: list[Oracle] = []

    def load(entry: CatalogEntry, workdir: Path) -> Runtime:
        assert workdir.is_dir()
        runtimes.append(Oracle())
        return runtimes[-1]

    measured = measure_chat(load, "Test CPU", 2)
    figures = measured[SMOLLM2.name]
    assert [(m.metric, m.value) for m in figures.quality] == [("instruction_pass_rate", 0.5)]
    assert figures.latency.cpu == "Test CPU"
    assert figures.latency.batch_size == 1
    assert figures.latency.tokens_per_second is not None
    assert figures.latency.tokens_per_second > 0
    assert figures.latency.first_token_ms is not None
    assert runtimes[0].unloaded


def test_merging_replaces_only_the_measured_models(tmp_path: Path) -> None:
    measured = measure_chat(lambda entry, workdir: Oracle(), "CPU", 1)
    target = tmp_path / "measured.json"
    other = measured[SMOLLM2.name].model_copy()
    target.write_text(Measurements(notes="kept", models={"other": other}).model_dump_json())
    merge_into(target, measured)
    merged = Measurements.model_validate_json(target.read_bytes())
    assert merged.notes == "kept"
    assert set(merged.models) == {"other", SMOLLM2.name}
    assert "null" not in target.read_text()
