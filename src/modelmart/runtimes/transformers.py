"""Text models from local Hugging Face and sentence-transformers directories.

Nothing is downloaded: every load passes ``local_files_only=True`` and never trusts remote
code. Weights must be safetensors; a directory holding only pickled weights (``*.bin``,
``*.pt``) is refused, because unpickling can run arbitrary code.

What is served depends on the format and the version's task:

==========================  ====================  =========================================
format                      task                  outputs (input: ``text`` BYTES [-1])
==========================  ====================  =========================================
sentence_transformers       embedding or custom   ``embedding`` FP32 [-1, dim]
transformers                text-classification   ``label`` BYTES [-1], ``scores`` FP32
                                                  [-1, num_labels] (softmax)
transformers                embedding             ``embedding`` FP32 [-1, hidden] (mean of
                                                  token states under the attention mask)
==========================  ====================  =========================================

Parameters: ``normalize`` (bool, default True) scales embeddings to unit length;
``max_length`` (default 256) truncates inputs, in tokens; ``threads`` as for the torch runtime.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from modelmart.arrays import Batch
from modelmart.errors import (
    InvalidArtifact,
    UnsafeFormat,
    UnsupportedFormat,
)
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.parameters import bool_parameter, positive_int_parameter, texts
from modelmart.runtimes.signatures import reconcile
from modelmart.runtimes.torch import apply_thread_count
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, Task, TensorSpec

DEFAULT_MAX_LENGTH = 256
PICKLED_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_TEXT = TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,))


class _Head(Protocol):
    """A loaded model behind one task: texts in, named arrays out."""

    signature: Signature

    def __call__(self, texts: list[str]) -> Batch: ...


class TransformersRuntime(Runtime):
    """Serves one sentence-transformers or Hugging Face text model on the CPU."""

    name = RuntimeName.TRANSFORMERS
    _head: _Head | None = None

    def load(self, request: LoadRequest) -> None:
        opener = _OPENERS.get((request.format, request.task))
        if opener is None:
            raise UnsupportedFormat(
                f"the transformers runtime cannot serve format {request.format.value} with task "
                f"{request.task.value}; it serves {_supported_pairs()}"
            )
        if not request.path.is_dir():
            raise InvalidArtifact(
                f"{request.format.value} artifacts are directories, but {request.path.name} is "
                "not one; upload the saved model directory as an archive"
            )
        apply_thread_count(request.parameters)
        # Progress bars on stderr are noise in a server's logs.
        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        head = opener(request.path, request.parameters)
        self._signature = reconcile(request.signature, head.signature)
        self._head = head

    def predict(self, batch: Batch) -> Batch:
        return self._require(self._head)(texts(batch["text"]))

    def unload(self) -> None:
        self._head = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        return {
            **super().metadata,
            "transformers_version": transformers.__version__,
            "sentence_transformers_version": sentence_transformers.__version__,
            "torch_version": torch.__version__,
            "device": "cpu",
        }


@dataclass
class _SentenceEmbedder:
    model: Any
    normalize: bool
    signature: Signature

    def __call__(self, texts: list[str]) -> Batch:
        embeddings = self.model.encode(
            texts,
            batch_size=max(len(texts), 1),
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=False,
        )
        return {"embedding": np.asarray(embeddings, dtype=np.float32)}


@dataclass
class _Tokenizing:
    """Shared by the heads that run a Hugging Face model directly."""

    tokenizer: Any
    model: Any
    max_length: int

    def _encode(self, texts: list[str]) -> Any:
        inputs = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        with torch.inference_mode():
            return inputs, self.model(**inputs)


@dataclass
class _TextClassifier(_Tokenizing):
    signature: Signature

    def __call__(self, texts: list[str]) -> Batch:
        _, outputs = self._encode(texts)
        scores = torch.softmax(outputs.logits.float(), dim=-1).numpy()
        names = self.model.config.id2label
        labels = np.array([str(names[int(index)]) for index in scores.argmax(axis=-1)], object)
        return {"label": labels, "scores": scores.astype(np.float32)}


@dataclass
class _MeanPooledEncoder(_Tokenizing):
    signature: Signature
    normalize: bool

    def __call__(self, texts: list[str]) -> Batch:
        inputs, outputs = self._encode(texts)
        mask = inputs["attention_mask"].unsqueeze(-1).to(outputs.last_hidden_state.dtype)
        summed = (outputs.last_hidden_state * mask).sum(dim=1)
        pooled = summed / mask.sum(dim=1).clamp(min=1e-9)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return {"embedding": pooled.float().numpy()}


def _open_sentence_transformer(path: Path, parameters: Mapping[str, Any]) -> _Head:
    module_paths = _sentence_transformer_modules(path)
    for folder in (path, *module_paths):
        _refuse_pickled_weights(folder)
    model = SentenceTransformer(
        str(path),
        device="cpu",
        local_files_only=True,
        trust_remote_code=False,
        model_kwargs={"use_safetensors": True},
    )
    max_length = positive_int_parameter(parameters, "max_length")
    if max_length is not None:
        model.max_seq_length = max_length
    dimension = model.get_embedding_dimension()
    if dimension is None:
        raise InvalidArtifact(
            f"{path.name} does not say how long its embeddings are; add a Pooling module "
            "(sentence_transformers.models.Pooling) so its output has a fixed size"
        )
    embedding = TensorSpec(name="embedding", datatype=Datatype.FP32, shape=(-1, dimension))
    signature = Signature(inputs=(_TEXT,), outputs=(embedding,))
    return _SentenceEmbedder(model, _normalize(parameters), signature)


def _sentence_transformer_modules(path: Path) -> list[Path]:
    """The existing folders of the modules in ``modules.json``. Refuses module types from
    outside sentence-transformers (loading one imports whatever class the file names) and
    module paths that leave the directory."""
    listing = path / "modules.json"
    if not listing.is_file():
        raise InvalidArtifact(
            f"{path.name} has no modules.json, so it is not a sentence-transformers directory; "
            "save it with SentenceTransformer.save, or upload it as format transformers"
        )
    modules = json.loads(listing.read_text(encoding="utf-8"))
    foreign = [m["type"] for m in modules if not m["type"].startswith("sentence_transformers.")]
    if foreign:
        raise UnsafeFormat(
            f"modules.json names classes outside sentence-transformers ({', '.join(foreign)}); "
            "loading them would import arbitrary code, so use built-in modules only"
        )
    folders = [(path / m["path"]).resolve() for m in modules if m.get("path")]
    outside = [str(folder) for folder in folders if not folder.is_relative_to(path.resolve())]
    if outside:
        raise UnsafeFormat(
            f"modules.json points outside the model directory ({', '.join(outside)}); "
            "keep every module in a subfolder of the directory"
        )
    # Modules without weights (Normalize) may have no folder at all.
    return [folder for folder in folders if folder.is_dir()]


def _open_hugging_face(path: Path, model_class: Any) -> tuple[Any, Any]:
    if not (path / "config.json").is_file():
        raise InvalidArtifact(
            f"{path.name} has no config.json; save the model with save_pretrained and upload "
            "the whole directory"
        )
    _refuse_pickled_weights(path)
    if not any(path.glob("*.safetensors")):
        raise InvalidArtifact(
            f"{path.name} holds no *.safetensors weights; save the model with "
            "save_pretrained(..., safe_serialization=True)"
        )
    options = {"local_files_only": True, "trust_remote_code": False}
    tokenizer = AutoTokenizer.from_pretrained(str(path), **options)
    model = model_class.from_pretrained(str(path), use_safetensors=True, **options)
    model.eval()
    return tokenizer, model


def _open_text_classifier(path: Path, parameters: Mapping[str, Any]) -> _Head:
    tokenizer, model = _open_hugging_face(path, AutoModelForSequenceClassification)
    outputs = (
        TensorSpec(name="label", datatype=Datatype.BYTES, shape=(-1,)),
        TensorSpec(name="scores", datatype=Datatype.FP32, shape=(-1, int(model.config.num_labels))),
    )
    signature = Signature(inputs=(_TEXT,), outputs=outputs)
    return _TextClassifier(tokenizer, model, _max_length(parameters, tokenizer), signature)


def _open_mean_pooled_encoder(path: Path, parameters: Mapping[str, Any]) -> _Head:
    tokenizer, model = _open_hugging_face(path, AutoModel)
    hidden = int(model.config.hidden_size)
    embedding = TensorSpec(name="embedding", datatype=Datatype.FP32, shape=(-1, hidden))
    signature = Signature(inputs=(_TEXT,), outputs=(embedding,))
    max_length = _max_length(parameters, tokenizer)
    return _MeanPooledEncoder(tokenizer, model, max_length, signature, _normalize(parameters))


def _refuse_pickled_weights(folder: Path) -> None:
    """Refuse a folder whose weights exist only as pickles (safetensors beside them win)."""
    if any(folder.glob("*.safetensors")):
        return
    pickled = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLED_WEIGHT_SUFFIXES)
    if pickled:
        raise UnsafeFormat(
            f"{folder.name} holds weights only as pickles ({', '.join(pickled)}); unpickling "
            "can run arbitrary code, so re-save them as safetensors "
            "(save_pretrained(..., safe_serialization=True))",
            details={"pickled_files": pickled},
        )


def _max_length(parameters: Mapping[str, Any], tokenizer: Any) -> int:
    requested = positive_int_parameter(parameters, "max_length") or DEFAULT_MAX_LENGTH
    # Tokenizers without a recorded limit report a huge sentinel, so min() is safe.
    return min(requested, int(tokenizer.model_max_length))


def _normalize(parameters: Mapping[str, Any]) -> bool:
    return bool_parameter(parameters, "normalize", default=True)


_OPENERS: dict[tuple[ArtifactFormat, Task], Callable[[Path, Mapping[str, Any]], _Head]] = {
    (ArtifactFormat.SENTENCE_TRANSFORMERS, Task.EMBEDDING): _open_sentence_transformer,
    (ArtifactFormat.SENTENCE_TRANSFORMERS, Task.CUSTOM): _open_sentence_transformer,
    (ArtifactFormat.TRANSFORMERS, Task.TEXT_CLASSIFICATION): _open_text_classifier,
    (ArtifactFormat.TRANSFORMERS, Task.EMBEDDING): _open_mean_pooled_encoder,
}


def _supported_pairs() -> str:
    return ", ".join(f"{fmt.value} with task {task.value}" for fmt, task in _OPENERS)
