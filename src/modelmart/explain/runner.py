"""One explain request: the predictions, then each instance's probes through the model, then
the attributions. The event loop only awaits; CPU work runs in worker threads."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from modelmart.arrays import Batch
from modelmart.explain.results import Explainer, InstanceExplanation, row

Predict = Callable[[Batch], Awaitable[Batch]]
"""The deployment's outputs for a batch of its inputs."""


@dataclass(frozen=True)
class ExplainedBatch:
    outputs: Batch
    explanations: list[InstanceExplanation]


async def explain_batch(
    explainer: Explainer, batch: Batch, predict: Predict, probe_batch_rows: int
) -> ExplainedBatch:
    outputs = await predict(batch)
    rows = len(next(iter(outputs.values()))) if outputs else 0
    explanations = []
    for index in range(rows):
        instance, answer = row(batch, index), row(outputs, index)
        probes = await asyncio.to_thread(explainer.probes, instance, answer)
        probe_outputs = None
        if probes is not None:
            probe_outputs = await predict_in_chunks(predict, probes, probe_batch_rows)
        explained = await asyncio.to_thread(explainer.explain, instance, answer, probe_outputs)
        explanations.append(explained)
    return ExplainedBatch(outputs, explanations)


async def predict_in_chunks(predict: Predict, probes: Batch, chunk_rows: int) -> Batch:
    """The model's outputs for ``probes``, asked ``chunk_rows`` rows at a time (one call of
    thousands of rows would hold an instance past its timeout and starve other requests)."""
    total = len(next(iter(probes.values())))
    parts = [
        await predict({n: a[start : start + chunk_rows] for n, a in probes.items()})
        for start in range(0, total, chunk_rows)
    ]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
