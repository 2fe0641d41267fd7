from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelmart.errors import InvalidArtifact, InvalidRequest, SchemaMismatch
from modelmart.runtimes.base import LoadRequest, Runtime, inspect_artifact
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

Open = Callable[..., Runtime]


def inspect(path: Path, signature: Signature | None = None) -> Signature:
    request = LoadRequest(path=path, format=ArtifactFormat.ONNX, signature=signature)
    return inspect_artifact(RuntimeName.ONNX, request)


def test_signature_comes_from_the_session(iris_onnx: Path) -> None:
    signature = inspect(iris_onnx)
    assert signature.inputs == (TensorSpec(name="X", datatype=Datatype.FP32, shape=(-1, 4)),)
    assert signature.outputs == (
        TensorSpec(name="label", datatype=Datatype.INT64, shape=(-1,)),
        TensorSpec(name="probabilities", datatype=Datatype.FP32, shape=(-1, 3)),
    )


def test_predicts_like_the_sklearn_model_from_fp64_input(
    open_runtime: Open, iris_onnx: Path, iris_classifier: LogisticRegression, iris: tuple
) -> None:
    runtime = open_runtime(iris_onnx, ArtifactFormat.ONNX, parameters={"threads": 1})
    features = iris[0][::10]
    outputs = runtime.predict({"X": features})
    np.testing.assert_array_equal(outputs["label"], iris_classifier.predict(features))
    np.testing.assert_allclose(
        outputs["probabilities"], iris_classifier.predict_proba(features), atol=1e-4
    )


def test_zipmap_probabilities_become_a_matrix(
    open_runtime: Open, iris_zipmap_onnx: Path, iris_classifier: LogisticRegression, iris: tuple
) -> None:
    runtime = open_runtime(iris_zipmap_onnx, ArtifactFormat.ONNX)
    assert runtime.signature.outputs[1] == TensorSpec(
        name="output_probability", datatype=Datatype.FP32, shape=(-1, -1)
    )
    features = iris[0][::25]
    probabilities = runtime.predict({"X": features})["output_probability"]
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, iris_classifier.predict_proba(features), atol=1e-4)


def test_declared_signature_may_narrow_the_batch(iris_onnx: Path) -> None:
    derived = inspect(iris_onnx)
    declared = derived.model_copy(
        update={"inputs": (TensorSpec(name="X", datatype=Datatype.FP32, shape=(8, 4)),)}
    )
    assert inspect(iris_onnx, declared).inputs[0].shape == (8, 4)


def test_declared_signature_with_other_names_is_refused(iris_onnx: Path) -> None:
    derived = inspect(iris_onnx)
    declared = derived.model_copy(
        update={"inputs": (TensorSpec(name="input", datatype=Datatype.FP32, shape=(-1, 4)),)}
    )
    with pytest.raises(SchemaMismatch, match="input 'input' is declared but the artifact has no"):
        inspect(iris_onnx, declared)


def test_threads_must_be_a_positive_integer(iris_onnx: Path) -> None:
    request = LoadRequest(path=iris_onnx, format=ArtifactFormat.ONNX, parameters={"threads": 0})
    with pytest.raises(InvalidRequest, match="parameter 'threads' is 0"):
        inspect_artifact(RuntimeName.ONNX, request)


def test_truncated_file_is_an_invalid_artifact(
    iris_onnx: Path, truncated: Callable[[Path], Path]
) -> None:
    with pytest.raises(InvalidArtifact, match="onnx artifact could not be loaded"):
        inspect(truncated(iris_onnx))
