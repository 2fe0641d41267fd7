"""What the models do with no server at all: the in-process batched ceiling and the memory a
loaded model takes.

Both run the shared compute of bench/peers/models.py in fresh processes of this
environment. The ceiling runs the workload's shape (``workers`` processes, ``threads``
threads each) on batches of several sizes, every process at once, and counts requests per
second: parsing the request bodies (base64 and JPEG decoding included) and the model call,
no HTTP, no JSON. The footprint is the proportional set size of a process that imported what
the model needs, loaded it and answered one request.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import suite
from peers import models

_SPAWN = multiprocessing.get_context("spawn")
_START_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Ceiling:
    workload: str
    batch_size: int
    requests_per_s: float
    rates: tuple[tuple[int, float], ...]  # every batch size tried, and its rate


def _parsed(workload: suite.Workload, files: Path, threads: int) -> tuple[Any, list[Any]]:
    model = models.load(workload.key, files, threads)
    inputs = [model.parse(body) for body in workload.bodies(workload.modelmart.deployment)]
    return model, inputs


def _encode_worker(
    key: str, files: Path, threads: int, batch: int, budget_s: float, barrier: Barrier, out: Any
) -> None:
    (workload,) = suite.by_key([key])
    model, bodies = _parsed(workload, files, threads)
    batches = [
        [bodies[(start + i) % len(bodies)] for i in range(batch)]
        for start in range(0, len(bodies), batch)
    ]
    model(batches[0])  # warm-up: first-call allocations and lazy initialisation
    barrier.wait(timeout=_START_TIMEOUT_S)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < budget_s:
        for items in batches:
            model(items)
            done += len(items)
    out.put(done / (time.perf_counter() - started))


def _rate(workload: suite.Workload, files: Path, batch: int, budget_s: float) -> float:
    shape = workload.shape
    barrier = _SPAWN.Barrier(shape.workers)
    out = _SPAWN.Queue()
    workers = [
        _SPAWN.Process(
            target=_encode_worker,
            args=(workload.key, files, shape.threads, batch, budget_s, barrier, out),
        )
        for _ in range(shape.workers)
    ]
    for worker in workers:
        worker.start()
    rates = [out.get(timeout=_START_TIMEOUT_S + budget_s * 10) for _ in workers]
    for worker in workers:
        worker.join()
    return float(sum(rates))


def ceiling(
    workload: suite.Workload, files: Path, batch_sizes: Sequence[int], budget_s: float
) -> Ceiling:
    """The best requests/s over ``batch_sizes`` (each at most the workload's batch limit)."""
    sizes = sorted({min(size, workload.shape.max_batch) for size in batch_sizes})
    rates = tuple((size, _rate(workload, files, size, budget_s)) for size in sizes)
    best_size, best = max(rates, key=lambda pair: pair[1])
    return Ceiling(workload.key, best_size, best, rates)


def footprint_mb(workload: suite.Workload, files: Path, folder: Path) -> float:
    """PSS of a fresh process holding one copy of the workload's model, after one request."""
    body = folder / f"{workload.key}-footprint.json"
    body.write_text(json.dumps(workload.bodies(workload.modelmart.deployment)[0]), "utf-8")
    script = Path(models.__file__).with_name("footprint.py")
    command = [sys.executable, str(script), workload.key, str(files), str(workload.shape.threads)]
    completed = subprocess.run(
        [*command, str(body)], capture_output=True, text=True, timeout=_START_TIMEOUT_S, check=True
    )
    return float(completed.stdout.split()[-1])
