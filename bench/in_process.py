"""The in-process ceiling: the same models called directly, with no server in between.

iris runs what the scikit-learn runtime runs per batch (``predict`` and ``predict_proba``) on
one row. MiniLM runs ``SentenceTransformer.encode`` as the transformers runtime calls it, in
child processes shaped like a deployment: ``processes`` copies of the model with ``threads``
torch threads each, all encoding at once, at several batch sizes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skops.io
from machine import CpuUse, NoiseMeter, cpu_use

_MAX_CALLS = 200_000  # every loop also stops at its time budget, whichever comes first
_WARMUP_CALLS = 200
_LOAD_TIMEOUT_S = 300.0  # loading MiniLM, and each wait between two runs
_GRACE_S = 120.0
_GO_TIMEOUT_S = 3600.0  # an encoder waits this long at most while the machine is not quiet


class EncoderFailed(RuntimeError):
    """An in-process MiniLM encoder died or stopped answering."""


@dataclass(frozen=True)
class IrisCeiling:
    """Median latencies of one call on one row, in milliseconds."""

    predict_ms: float
    predict_proba_ms: float
    both_ms: float


@dataclass(frozen=True)
class EncodeRate:
    """Sentences per second of all processes together: the median over runs, and each run."""

    batch_size: int
    sentences_per_s: float
    runs: tuple[float, ...]


@dataclass(frozen=True)
class EncoderShape:
    processes: int
    threads: int

    def __str__(self) -> str:
        plural = "es" if self.processes > 1 else ""
        return f"{self.processes} process{plural} x {self.threads} torch thread(s)"


@dataclass(frozen=True)
class MinilmCeiling:
    shape: EncoderShape
    rates: tuple[EncodeRate, ...]
    cpu: CpuUse

    @property
    def best(self) -> EncodeRate:
        return max(self.rates, key=lambda rate: rate.sentences_per_s)


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


def iris_ceiling(
    artifact: Path, row: Sequence[float], budget_s: float, meter: NoiseMeter
) -> IrisCeiling:
    """``budget_s`` seconds of calls for each of the three measurements."""
    model = skops.io.load(artifact, trusted=skops.io.get_untrusted_types(file=artifact))
    features = np.asarray([row], dtype=np.float64)

    def both() -> None:
        model.predict(features)
        model.predict_proba(features)

    calls = {
        "predict": lambda: model.predict(features),
        "predict_proba": lambda: model.predict_proba(features),
        "both": both,
    }
    medians: dict[str, float] = {}
    for name, call in calls.items():
        meter.settle()
        medians[name] = _median_latency_ms(call, budget_s)
    return IrisCeiling(medians["predict"], medians["predict_proba"], medians["both"])


def _timed_encode(
    encode: Callable[[list[str]], None], batches: list[list[str]], budget_s: float
) -> tuple[int, float]:
    encoded, calls = 0, 0
    started = time.perf_counter()
    while calls < _MAX_CALLS and (calls == 0 or time.perf_counter() - started < budget_s):
        batch = batches[calls % len(batches)]
        encode(batch)
        encoded, calls = encoded + len(batch), calls + 1
    return encoded, time.perf_counter() - started


def _encoder_main(
    directory: str,
    texts: list[str],
    threads: int,
    plan: tuple[tuple[int, ...], float, int],
    commands: Any,
    results: Any,
) -> None:
    """One encoding process. Before every timed run it reports ``ready`` and waits for ``go``,
    so all encoders run at the same time; after it, it reports ``done`` with the batch size, the
    sentences encoded and the seconds it took."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    batch_sizes, budget_s, repetitions = plan
    torch.set_num_threads(threads)
    model = SentenceTransformer(directory, device="cpu", local_files_only=True)

    def encode(batch: list[str]) -> None:
        model.encode(
            batch,
            batch_size=len(batch),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )

    for size in batch_sizes:
        batches = [texts[i : i + size] for i in range(0, len(texts) - size + 1, size)] or [texts]
        encode(batches[0])  # warm-up: the first call at a new shape allocates
        for _ in range(repetitions):
            results.put(("ready",))
            commands.get(timeout=_GO_TIMEOUT_S)
            results.put(("done", size, *_timed_encode(encode, batches, budget_s)))


def minilm_ceiling(
    directory: Path,
    texts: Sequence[str],
    shape: EncoderShape,
    batch_sizes: Sequence[int],
    budget_s: float,
    repetitions: int,
    meter: NoiseMeter,
) -> MinilmCeiling:
    """Sentences per second of ``shape.processes`` encoders running at once, at each batch size
    (median of ``repetitions`` runs of ``budget_s`` seconds)."""
    context = multiprocessing.get_context("spawn")
    commands, results = context.Queue(), context.Queue()
    plan = (tuple(batch_sizes), budget_s, repetitions)
    processes = [
        context.Process(
            target=_encoder_main,
            args=(str(directory), list(texts), shape.threads, plan, commands, results),
            daemon=True,
        )
        for _ in range(shape.processes)
    ]
    for process in processes:
        process.start()
    try:
        runs = len(batch_sizes) * repetitions
        per_size, cpu = _drive(processes, commands, results, runs, meter)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    rates = tuple(
        EncodeRate(size, statistics.median(per_size[size]), tuple(per_size[size]))
        for size in batch_sizes
    )
    return MinilmCeiling(shape, rates, cpu)


class _Mailbox:
    """Messages from the encoders, taken by kind: a fast encoder may report ``ready`` for its
    next run before a slow one has reported its result."""

    def __init__(self, results: Any, processes: list[Any]) -> None:
        self._results = results
        self._processes = processes
        self._waiting: list[tuple[Any, ...]] = []

    def take(self, kind: str, count: int) -> list[tuple[Any, ...]]:
        """``count`` messages of ``kind``; fails if an encoder dies or all go silent."""
        deadline = time.monotonic() + _LOAD_TIMEOUT_S + _GRACE_S
        while sum(message[0] == kind for message in self._waiting) < count:
            if time.monotonic() > deadline or not all(p.is_alive() for p in self._processes):
                raise EncoderFailed(
                    "an in-process MiniLM encoder died or stalled; its error is printed above"
                )
            with contextlib.suppress(queue.Empty):
                self._waiting.append(self._results.get(timeout=1))
        taken = [message for message in self._waiting if message[0] == kind][:count]
        for message in taken:
            self._waiting.remove(message)
        return taken


def _drive(
    processes: list[Any], commands: Any, results: Any, runs: int, meter: NoiseMeter
) -> tuple[dict[int, list[float]], CpuUse]:
    """Start the encoders run by run, once they are ready and the machine is quiet."""
    pids = [process.pid for process in processes]
    mailbox = _Mailbox(results, processes)
    per_size: dict[int, list[float]] = defaultdict(list)
    uses: list[CpuUse] = []
    for _ in range(runs):
        mailbox.take("ready", len(processes))
        meter.settle()
        before = meter.sample(pids)
        for _ in processes:
            commands.put("go")
        reports = mailbox.take("done", len(processes))
        uses.append(cpu_use(before, meter.sample(pids)))
        elapsed = max(report[3] for report in reports)
        per_size[reports[0][1]].append(sum(report[2] for report in reports) / elapsed)
    return per_size, average_use(uses)


def average_use(uses: Sequence[CpuUse]) -> CpuUse:
    if not uses:
        return CpuUse(0.0, 0.0)
    return CpuUse(
        statistics.fmean(use.ours for use in uses), statistics.fmean(use.others for use in uses)
    )
