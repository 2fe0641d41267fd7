"""Measure the catalogue's models: ``python -m modelmart.catalog.evaluate [--output PATH]``.

Each model is loaded through its runtime as a deployment loads it (the package reference is
assembled into a directory of links, the runtime loads that), then measured on the small
hand-written sets of :mod:`modelmart.catalog.evaluation_sets`:

* embeddings: Spearman correlation between the cosine of each pair's vectors and its human
  similarity label, and the mean cosine between the two MiniLM variants' vectors of the
  same sentence (how closely int8 follows full precision);
* VADER: accuracy of its positive / negative / neutral label;
* langid: accuracy of its language code;
* pii-detector and the Apertium translators: precision and recall per entity type, and chrF
  in each direction (:mod:`modelmart.catalog.language_evaluation`);
* vision models: :mod:`modelmart.catalog.vision_evaluation` (photos, faces, rendered text);
* chat models: an instruction pass rate, time to first token and tokens per second
  (:mod:`modelmart.catalog.chat_evaluation`);
* latency: milliseconds per text on this CPU, alone and in a batch, inside the runtime (the
  HTTP and batching overhead of a deployment comes on top).

The result is written to ``measured.json`` beside this module, which the model cards read.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np

from modelmart.arrays import Array
from modelmart.catalog.cards import MEASURED_FILE, MeasuredModel, Measurements
from modelmart.catalog.chat_evaluation import measure_chat
from modelmart.catalog.entries import (
    LANGID,
    MINILM,
    MINILM_INT8,
    VADER_SENTIMENT,
    CatalogEntry,
)
from modelmart.catalog.evaluation_sets import LANGUAGES, SENTIMENT, SIMILARITY_PAIRS
from modelmart.catalog.harness import cpu_name, load
from modelmart.catalog.language_evaluation import LANGUAGE_MEASURES, Quality
from modelmart.catalog.speech_evaluation import measure_speech
from modelmart.catalog.vision_evaluation import measure_vision
from modelmart.runtimes.base import Runtime
from modelmart.schemas.catalog import Latency, Measurement

BATCH_SIZE = 32
SIMILARITY_SET = (
    f"{len(SIMILARITY_PAIRS)} hand-written English sentence pairs with a 0-5 similarity "
    "label from one annotator"
)
SENTIMENT_SET = (
    f"{len(SENTIMENT)} hand-written English sentences, a third each clearly positive, "
    "negative and neutral"
)
LANGUAGE_SET = (
    f"{len(LANGUAGES)} hand-written sentences, 3 in each of "
    f"{len({code for _, code in LANGUAGES})} languages (en de fr es it pt nl pl tr ru)"
)
NOTES = (
    "Quality figures come from small hand-written sets (30 items each, in "
    "modelmart/catalog/evaluation_sets.py). They catch a broken or mis-wired model and "
    "compare the two MiniLM variants; they are no benchmark: one item moves an accuracy by "
    "3.3 points, a perfect score on clear cases says the model is wired right rather than "
    "that it never errs, and a correlation over 30 pairs is uncertain by about +-0.1. Latency is "
    "measured inside the runtime on the CPU named in each card; serving adds HTTP and "
    "batching time."
)

Texts = list[str]


def run(runtime: Runtime, texts: Texts, output: str) -> Array:
    return runtime.predict({"text": np.array(texts, dtype=object)})[output]


def spearman(left: Array, right: Array) -> float:
    """Spearman's rank correlation, ties given their average rank."""
    return float(np.corrcoef(_ranks(left), _ranks(right))[0, 1])


def _ranks(values: Array) -> Array:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def cosines(left: Array, right: Array) -> Array:
    """Row-wise cosine similarity of two matrices of vectors."""
    norms = np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1)
    return np.asarray((left * right).sum(axis=1) / np.clip(norms, 1e-12, None))


def similarity_quality(runtime: Runtime) -> tuple[Measurement, Array]:
    """Spearman of cosine against the human labels, and every sentence's embedding (the
    first sentences of the pairs, then the second ones)."""
    firsts = [first for first, _, _ in SIMILARITY_PAIRS]
    seconds = [second for _, second, _ in SIMILARITY_PAIRS]
    vectors = run(runtime, firsts + seconds, "embedding")
    predicted = cosines(vectors[: len(firsts)], vectors[len(firsts) :])
    labels = np.array([label for _, _, label in SIMILARITY_PAIRS])
    measurement = Measurement(
        metric="similarity_spearman", value=round(spearman(predicted, labels), 4),
        dataset=SIMILARITY_SET,
    )  # fmt: skip
    return measurement, vectors


def agreement(vectors: Array, other: Array, other_name: str) -> Measurement:
    """Mean cosine between two models' vectors of the same sentences."""
    return Measurement(
        metric=f"cosine_to_{other_name}",
        value=round(float(cosines(vectors, other).mean()), 4),
        dataset=f"the {len(vectors)} sentences of the similarity pairs",
    )


