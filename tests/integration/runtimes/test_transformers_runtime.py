import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from modelmart.errors import InvalidArtifact, UnsafeFormat, UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime, inspect_artifact
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, Task, TensorSpec

Open = Callable[..., Runtime]

TEXT = TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,))


def texts(*items: str) -> dict[str, np.ndarray]:
    return {"text": np.array(items, dtype=object)}


def inspect(path: Path, artifact_format: ArtifactFormat, task: Task) -> Signature:
    request = LoadRequest(path=path, format=artifact_format, task=task)
    return inspect_artifact(RuntimeName.TRANSFORMERS, request)


def test_sentence_embeddings_place_paraphrases_closer_than_unrelated_text(
    open_runtime: Open, minilm_dir: Path
) -> None:
    runtime = open_runtime(
        minilm_dir,
        ArtifactFormat.SENTENCE_TRANSFORMERS,
        task=Task.EMBEDDING,
        parameters={"threads": 1},
    )
    assert runtime.signature == Signature(
        inputs=(TEXT,),
        outputs=(TensorSpec(name="embedding", datatype=Datatype.FP32, shape=(-1, 384)),),
    )
    embeddings = runtime.predict(
        texts("A cat sits on the mat.", "A kitten is sitting on a rug.", "Stock markets fell.")
    )["embedding"]
    assert embeddings.shape == (3, 384)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    similarity = embeddings @ embeddings.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3


def modules_listing(minilm_dir: Path, directory: Path, **changes: str) -> Path:
    """A directory holding only MiniLM's modules.json with its pooling module changed: the
    listing is checked before anything else is read."""
    modules = json.loads((minilm_dir / "modules.json").read_text())
    modules[1].update(changes)
    (directory / "modules.json").write_text(json.dumps(modules))
    return directory


def test_sentence_transformer_modules_from_other_packages_are_refused(
    minilm_dir: Path, tmp_path: Path
) -> None:
    directory = modules_listing(minilm_dir, tmp_path, type="evil_package.Backdoor")
    with pytest.raises(UnsafeFormat, match=r"evil_package\.Backdoor"):
        inspect(directory, ArtifactFormat.SENTENCE_TRANSFORMERS, Task.EMBEDDING)


def test_sentence_transformer_modules_outside_the_directory_are_refused(
    minilm_dir: Path, tmp_path: Path
) -> None:
    directory = modules_listing(minilm_dir, tmp_path, path="../elsewhere")
    with pytest.raises(UnsafeFormat, match="points outside the model directory"):
        inspect(directory, ArtifactFormat.SENTENCE_TRANSFORMERS, Task.EMBEDDING)


def test_text_classifier_returns_label_names_and_softmax_scores(
    open_runtime: Open, tiny_bert_dir: Path
) -> None:
    runtime = open_runtime(
        tiny_bert_dir,
        ArtifactFormat.TRANSFORMERS,
        task=Task.TEXT_CLASSIFICATION,
        parameters={"max_length": 8},
    )
    assert runtime.signature == Signature(
        inputs=(TEXT,),
        outputs=(
            TensorSpec(name="label", datatype=Datatype.BYTES, shape=(-1,)),
            TensorSpec(name="scores", datatype=Datatype.FP32, shape=(-1, 2)),
        ),
    )
    outputs = runtime.predict(texts("great film", "a very long review " * 50))
    assert outputs["label"].dtype == object
    assert set(outputs["label"]) <= {"negative", "positive"}
    assert outputs["scores"].shape == (2, 2)
    assert outputs["scores"].dtype == np.float32
    np.testing.assert_allclose(outputs["scores"].sum(axis=1), 1.0, rtol=1e-5)
    best = np.array(["negative", "positive"])[outputs["scores"].argmax(axis=1)]
    np.testing.assert_array_equal(outputs["label"], best)


def test_transformers_embedding_is_a_normalised_mean_of_token_states(
    open_runtime: Open, tiny_bert_dir: Path
) -> None:
    runtime = open_runtime(tiny_bert_dir, ArtifactFormat.TRANSFORMERS, task=Task.EMBEDDING)
    embeddings = runtime.predict(texts("short", "a somewhat longer sentence"))["embedding"]
    assert runtime.signature.outputs[0].shape == (-1, 16)
    assert embeddings.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)


def test_padding_does_not_change_an_embedding(open_runtime: Open, tiny_bert_dir: Path) -> None:
    runtime = open_runtime(
        tiny_bert_dir,
        ArtifactFormat.TRANSFORMERS,
        task=Task.EMBEDDING,
        parameters={"normalize": False},
    )
    alone = runtime.predict(texts("short"))["embedding"]
    padded = runtime.predict(texts("short", "a much longer sentence than the first"))["embedding"]
    np.testing.assert_allclose(alone[0], padded[0], atol=1e-5)


def test_pickled_weights_are_refused_with_safetensors_as_the_fix(pickled_bert_dir: Path) -> None:
    with pytest.raises(UnsafeFormat, match=r"pytorch_model\.bin.*safetensors"):
        inspect(pickled_bert_dir, ArtifactFormat.TRANSFORMERS, Task.TEXT_CLASSIFICATION)


def test_a_directory_without_config_is_an_invalid_artifact(tmp_path: Path) -> None:
    with pytest.raises(InvalidArtifact, match=r"no config\.json"):
        inspect(tmp_path, ArtifactFormat.TRANSFORMERS, Task.EMBEDDING)


def test_tasks_without_a_head_are_refused(tiny_bert_dir: Path) -> None:
    with pytest.raises(UnsupportedFormat, match="cannot serve format transformers with task"):
        inspect(tiny_bert_dir, ArtifactFormat.TRANSFORMERS, Task.REGRESSION)
