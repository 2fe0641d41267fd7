"""Plain typed data shared by every stage and the SDK: tensor specs, signatures, formats.

Tensors use the Open Inference Protocol (v2) datatype names so that a signature maps onto the
v2 metadata route unchanged. Strings travel as ``BYTES`` tensors holding Python ``str`` objects.
The arrays themselves, and the NumPy dtype of each datatype, are in :mod:`modelmart.arrays`:
this module imports no NumPy, so the SDK can import it.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Datatype(StrEnum):
    BOOL = "BOOL"
    UINT8 = "UINT8"
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    FP16 = "FP16"
    FP32 = "FP32"
    FP64 = "FP64"
    BYTES = "BYTES"


class TensorSpec(BaseModel):
    """One named input or output. ``shape`` includes the batch dimension; -1 is any size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    datatype: Datatype
    shape: tuple[int, ...] = Field(min_length=1)

    @field_validator("shape")
    @classmethod
    def _dims_are_sizes_or_wildcards(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(dim < -1 or dim == 0 for dim in shape):
            raise ValueError(f"shape {list(shape)} may hold positive sizes or -1 (any size)")
        return shape


class Signature(BaseModel):
    """What a model version accepts and returns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: tuple[TensorSpec, ...] = Field(min_length=1)
    outputs: tuple[TensorSpec, ...] = Field(min_length=1)

    def input_named(self, name: str) -> TensorSpec | None:
        return next((spec for spec in self.inputs if spec.name == name), None)


class ArtifactFormat(StrEnum):
    """Safe serialisations a version may be uploaded as."""

    SKOPS = "skops"
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"
    TORCH_EXPORT = "torch_export"
    SENTENCE_TRANSFORMERS = "sentence_transformers"
    TRANSFORMERS = "transformers"
    ONNX_TEXT = "onnx_text"  # a directory: model.onnx + tokenizer.json (text in, vectors out)
    GGUF = "gguf"  # a llama.cpp model file: weights, tokenizer and chat template in one
    PACKAGE = "package"  # a reference to files an installed Python package ships (catalogue)


class RuntimeName(StrEnum):
    """One adapter per framework; each lives in ``modelmart.runtimes.<name>``."""

    SKLEARN = "sklearn"
    ONNX = "onnx"
    TORCH = "torch"
    TRANSFORMERS = "transformers"
    ONNX_TEXT = "onnx_text"
    VADER = "vader"
    LANGID = "langid"
    LLAMA_CPP = "llama_cpp"
    POCKETSPHINX = "pocketsphinx"
    HIBARI = "hibari"
    IMAGE_CLASSIFIER = "image_classifier"
    FACE_DETECTOR = "face_detector"
    FACE_EMBEDDER = "face_embedder"
    OCR = "ocr"
    PRESIDIO = "presidio"
    APERTIUM = "apertium"


RUNTIME_FOR_FORMAT: dict[ArtifactFormat, RuntimeName] = {
    ArtifactFormat.SKOPS: RuntimeName.SKLEARN,
    ArtifactFormat.ONNX: RuntimeName.ONNX,
    ArtifactFormat.TORCHSCRIPT: RuntimeName.TORCH,
    ArtifactFormat.TORCH_EXPORT: RuntimeName.TORCH,
    ArtifactFormat.SENTENCE_TRANSFORMERS: RuntimeName.TRANSFORMERS,
    ArtifactFormat.TRANSFORMERS: RuntimeName.TRANSFORMERS,
    ArtifactFormat.ONNX_TEXT: RuntimeName.ONNX_TEXT,
    ArtifactFormat.GGUF: RuntimeName.LLAMA_CPP,
}
"""Formats a user may upload; a PACKAGE reference names its runtime itself."""


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    EMBEDDING = "embedding"
    TEXT_CLASSIFICATION = "text-classification"
    SENTIMENT = "sentiment"
    LANGUAGE_IDENTIFICATION = "language-identification"
    CHAT = "chat"
    SPEECH_RECOGNITION = "speech-recognition"
    TEXT_TO_SPEECH = "text-to-speech"
    IMAGE_CLASSIFICATION = "image-classification"
    FACE_DETECTION = "face-detection"
    FACE_EMBEDDING = "face-embedding"
    OCR = "ocr"
    NAMED_ENTITIES = "named-entities"
    TRANSLATION = "translation"
    RECOMMENDATION = "recommendation"
    CUSTOM = "custom"