def accuracy(runtime: Runtime, examples: tuple[tuple[str, str], ...], output: str) -> float:
    predicted = run(runtime, [text for text, _ in examples], output)
    expected = [label for _, label in examples]
    return round(float(np.mean([str(p) == e for p, e in zip(predicted, expected, strict=True)])), 4)


def latency(runtime: Runtime, texts: Texts, repeats: int = 7) -> Latency:
    """Median milliseconds per text, alone (each text, three times) and in batches of
    BATCH_SIZE. Medians, because other work on the machine only ever adds time."""
    output = runtime.signature.outputs[0].name
    batch = [texts[i % len(texts)] for i in range(BATCH_SIZE)]
    run(runtime, batch, output)  # the first call pays for lazy initialisation
    alone = [_timed(partial(run, runtime, [text], output)) for text in texts * 3]
    batched = [_timed(partial(run, runtime, batch, output)) / BATCH_SIZE for _ in range(repeats)]
    return Latency(
        ms_per_item_alone=round(float(np.median(alone)), 3),
        ms_per_item_batched=round(float(np.median(batched)), 3),
        batch_size=BATCH_SIZE,
        cpu=cpu_name(),
        threads=len(os.sched_getaffinity(0)),
    )


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def _similarity_texts() -> Texts:
    return [text for first, second, _ in SIMILARITY_PAIRS for text in (first, second)]


def measure_embeddings(workdir: Path) -> dict[str, MeasuredModel]:
    """Both MiniLM variants, each with its agreement with the other."""
    texts = _similarity_texts()
    found: dict[str, tuple[Measurement, Array, Latency]] = {}
    for entry in (MINILM_INT8, MINILM):
        runtime = load(entry, workdir)
        try:
            quality, vectors = similarity_quality(runtime)
            found[entry.name] = (quality, vectors, latency(runtime, texts))
        finally:
            runtime.unload()
    int8, full = found[MINILM_INT8.name], found[MINILM.name]
    return {
        MINILM_INT8.name: MeasuredModel(
            latency=int8[2], quality=[int8[0], agreement(int8[1], full[1], MINILM.name)]
        ),
        MINILM.name: MeasuredModel(
            latency=full[2], quality=[full[0], agreement(full[1], int8[1], MINILM_INT8.name)]
        ),
    }


def measure_classifier(
    entry: CatalogEntry, examples: tuple[tuple[str, str], ...], output: str, dataset: str
) -> MeasuredModel:
    with tempfile.TemporaryDirectory() as workdir:
        runtime = load(entry, Path(workdir))
        try:
            value = accuracy(runtime, examples, output)
            timing = latency(runtime, [text for text, _ in examples])
        finally:
            runtime.unload()
    return MeasuredModel(
        latency=timing, quality=[Measurement(metric="accuracy", value=value, dataset=dataset)]
    )


def measure_with(entry: CatalogEntry, quality: Quality, texts: Texts) -> MeasuredModel:
    """``entry``'s figures from ``quality`` and its latency on ``texts``."""
    with tempfile.TemporaryDirectory() as workdir:
        runtime = load(entry, Path(workdir))
        try:
            figures = quality(runtime)
            timing = latency(runtime, texts)
        finally:
            runtime.unload()
    return MeasuredModel(latency=timing, quality=figures)


def measure_all() -> Measurements:
    with tempfile.TemporaryDirectory() as workdir:
        models = measure_embeddings(Path(workdir))
    models[VADER_SENTIMENT.name] = measure_classifier(
        VADER_SENTIMENT, SENTIMENT, "label", SENTIMENT_SET
    )
    models[LANGID.name] = measure_classifier(LANGID, LANGUAGES, "language", LANGUAGE_SET)
    for entry, quality, texts in LANGUAGE_MEASURES:
        models[entry.name] = measure_with(entry, quality, texts)
    models.update(measure_speech(load, cpu_name(), len(os.sched_getaffinity(0))))
    models.update(measure_vision(load, cpu_name(), len(os.sched_getaffinity(0))))
    models.update(measure_chat(load, cpu_name(), len(os.sched_getaffinity(0))))
    return Measurements(
        measured_at=datetime.now(UTC).strftime("%Y-%m-%d"), notes=NOTES, models=models
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m modelmart.catalog.evaluate",
        description="Measure the catalogue's models and write measured.json.",
    )
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).with_name(MEASURED_FILE),
        help="where to write the measurements (default: the measured.json the cards read)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    measurements = measure_all()
    args.output.write_text(measurements.model_dump_json(indent=2) + "\n", encoding="utf-8")
    for name, measured in measurements.models.items():
        figures = ", ".join(f"{m.metric}={m.value}" for m in measured.quality)
        timing = measured.latency
        print(
            f"{name}: {figures}; {timing.ms_per_item_alone} ms alone, "
            f"{timing.ms_per_item_batched} ms/text in batches of {timing.batch_size}"
        )


if __name__ == "__main__":
    main()
