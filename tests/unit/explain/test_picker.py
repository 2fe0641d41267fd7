from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelmart.errors import NotExplainable
from modelmart.explain.picker import card_explanation, choose_method
from modelmart.schemas.registry import VersionInfo
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, Task, TensorSpec

TABLE = Signature(
    inputs=(TensorSpec(name="input", datatype=Datatype.FP32, shape=(-1, 4)),),
    outputs=(TensorSpec(name="probabilities", datatype=Datatype.FP32, shape=(-1, 3)),),
)
TEXT = Signature(
    inputs=(TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),),
    outputs=(TensorSpec(name="probabilities", datatype=Datatype.FP32, shape=(-1, 2)),),
)
IMAGE = Signature(
    inputs=(TensorSpec(name="image", datatype=Datatype.FP32, shape=(-1, 1, 28, 28)),),
    outputs=(TensorSpec(name="probabilities", datatype=Datatype.FP32, shape=(-1, 10)),),
)


def version(
    signature: Signature = TABLE,
    task: Task = Task.CLASSIFICATION,
    artifact_format: ArtifactFormat = ArtifactFormat.ONNX,
    parameters: dict[str, Any] | None = None,
) -> VersionInfo:
    return VersionInfo(
        model="m",
        version=2,
        format=artifact_format,
        runtime=RuntimeName.ONNX,
        task=task,
        signature=signature,
        parameters=parameters or {},
        metrics={},
        lineage={},
        artifact_digest="0" * 64,
        artifact_size=1,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (version(parameters={"explanation": {"linear": {}, "background": {}}}), "linear-shap"),
        (version(parameters={"explanation": {"background": {}}}), "kernel-shap"),
        (version(TEXT, Task.TEXT_CLASSIFICATION, ArtifactFormat.ONNX_TEXT), "token-occlusion"),
        (version(IMAGE, Task.IMAGE_CLASSIFICATION), "occlusion"),
        (version(artifact_format=ArtifactFormat.SKOPS), "tree-shap"),
    ],
)
def test_each_kind_of_model_gets_its_method(stored: VersionInfo, expected: str) -> None:
    assert choose_method(stored).method == expected
    method, reason = card_explanation(stored)
    assert method is not None
    assert method.startswith(expected)
    assert reason is None


def test_a_text_model_without_class_scores_is_not_offered_token_occlusion() -> None:
    top_one = Signature(
        inputs=TEXT.inputs,
        outputs=(
            TensorSpec(name="language", datatype=Datatype.BYTES, shape=(-1,)),
            TensorSpec(name="probability", datatype=Datatype.FP32, shape=(-1,)),
        ),
    )
    with pytest.raises(NotExplainable, match="class scores"):
        choose_method(version(top_one, Task.TEXT_CLASSIFICATION))
    scored = Signature(
        inputs=TEXT.inputs,
        outputs=(TensorSpec(name="scores", datatype=Datatype.FP32, shape=(-1, 3)),),
    )
    assert choose_method(version(scored, Task.SENTIMENT)).method == "token-occlusion"


def test_a_model_no_method_fits_is_refused_with_the_reason() -> None:
    bare = version()
    with pytest.raises(NotExplainable) as refused:
        choose_method(bare)
    assert refused.value.status == 422
    assert refused.value.code == "not_explainable"
    assert "no stored explanation background" in refused.value.message
    chat = version(TEXT, Task.CHAT, ArtifactFormat.GGUF)
    method, reason = card_explanation(chat)
    assert method is None
    assert reason is not None
    assert "generates text" in reason
