"""Measure the catalogue's chat models: ``python -m modelmart.catalog.chat_evaluation``.

Quality: a dozen simple instructions whose answers can be checked by a word (the capital of
France, 2 + 2, the opposite of hot), answered greedily; the pass rate is the share whose
answer contains an accepted word. A check of wiring and of the model's floor, no benchmark:
each item moves the rate by 8 points.

Speed, inside the runtime on this CPU (HTTP and queueing come on top): the median time to
the first piece of answer, the median tokens per second after it, and the median time per
whole answer. Run alone, this module measures only the chat models and merges their figures
into ``measured.json``; ``python -m modelmart.catalog.evaluate`` measures them with the rest.
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelmart.catalog.cards import MEASURED_FILE, MeasuredModel, Measurements
from modelmart.catalog.chat_entries import CHAT_ENTRIES
from modelmart.catalog.entry import CatalogEntry
from modelmart.catalog.harness import cpu_name, load
from modelmart.runtimes.base import Runtime
from modelmart.runtimes.generation import (
    ChatMessage,
    GenerationDone,
    GenerationRequest,
    TextDelta,
    TextGenerator,
)
from modelmart.schemas.catalog import Latency, Measurement

MAX_TOKENS = 32
INSTRUCTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("What is the capital of France? Answer with one word.", ("paris",)),
    ("What is 2 + 2? Answer with a number.", ("4", "four")),
    ("What colour is the sky on a clear day? Answer with one word.", ("blue",)),
    ("Translate 'hello' into Spanish. Answer with one word.", ("hola",)),
    ("How many days are in a week? Answer with a number.", ("7", "seven")),
    ("What is the opposite of 'hot'? Answer with one word.", ("cold",)),
    ("Which is the largest planet in our solar system?", ("jupiter",)),
    ("Continue the sequence: one, two, three, ...", ("four",)),
    ("What animal says 'moo'?", ("cow", "cows")),
    ("Is ice cold or hot? Answer with one word.", ("cold",)),
    ("What do bees make? Answer with one word.", ("honey",)),
    ("How many legs does a spider have? Answer with a number.", ("8", "eight")),
)
INSTRUCTION_SET = (
    f"{len(INSTRUCTIONS)} hand-written one-line instructions with a one-word answer, "
    f"answered greedily in at most {MAX_TOKENS} tokens; passes when the answer contains an "
    "accepted word"
)

Loader = Callable[[CatalogEntry, Path], Runtime]


@dataclass(frozen=True)
class Answer:
    text: str
    first_token_s: float
    total_s: float
    tokens: int


def answer(generator: TextGenerator, instruction: str) -> Answer:
    """One greedy answer to ``instruction``, timed."""
    request = GenerationRequest((ChatMessage("user", instruction),), MAX_TOKENS, temperature=0)
    start = time.perf_counter()
    first: float | None = None
    pieces: list[str] = []
    tokens = 0
    for event in generator.generate(request):
        if isinstance(event, TextDelta):
            first = first if first is not None else time.perf_counter() - start
            pieces.append(event.text)
        elif isinstance(event, GenerationDone):
            tokens = event.completion_tokens
    total = time.perf_counter() - start
    return Answer("".join(pieces), first if first is not None else total, total, tokens)


def passes(text: str, accepted: tuple[str, ...]) -> bool:
    words = set(re.findall(r"[a-z0-9]+", text.lower()))
    return any(word in words for word in accepted)


def measure_generator(runtime: Runtime, cpu: str, threads: int) -> MeasuredModel:
    assert isinstance(runtime, TextGenerator), "chat entries load a TextGenerator"
    answer(runtime, "Hello.")  # the first call pays for lazy initialisation
    answers = [answer(runtime, instruction) for instruction, _ in INSTRUCTIONS]
    passed = [
        passes(a.text, accepted) for a, (_, accepted) in zip(answers, INSTRUCTIONS, strict=True)
    ]
    speeds = [(a.tokens - 1) / (a.total_s - a.first_token_s) for a in answers if a.tokens > 1]
    per_answer = round(statistics.median(a.total_s for a in answers) * 1000, 3)
    latency = Latency(
        ms_per_item_alone=per_answer,
        ms_per_item_batched=per_answer,  # generations run one at a time per instance
        batch_size=1,
        cpu=cpu,
        threads=threads,
        tokens_per_second=round(statistics.median(speeds), 1) if speeds else None,
        first_token_ms=round(statistics.median(a.first_token_s for a in answers) * 1000, 1),
    )
    rate = round(sum(passed) / len(passed), 4)
    quality = [Measurement(metric="instruction_pass_rate", value=rate, dataset=INSTRUCTION_SET)]
    return MeasuredModel(latency=latency, quality=quality)


def measure_chat(load: Loader, cpu: str, threads: int) -> dict[str, MeasuredModel]:
    """Every chat entry's figures."""
    found: dict[str, MeasuredModel] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for entry in CHAT_ENTRIES:
            runtime = load(entry, Path(workdir))
            try:
                found[entry.name] = measure_generator(runtime, cpu, threads)
            finally:
                runtime.unload()
    return found


def merge_into(target: Path, measured: dict[str, MeasuredModel]) -> None:
    """Replace these models' figures in the measurements file ``target``, keeping the rest."""
    current = Measurements.model_validate_json(target.read_bytes())
    merged = current.model_copy(update={"models": {**current.models, **measured}})
    # Without nulls: the other models' cards have no generation figures to show.
    text = merged.model_dump_json(indent=2, exclude_none=True)
    target.write_text(text + "\n", encoding="utf-8")


def main() -> None:
    measured = measure_chat(load, cpu_name(), len(os.sched_getaffinity(0)))
    merge_into(Path(__file__).with_name(MEASURED_FILE), measured)
    for name, figures in measured.items():
        print(name, figures.model_dump_json())


if __name__ == "__main__":
    main()
