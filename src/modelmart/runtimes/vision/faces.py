"""Faces with dlib: detection (HOG + linear SVM) and 128-d embeddings (ResNet).

Both are package references: the detector is built into dlib, the embedder's directory holds
``landmarks.dat`` (5-point shape predictor) and ``recognition.dat`` (the ResNet), dlib's own
binary formats, which carry no code.

Detector signature: ``image`` BYTES [-1] in; ``boxes`` FP32 [-1, m, 4] (left, top, right,
bottom in pixels of the upright image, likeliest first), ``scores`` FP32 [-1, m] (the SVM's
margin; 0 is dlib's default threshold) and ``faces`` INT64 [-1] (how many slots are real)
out, with m the ``max_faces`` parameter (default 20).

Embedder signature: ``image`` BYTES [-1] in; ``embedding`` FP32 [-1, 128] (of the largest
face; zeros when none), ``box`` FP32 [-1, 4] and ``faces`` INT64 [-1] (faces found) out.
Two embeddings of one person lie less than 0.6 apart (Euclidean), by dlib's calibration.

Parameters of both: ``upsample`` (image doublings before detecting, default 1: finds faces
down to about 40 pixels) and ``max_pixels`` (per decoded image).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

import dlib
import numpy as np

from modelmart.arrays import Array, Batch
from modelmart.errors import InvalidRequest, UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.parameters import positive_int_parameter
from modelmart.runtimes.signatures import reconcile
from modelmart.runtimes.vision.images import MAX_PIXELS, each_image
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

EMBEDDING_DIM = 128
MAX_UPSAMPLE = 3
LANDMARKS_FILE = "landmarks.dat"
RECOGNITION_FILE = "recognition.dat"
_IMAGE = TensorSpec(name="image", datatype=Datatype.BYTES, shape=(-1,))

Detection = tuple[list[float], float]
"""A face's box (left, top, right, bottom) and its detector score."""


def detector_signature(max_faces: int) -> Signature:
    return Signature(
        inputs=(_IMAGE,),
        outputs=(
            TensorSpec(name="boxes", datatype=Datatype.FP32, shape=(-1, max_faces, 4)),
            TensorSpec(name="scores", datatype=Datatype.FP32, shape=(-1, max_faces)),
            TensorSpec(name="faces", datatype=Datatype.INT64, shape=(-1,)),
        ),
    )


EMBEDDER_SIGNATURE = Signature(
    inputs=(_IMAGE,),
    outputs=(
        TensorSpec(name="embedding", datatype=Datatype.FP32, shape=(-1, EMBEDDING_DIM)),
        TensorSpec(name="box", datatype=Datatype.FP32, shape=(-1, 4)),
        TensorSpec(name="faces", datatype=Datatype.INT64, shape=(-1,)),
    ),
)


def _require_package(request: LoadRequest, runtime: str) -> None:
    if request.format is not ArtifactFormat.PACKAGE:
        raise UnsupportedFormat(
            f"the {runtime} runtime serves the built-in catalogue's package reference, not a "
            f"{request.format.value} upload; deploy the catalogue's {runtime}"
        )


class _DlibFaces(Runtime):
    """What both face runtimes share: dlib's HOG detector, run on decoded RGB images."""

    _detector: Any = None

    def _load_detector(self, request: LoadRequest) -> None:
        self.upsample = _upsample(request.parameters)
        self.max_pixels = positive_int_parameter(request.parameters, "max_pixels") or MAX_PIXELS
        self._detector = dlib.get_frontal_face_detector()

    def _detect(self, pixels: Array) -> list[Detection]:
        """Every face in ``pixels``, likeliest first."""
        detector = self._require(self._detector)
        rectangles, scores, _ = detector.run(pixels, self.upsample, 0.0)
        found = [
            ([float(r.left()), float(r.top()), float(r.right()), float(r.bottom())], float(s))
            for r, s in zip(rectangles, scores, strict=True)
        ]
        return sorted(found, key=lambda detection: -detection[1])

    def unload(self) -> None:
        self._detector = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        return {**super().metadata, "dlib_version": importlib.metadata.version("dlib-bin")}


class FaceDetectorRuntime(_DlibFaces):
    name = RuntimeName.FACE_DETECTOR
    label = "face detector"

    def load(self, request: LoadRequest) -> None:
        _require_package(request, "face detector")
        self.max_faces = positive_int_parameter(request.parameters, "max_faces") or 20
        signature = reconcile(request.signature, detector_signature(self.max_faces))
        self._load_detector(request)
        self._signature = signature

    def predict(self, batch: Batch) -> Batch:
        self._require(self._detector)
        count = batch["image"].size  # boxes are in the sent image's pixels: decoded one by one
        images = each_image(batch["image"], self.max_pixels)
        boxes = np.zeros((count, self.max_faces, 4), dtype=np.float32)
        scores = np.zeros((count, self.max_faces), dtype=np.float32)
        faces = np.zeros(count, dtype=np.int64)
        for row, pixels in enumerate(images):
            found = self._detect(pixels)[: self.max_faces]
            faces[row] = len(found)
            for slot, (box, score) in enumerate(found):
                boxes[row, slot], scores[row, slot] = box, score
        return {"boxes": boxes, "scores": scores, "faces": faces}


class FaceEmbedderRuntime(_DlibFaces):
    name = RuntimeName.FACE_EMBEDDER
    label = "face embedder"
    _landmarks: Any = None
    _recognition: Any = None

    def load(self, request: LoadRequest) -> None:
        _require_package(request, "face embedder")
        signature = reconcile(request.signature, EMBEDDER_SIGNATURE)
        self._load_detector(request)
        self._landmarks = dlib.shape_predictor(str(request.path / LANDMARKS_FILE))
        self._recognition = dlib.face_recognition_model_v1(str(request.path / RECOGNITION_FILE))
        self._signature = signature

    def predict(self, batch: Batch) -> Batch:
        self._require(self._recognition)
        count = batch["image"].size
        images = each_image(batch["image"], self.max_pixels)
        embeddings = np.zeros((count, EMBEDDING_DIM), dtype=np.float32)
        boxes = np.zeros((count, 4), dtype=np.float32)
        faces = np.zeros(count, dtype=np.int64)
        for row, pixels in enumerate(images):
            found = self._detect(pixels)
            faces[row] = len(found)
            if found:
                box = max((box for box, _ in found), key=_area)
                boxes[row] = box
                embeddings[row] = self._embed(pixels, box)
        return {"embedding": embeddings, "box": boxes, "faces": faces}

    def _embed(self, pixels: Array, box: list[float]) -> Array:
        rectangle = dlib.rectangle(*(round(side) for side in box))
        shape = self._landmarks(pixels, rectangle)
        return np.asarray(self._recognition.compute_face_descriptor(pixels, shape))

    def unload(self) -> None:
        self._landmarks = None
        self._recognition = None
        super().unload()


def _upsample(parameters: Mapping[str, Any]) -> int:
    value = parameters.get("upsample", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UPSAMPLE:
        raise InvalidRequest(
            f"parameter 'upsample' is {value!r}; expected 0 to {MAX_UPSAMPLE} (each step doubles "
            "the image before detecting, finding faces half as large at four times the cost)"
        )
    return value


def _area(box: list[float]) -> float:
    left, top, right, bottom = box
    return (right - left) * (bottom - top)
