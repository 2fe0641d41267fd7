from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from modelmart.arrays import Batch
from modelmart.explain.explainers import ExplainLimits, build_explainer
from modelmart.types import ArtifactFormat, Datatype, Signature, TensorSpec
from tests.unit.explain.test_picker import TABLE, version

LIMITS = ExplainLimits(max_instances=4, max_evaluations=256, probe_batch_rows=64)


def decode(rows: list[Any]) -> Batch:
    return {"input": np.asarray(rows, dtype=np.float32)}


def _no_artifact() -> Path:
    raise AssertionError("this method reads no artifact")


def test_an_upload_with_its_own_background_gets_kernel_shap() -> None:
    background = {"rows": [[0, 0, 0, 0], [1, 1, 1, 1]], "weights": [3, 1]}
    stored = version(parameters={"explanation": {"background": background}, "labels": ["a"]})
    explainer = build_explainer(stored, TABLE, LIMITS, _no_artifact, decode)
    assert explainer.method.name == "kernel-shap"
    probes = explainer.probes({"input": np.ones((1, 4), np.float32)}, {})
    assert probes is not None
    assert len(probes["input"]) == 16 * 2  # all 14 coalitions + empty + full, 2 rows each


def test_a_skops_tree_is_read_from_the_versions_artifact(tmp_path: Path) -> None:
    x, y = load_iris(return_X_y=True)
    path = tmp_path / "tree.skops"
    skops.io.dump(DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y), path)
    table = Signature(
        inputs=(TensorSpec(name="input", datatype=Datatype.FP64, shape=(-1, 4)),),
        outputs=TABLE.outputs,
    )
    stored = version(table, artifact_format=ArtifactFormat.SKOPS)
    explainer = build_explainer(stored, table, LIMITS, lambda: path, decode)
    explained = explainer.explain({"input": x[:1]}, {}, None)
    assert explainer.method.name == "tree-shap"
    assert explained.output_value == pytest.approx(1.0)  # a pure leaf: setosa for certain
