"""Text encoders exported to ONNX, tokenized with their Hugging Face fast tokenizer.

The artifact is a directory holding ``model.onnx`` (a transformer encoder whose inputs are
some of ``input_ids``, ``attention_mask`` and ``token_type_ids``, integer ``[batch, sequence]``,
and whose first output is the last hidden state ``[batch, sequence, dim]``) and
``tokenizer.json`` (written by ``tokenizers`` or ``save_pretrained``).

Served signature: ``text`` BYTES [-1] in; ``embedding`` FP32 [-1, dim] (the mean of the token
states under the attention mask, as sentence-transformers pools) and ``tokens`` INT64 [-1]
(tokens per input, special tokens included, padding not: usage is metered from it) out.

A text *classifier* is the same directory whose graph pools and classifies inside: it has the
outputs ``label`` (string [batch]) and ``probabilities`` (float [batch, n_classes]), which are
served as computed (``label`` BYTES [-1], ``probabilities`` FP32 [-1, n_classes]) beside
``tokens``. ModelMart's text trainers export this shape.

Parameters: ``normalize`` (bool, default True) scales embeddings to unit length;
``max_length`` (default 256) truncates inputs, in tokens; ``threads`` as for the ONNX runtime.
Each batch is padded to its longest input, whatever padding ``tokenizer.json`` records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import tokenizers
from tokenizers import Tokenizer

from modelmart.arrays import Array, Batch
from modelmart.errors import InvalidArtifact, InvalidRequest, UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.onnx import session_options
from modelmart.runtimes.parameters import bool_parameter, texts
from modelmart.runtimes.signatures import reconcile
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

DEFAULT_MAX_LENGTH = 256
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
FEEDABLE_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_INTEGER_TYPES: dict[str, np.dtype[Any]] = {
    "tensor(int64)": np.dtype(np.int64),
    "tensor(int32)": np.dtype(np.int32),
}
_FLOAT_TYPES = frozenset({"tensor(float)", "tensor(float16)", "tensor(double)"})
_PAD_TOKENS = ("[PAD]", "<pad>")
_TEXT = TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,))
_TOKENS = TensorSpec(name="tokens", datatype=Datatype.INT64, shape=(-1,))


class OnnxTextRuntime(Runtime):
    """Serves one ONNX text encoder directory on onnxruntime's CPU execution provider."""

    name = RuntimeName.ONNX_TEXT
    label = "ONNX text"
    _encoder: Callable[[list[str]], Batch] | None = None

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.ONNX_TEXT:
            raise UnsupportedFormat(
                f"the ONNX text runtime loads {ArtifactFormat.ONNX_TEXT.value} directories, not "
                f"{request.format.value}; upload a directory of {MODEL_FILE} and {TOKENIZER_FILE}"
            )
        model_path, tokenizer_path = _artifact_files(request.path)
        max_length = _max_length(request.parameters)
        session = _open_session(model_path, request.parameters)
        if _is_classifier(session):
            self._load_classifier(request, session, _open_tokenizer(tokenizer_path, max_length))
            return
        encoder = _Encoder(
            session=session,
            tokenizer=_open_tokenizer(tokenizer_path, max_length),
            feeds=_feedable_inputs(session),
            hidden_state=_hidden_state_output(session),
            normalize=_normalize(request.parameters),
        )
        dim = _probe_dimension(encoder, max_length)
        embedding = TensorSpec(name="embedding", datatype=Datatype.FP32, shape=(-1, dim))
        derived = Signature(inputs=(_TEXT,), outputs=(embedding, _TOKENS))
        self._signature = reconcile(request.signature, derived)
        self._encoder = encoder

    def _load_classifier(self, request: LoadRequest, session: Any, tokenizer: Any) -> None:
        classifier = _Classifier(session, tokenizer, _feedable_inputs(session))
        n_classes = len(classifier(["probe"])["probabilities"][0])
        outputs = (
            TensorSpec(name="label", datatype=Datatype.BYTES, shape=(-1,)),
            TensorSpec(name="probabilities", datatype=Datatype.FP32, shape=(-1, n_classes)),
            _TOKENS,
        )
        self._signature = reconcile(request.signature, Signature(inputs=(_TEXT,), outputs=outputs))
        self._encoder = classifier

    def predict(self, batch: Batch) -> Batch:
        return self._require(self._encoder)(texts(batch["text"]))

    def unload(self) -> None:
        self._encoder = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        return {
            **super().metadata,
            "onnxruntime_version": ort.__version__,
            "tokenizers_version": tokenizers.__version__,
            "device": "cpu",
        }


@dataclass
class _Encoder:
    """Tokenizes a batch, runs the graph and mean-pools its last hidden state."""

    session: Any
    tokenizer: Any
    feeds: dict[str, np.dtype[Any]]
    hidden_state: str
    normalize: bool
    dim: int = 0  # measured by the probe at load

    def __call__(self, texts: list[str]) -> Batch:
        if not texts:  # the tokenizer cannot pad an empty batch to a width; nothing to run
            empty = np.zeros((0, self.dim), np.float32)
            return {"embedding": empty, "tokens": np.zeros(0, np.int64)}
        encodings = self.tokenizer.encode_batch(texts)
        columns = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        feed = {name: columns[name].astype(dtype) for name, dtype in self.feeds.items()}
        (hidden,) = self.session.run([self.hidden_state], feed)
        mask = columns["attention_mask"]
        return {"embedding": self._pool(np.asarray(hidden), mask), "tokens": mask.sum(axis=1)}

    def _pool(self, hidden: Array, mask: Array) -> Array:
        weights = mask[:, :, np.newaxis].astype(np.float32)
        summed = (hidden.astype(np.float32) * weights).sum(axis=1)
        pooled: Array = summed / np.clip(weights.sum(axis=1), 1e-9, None)
        if self.normalize:
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.astype(np.float32)


