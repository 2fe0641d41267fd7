from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelmart.errors import InvalidArtifact, SchemaMismatch, UnsafeFormat
from modelmart.runtimes.base import LoadRequest, Runtime, inspect_artifact
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

Open = Callable[..., Runtime]


def inspect(path: Path, signature: Signature | None = None) -> Signature:
    request = LoadRequest(path=path, format=ArtifactFormat.SKOPS, signature=signature)
    return inspect_artifact(RuntimeName.SKLEARN, request)


def test_classifier_signature_is_derived_from_the_estimator(iris_skops: Path) -> None:
    signature = inspect(iris_skops)
    assert signature.inputs == (TensorSpec(name="input", datatype=Datatype.FP64, shape=(-1, 4)),)
    assert signature.outputs == (
        TensorSpec(name="label", datatype=Datatype.INT64, shape=(-1,)),
        TensorSpec(name="probabilities", datatype=Datatype.FP32, shape=(-1, 3)),
    )


def test_classifier_predicts_like_the_estimator(
    open_runtime: Open, iris_skops: Path, iris_classifier: LogisticRegression, iris: tuple
) -> None:
    features = iris[0][::30]
    outputs = open_runtime(iris_skops, ArtifactFormat.SKOPS).predict({"input": features})
    assert outputs["label"].dtype == np.int64
    np.testing.assert_array_equal(outputs["label"], iris_classifier.predict(features))
    assert outputs["probabilities"].dtype == np.float32
    assert outputs["probabilities"].shape == (len(features), 3)
    np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1.0, rtol=1e-5)


def test_string_labels_from_a_pipeline_travel_as_str_objects(
    open_runtime: Open, iris_names_pipeline_skops: Path, iris: tuple, iris_names: np.ndarray
) -> None:
    runtime = open_runtime(iris_names_pipeline_skops, ArtifactFormat.SKOPS)
    assert runtime.signature.outputs[0] == TensorSpec(
        name="label", datatype=Datatype.BYTES, shape=(-1,)
    )
    labels = runtime.predict({"input": iris[0]})["label"]
    assert labels.dtype == object
    assert all(type(label) is str for label in labels)
    assert np.mean(labels == iris_names[iris[1]]) > 0.9


def test_regressor_returns_fp64_predictions(open_runtime: Open, diabetes_skops: Path) -> None:
    runtime = open_runtime(diabetes_skops, ArtifactFormat.SKOPS)
    assert runtime.signature.inputs[0].shape == (-1, 10)
    assert runtime.signature.outputs == (
        TensorSpec(name="prediction", datatype=Datatype.FP64, shape=(-1,)),
    )
    predictions = runtime.predict({"input": np.zeros((3, 10))})["prediction"]
    assert predictions.shape == (3,)
    assert predictions.dtype == np.float64


def test_declared_fp32_input_is_accepted(open_runtime: Open, iris_skops: Path, iris: tuple) -> None:
    declared = inspect(iris_skops).model_copy(
        update={"inputs": (TensorSpec(name="input", datatype=Datatype.FP32, shape=(-1, 4)),)}
    )
    runtime = open_runtime(iris_skops, ArtifactFormat.SKOPS, signature=declared)
    assert runtime.signature.inputs[0].datatype is Datatype.FP32
    outputs = runtime.predict({"input": iris[0][:2].astype(np.float32)})
    assert outputs["label"].shape == (2,)


def test_declared_signature_with_wrong_feature_count_is_refused(iris_skops: Path) -> None:
    declared = inspect(iris_skops).model_copy(
        update={"inputs": (TensorSpec(name="input", datatype=Datatype.FP64, shape=(-1, 5)),)}
    )
    with pytest.raises(SchemaMismatch, match=r"declares shape \[-1, 5\] but the artifact takes"):
        inspect(iris_skops, declared)


def test_types_outside_sklearn_numpy_and_scipy_are_refused(untrusted_skops: Path) -> None:
    with pytest.raises(UnsafeFormat, match=r"_operator\.neg") as caught:
        inspect(untrusted_skops)
    assert caught.value.details["untrusted_types"] == ["_operator.neg"]


def test_truncated_file_is_an_invalid_artifact(
    iris_skops: Path, truncated: Callable[[Path], Path]
) -> None:
    with pytest.raises(InvalidArtifact, match="skops artifact could not be loaded"):
        inspect(truncated(iris_skops))


def test_metadata_names_the_estimator(open_runtime: Open, iris_skops: Path) -> None:
    metadata = open_runtime(iris_skops, ArtifactFormat.SKOPS).metadata
    assert metadata["runtime"] == "sklearn"
    assert metadata["estimator"] == "LogisticRegression"
