"""Text in images with PaddleOCR's PP-OCRv4 models, run by onnxruntime through RapidOCR.

A version is a package reference whose directory holds ``detection.onnx`` (finds text lines),
``orientation.onnx`` (turns upside-down lines round) and ``recognition.onnx`` (reads a line).
Served signature: ``image`` BYTES [-1] in; ``text`` BYTES [-1, n], ``boxes`` FP32 [-1, n, 4,
2] (each line's four corners, clockwise from top left, in pixels of the upright image),
``confidence`` FP32 [-1, n] and ``lines`` INT64 [-1] (how many slots are real, in reading
order: top to bottom, then left to right) out, with n the ``max_lines`` parameter (default
100).

Parameters: ``max_lines``, ``min_confidence`` (lines read with less are dropped; default 0.5,
RapidOCR's own) and ``max_pixels`` (per decoded image).
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from rapidocr_onnxruntime import RapidOCR

from modelmart.arrays import Array, Batch
from modelmart.errors import InvalidRequest, UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.parameters import positive_int_parameter
from modelmart.runtimes.signatures import reconcile
from modelmart.runtimes.vision.images import MAX_PIXELS, each_image
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

MODEL_FILES = {"det": "detection.onnx", "cls": "orientation.onnx", "rec": "recognition.onnx"}
DEFAULT_MIN_CONFIDENCE = 0.5

Line = tuple[str, list[list[float]], float]
"""One line of text: what it says, its four corners and the recogniser's confidence."""


def ocr_signature(max_lines: int) -> Signature:
    return Signature(
        inputs=(TensorSpec(name="image", datatype=Datatype.BYTES, shape=(-1,)),),
        outputs=(
            TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1, max_lines)),
            TensorSpec(name="boxes", datatype=Datatype.FP32, shape=(-1, max_lines, 4, 2)),
            TensorSpec(name="confidence", datatype=Datatype.FP32, shape=(-1, max_lines)),
            TensorSpec(name="lines", datatype=Datatype.INT64, shape=(-1,)),
        ),
    )


def _min_confidence(parameters: Mapping[str, Any]) -> float:
    value = parameters.get("min_confidence", DEFAULT_MIN_CONFIDENCE)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidRequest(f"parameter 'min_confidence' is {value!r}; expected 0 to 1")
    return float(value)


class OcrRuntime(Runtime):
    """Reads every line of text in each image; one RapidOCR pipeline per instance."""

    name = RuntimeName.OCR
    label = "OCR"
    _engine: Any = None

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.PACKAGE:
            raise UnsupportedFormat(
                f"the OCR runtime serves the built-in catalogue's package reference, not a "
                f"{request.format.value} upload; deploy the catalogue's ocr model"
            )
        parameters = request.parameters
        self.max_lines = positive_int_parameter(parameters, "max_lines") or 100
        self.max_pixels = positive_int_parameter(parameters, "max_pixels") or MAX_PIXELS
        self.min_confidence = _min_confidence(parameters)
        signature = reconcile(request.signature, ocr_signature(self.max_lines))
        paths = {f"{stage}_model_path": str(request.path / f) for stage, f in MODEL_FILES.items()}
        # One thread per CPU this worker may use: onnxruntime's default counts the machine's.
        threads = len(os.sched_getaffinity(0))
        self._engine = RapidOCR(
            **paths, intra_op_num_threads=threads, text_score=self.min_confidence
        )
        self._signature = signature

    def predict(self, batch: Batch) -> Batch:
        self._require(self._engine)
        rows = batch["image"].size  # boxes are in the sent image's pixels: decoded one by one
        images = each_image(batch["image"], self.max_pixels)
        text = np.full((rows, self.max_lines), "", dtype=object)
        boxes = np.zeros((rows, self.max_lines, 4, 2), dtype=np.float32)
        confidence = np.zeros((rows, self.max_lines), dtype=np.float32)
        lines = np.zeros(rows, dtype=np.int64)
        for row, pixels in enumerate(images):
            found = self._read(pixels)[: self.max_lines]
            lines[row] = len(found)
            for slot, (words, corners, score) in enumerate(found):
                text[row, slot], boxes[row, slot], confidence[row, slot] = words, corners, score
        return {"text": text, "boxes": boxes, "confidence": confidence, "lines": lines}

    def _read(self, pixels: Array) -> list[Line]:
        # RapidOCR takes arrays in OpenCV's channel order, blue first.
        result, _ = self._engine(np.ascontiguousarray(pixels[:, :, ::-1]))
        return [
            (str(words), [[float(x), float(y)] for x, y in corners], float(score))
            for corners, words, score in result or []
        ]

    def unload(self) -> None:
        self._engine = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        version = importlib.metadata.version("rapidocr-onnxruntime")
        return {**super().metadata, "rapidocr_version": version}