@dataclass
class _Classifier:
    """Tokenizes a batch and returns the graph's own label and probabilities."""

    session: Any
    tokenizer: Any
    feeds: dict[str, np.dtype[Any]]

    def __call__(self, texts: list[str]) -> Batch:
        if not texts:
            (n_classes,) = (
                o.shape[1] for o in self.session.get_outputs() if o.name == "probabilities"
            )
            return {
                "label": np.zeros(0, dtype=object),
                "probabilities": np.zeros((0, n_classes), np.float32),
                "tokens": np.zeros(0, np.int64),
            }
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        columns = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        feed = {name: columns[name].astype(dtype) for name, dtype in self.feeds.items()}
        label, probabilities = self.session.run(["label", "probabilities"], feed)
        return {
            "label": np.asarray(label, dtype=object),
            "probabilities": np.asarray(probabilities, dtype=np.float32),
            "tokens": mask.sum(axis=1),
        }


def _is_classifier(session: Any) -> bool:
    return {"label", "probabilities"} <= {arg.name for arg in session.get_outputs()}


def _artifact_files(directory: Path) -> tuple[Path, Path]:
    missing = [name for name in (MODEL_FILE, TOKENIZER_FILE) if not (directory / name).is_file()]
    if missing:
        raise InvalidArtifact(
            f"the ONNX text encoder directory {directory.name} lacks {', '.join(missing)}; "
            f"it needs {MODEL_FILE} (the exported encoder) and {TOKENIZER_FILE} (its fast "
            "tokenizer, from tokenizer.save or save_pretrained)"
        )
    return directory / MODEL_FILE, directory / TOKENIZER_FILE


def _open_session(path: Path, parameters: Mapping[str, Any]) -> Any:
    options = session_options(parameters)
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors for any bad graph
        raise InvalidArtifact(
            f"{MODEL_FILE} is not a model onnxruntime can load ({exc}); check that the file is "
            "complete and was exported with torch.onnx.export or optimum"
        ) from exc


def _open_tokenizer(path: Path, max_length: int) -> Any:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers reports every parse failure as a plain Exception
        raise InvalidArtifact(
            f"{TOKENIZER_FILE} is not a fast tokenizer ({exc}); save it with "
            "tokenizer.save(...) or a transformers fast tokenizer's save_pretrained"
        ) from exc
    # tokenizer.json often records fixed-length padding (MiniLM's pads every input to 128);
    # padding each batch to its longest input gives the same embeddings for less work.
    recorded = tokenizer.padding or {}
    pad_token = recorded.get("pad_token") or next(
        (token for token in _PAD_TOKENS if tokenizer.token_to_id(token) is not None), "[PAD]"
    )
    tokenizer.enable_padding(
        pad_id=recorded.get("pad_id", tokenizer.token_to_id(pad_token) or 0),
        pad_type_id=recorded.get("pad_type_id", 0),
        pad_token=pad_token,
    )
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def _feedable_inputs(session: Any) -> dict[str, np.dtype[Any]]:
    """Graph input name -> the integer type it takes; refuses inputs we have nothing for."""
    feeds: dict[str, np.dtype[Any]] = {}
    unfeedable: list[str] = []
    for arg in session.get_inputs():
        dtype = _INTEGER_TYPES.get(arg.type)
        if arg.name in FEEDABLE_INPUTS and dtype is not None and len(arg.shape) == 2:
            feeds[arg.name] = dtype
        else:
            unfeedable.append(f"'{arg.name}' ({arg.type} {list(arg.shape)})")
    if unfeedable or "input_ids" not in feeds:
        raise InvalidArtifact(
            f"{MODEL_FILE} takes inputs ModelMart cannot feed "
            f"({', '.join(unfeedable) or 'no input_ids'}); a text encoder takes input_ids and "
            "optionally attention_mask and token_type_ids, int64 [batch, sequence], so "
            "re-export it with those inputs only"
        )
    return feeds


def _hidden_state_output(session: Any) -> str:
    """The name of the first output, checked to be a float [batch, sequence, dim] tensor."""
    first = session.get_outputs()[0]
    if first.type not in _FLOAT_TYPES or len(first.shape) != 3:
        raise InvalidArtifact(
            f"{MODEL_FILE}'s first output '{first.name}' is {first.type} {list(first.shape)}; "
            "expected the last hidden state, float [batch, sequence, dim], which this runtime "
            "mean-pools: export the encoder without its pooling head"
        )
    name: str = first.name
    return name


def _probe_dimension(encoder: _Encoder, max_length: int) -> int:
    """Run one input of ``max_length`` tokens: proves the graph runs at the longest input
    it will be sent (position tables are finite) and measures the embedding size."""
    probe = " ".join(["probe"] * max_length)
    try:
        embedding = encoder([probe])["embedding"]
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad inputs
        raise InvalidArtifact(
            f"{MODEL_FILE} failed on an input of {max_length} tokens ({exc}); if the model "
            "takes fewer positions, lower the parameter 'max_length'"
        ) from exc
    encoder.dim = int(embedding.shape[1])
    return encoder.dim


def _max_length(parameters: Mapping[str, Any]) -> int:
    value = parameters.get("max_length", DEFAULT_MAX_LENGTH)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(
            f"parameter 'max_length' is {value!r}; expected a positive integer number of "
            f"tokens such as {DEFAULT_MAX_LENGTH}"
        )
    return value


def _normalize(parameters: Mapping[str, Any]) -> bool:
    return bool_parameter(parameters, "normalize", default=True)
