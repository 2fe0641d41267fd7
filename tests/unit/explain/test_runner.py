from __future__ import annotations

import asyncio

import numpy as np
import pytest

from modelmart.arrays import Batch
from modelmart.explain.kernel_shap import Background, Feature, KernelShapExplainer
from modelmart.explain.runner import explain_batch
from tests.unit.explain.fakes import LinearRegressor


def test_each_instance_is_explained_with_its_probes_sent_in_chunks() -> None:
    model = LinearRegressor(np.array([1.0, 2.0, 3.0]))
    calls: list[int] = []

    async def predict(batch: Batch) -> Batch:
        calls.append(len(batch["input"]))
        return model(batch)

    explainer = KernelShapExplainer(
        Background({"input": np.zeros((4, 3))}, np.full(4, 0.25)),
        [Feature(f"f{j}", "input", j) for j in range(3)],
        ["prediction"],
        256,
    )
    batch = {"input": np.array([[1.0, 1.0, 1.0], [2.0, 0.0, -1.0]])}
    explained = asyncio.run(explain_batch(explainer, batch, predict, probe_batch_rows=10))
    assert explained.outputs["prediction"].tolist() == [6.0, -1.0]
    assert [e.attributions.tolist() for e in explained.explanations] == [
        pytest.approx([1.0, 2.0, 3.0]),
        pytest.approx([2.0, 0.0, -3.0]),
    ]
    # The predictions, then each instance's (6 + 2) x 4 = 32 probes in chunks of 10.
    assert calls == [2, 10, 10, 10, 2, 10, 10, 10, 2]
