"""The in-process ceiling: the same models called directly, with no server in between.

iris runs what the scikit-learn runtime runs per batch (``predict`` and ``predict_proba``) on
one row; MiniLM runs ``SentenceTransformer.encode`` as the transformers runtime calls it, with
the same torch thread count as the served deployment, at several batch sizes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skops.io

_MAX_CALLS = 200_000  # every loop also stops at its time budget, whichever comes first
_WARMUP_CALLS = 200


@dataclass(frozen=True)
class IrisCeiling:
    """Median latencies of one call on one row, in milliseconds."""

    predict_ms: float
    predict_proba_ms: float
    both_ms: float


@dataclass(frozen=True)
class EncodeRate:
    batch_size: int
    sentences_per_s: float
    runs: tuple[float, ...]


@dataclass(frozen=True)
class MinilmCeiling:
    threads: int
    rates: tuple[EncodeRate, ...]

    @property
    def best(self) -> EncodeRate:
        return max(self.rates, key=lambda rate: rate.sentences_per_s)

    def at(self, batch_size: int) -> EncodeRate | None:
        return next((rate for rate in self.rates if rate.batch_size == batch_size), None)


def _median_latency_ms(call: Callable[[], Any], budget_s: float) -> float:
    for _ in range(_WARMUP_CALLS):
        call()
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < _MAX_CALLS and time.perf_counter() < deadline:
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def iris_ceiling(artifact: Path, row: Sequence[float], budget_s: float) -> IrisCeiling:
    """``budget_s`` seconds of calls for each of the three measurements."""
    model = skops.io.load(artifact, trusted=skops.io.get_untrusted_types(file=artifact))
    features = np.asarray([row], dtype=np.float64)

    def both() -> None:
        model.predict(features)
        model.predict_proba(features)

    return IrisCeiling(
        predict_ms=_median_latency_ms(lambda: model.predict(features), budget_s),
        predict_proba_ms=_median_latency_ms(lambda: model.predict_proba(features), budget_s),
        both_ms=_median_latency_ms(both, budget_s),
    )


def _encode_rate(
    model: Any, texts: Sequence[str], batch_size: int, budget_s: float, repetitions: int
) -> EncodeRate:
    batches = [
        list(texts[start : start + batch_size]) for start in range(0, len(texts), batch_size)
    ]
    batches = [batch for batch in batches if len(batch) == batch_size] or [list(texts)]

    def encode(batch: list[str]) -> None:
        model.encode(
            batch,
            batch_size=len(batch),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )

    encode(batches[0])  # warm-up: first calls allocate
    runs: list[float] = []
    for _ in range(repetitions):
        encoded, calls = 0, 0
        started = time.perf_counter()
        while calls < _MAX_CALLS and (calls == 0 or time.perf_counter() - started < budget_s):
            batch = batches[calls % len(batches)]
            encode(batch)
            encoded, calls = encoded + len(batch), calls + 1
        runs.append(encoded / (time.perf_counter() - started))
    return EncodeRate(batch_size, statistics.median(runs), tuple(runs))


def minilm_ceiling(
    directory: Path,
    texts: Sequence[str],
    threads: int,
    batch_sizes: Sequence[int],
    budget_s: float,
    repetitions: int,
) -> MinilmCeiling:
    """Sentences per second of ``encode`` at each batch size (median of ``repetitions``
    runs of ``budget_s`` seconds), with ``threads`` torch threads."""
    # Imported here: torch takes seconds to import and only this measurement needs it.
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(directory), device="cpu", local_files_only=True)
    rates = tuple(_encode_rate(model, texts, size, budget_s, repetitions) for size in batch_sizes)
    return MinilmCeiling(threads, rates)
