"""The vision runtimes' parameters and refusals, with the real frameworks loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from modelmart.catalog.entry import CatalogEntry
from modelmart.catalog.vision_entries import (
    EFFICIENTNET_LITE0,
    FACE_DETECTOR,
    FACE_EMBEDDER,
    MOBILENET_V2,
    OCR,
)
from modelmart.catalog.vision_sets import encode, photo
from modelmart.errors import InvalidArtifact, InvalidRequest, NotReady, UnsupportedFormat
from modelmart.registry.packages import assemble
from modelmart.runtimes.base import LoadRequest, create_runtime
from modelmart.types import ArtifactFormat


def request_for(entry: CatalogEntry, path: Path, **parameters: Any) -> LoadRequest:
    return LoadRequest(
        path, entry.manifest.format, entry.task, None, {**entry.parameters, **parameters}
    )


@pytest.mark.parametrize(
    "entry", [MOBILENET_V2, FACE_DETECTOR, FACE_EMBEDDER, OCR], ids=lambda e: e.name
)
def test_uploads_are_refused_with_the_catalogue_model_named(entry: CatalogEntry) -> None:
    runtime = create_runtime(entry.manifest.runtime)
    with pytest.raises(UnsupportedFormat, match="not a onnx upload; deploy"):
        runtime.load(LoadRequest(Path("/nonexistent"), ArtifactFormat.ONNX))
    with pytest.raises(NotReady, match="has no model loaded"):
        runtime.predict({"image": np.array([b""], dtype=object)})


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"architecture": "resnet50"}, "choose one of mobilenet_v2, efficientnet_lite0"),
        ({"mean": [0.5, 0.5]}, "parameter 'mean' is [0.5, 0.5]; expected three positive"),
        ({"crop": 300}, "parameter 'crop' (300) is larger than 'resize' (256)"),
        ({"top_k": 0}, "parameter 'top_k' is 0; expected a positive integer"),
    ],
)
def test_classifier_parameters_are_checked(
    parameters: dict[str, Any], message: str, tmp_path: Path
) -> None:
    runtime = create_runtime(MOBILENET_V2.manifest.runtime)
    with pytest.raises(InvalidRequest) as raised:
        runtime.load(request_for(MOBILENET_V2, tmp_path, **parameters))
    assert message in raised.value.message


def test_weights_of_another_architecture_are_an_invalid_artifact(tmp_path: Path) -> None:
    path = assemble(EFFICIENTNET_LITE0.manifest, tmp_path / "lite0")
    runtime = create_runtime(MOBILENET_V2.manifest.runtime)
    with pytest.raises(InvalidArtifact, match="does not fit the mobilenet_v2 architecture"):
        runtime.load(request_for(MOBILENET_V2, path))


def test_the_classifier_serves_any_top_k(tmp_path: Path) -> None:
    path = assemble(MOBILENET_V2.manifest, tmp_path / "mobilenet")
    runtime = create_runtime(MOBILENET_V2.manifest.runtime)
    threads = torch.get_num_threads()  # the parameter sets it for the whole test process
    runtime.load(request_for(MOBILENET_V2, path, top_k=3, resize=160, crop=128, threads=1))
    try:
        assert torch.get_num_threads() == 1
        outputs = runtime.predict({"image": np.array([encode(photo("coffee"))], dtype=object)})
        assert runtime.metadata["torch_version"]
        assert [spec.shape for spec in runtime.signature.outputs] == [(-1, 3)] * 3
    finally:
        runtime.unload()
        torch.set_num_threads(threads)
    assert outputs["label"].shape == outputs["class_id"].shape == outputs["score"].shape == (1, 3)


def test_the_detector_keeps_at_most_max_faces_likeliest_first(tmp_path: Path) -> None:
    runtime = create_runtime(FACE_DETECTOR.manifest.runtime)
    runtime.load(request_for(FACE_DETECTOR, tmp_path, max_faces=1, upsample=1))
    try:
        outputs = runtime.predict({"image": np.array([encode(photo("astronaut"))], dtype=object)})
        assert runtime.metadata["dlib_version"] == "20.0.1.post1"
    finally:
        runtime.unload()
    assert outputs["boxes"].shape == (1, 1, 4)
    assert outputs["faces"].tolist() == [1]


@pytest.mark.parametrize("upsample", [-1, 4, True, "2"])
def test_upsample_must_be_a_small_whole_number(upsample: object, tmp_path: Path) -> None:
    runtime = create_runtime(FACE_EMBEDDER.manifest.runtime)
    with pytest.raises(InvalidRequest, match=r"parameter 'upsample' is .*; expected 0 to 3"):
        runtime.load(request_for(FACE_EMBEDDER, tmp_path, upsample=upsample))


@pytest.mark.parametrize("confidence", [1.5, "high", False])
def test_ocr_min_confidence_is_a_probability(confidence: object, tmp_path: Path) -> None:
    runtime = create_runtime(OCR.manifest.runtime)
    with pytest.raises(InvalidRequest, match=r"parameter 'min_confidence' is .*; expected 0 to 1"):
        runtime.load(request_for(OCR, tmp_path, min_confidence=confidence))


def test_ocr_reports_its_version_and_finds_nothing_in_a_blank_image(tmp_path: Path) -> None:
    path = assemble(OCR.manifest, tmp_path / "ocr")
    runtime = create_runtime(OCR.manifest.runtime)
    runtime.load(request_for(OCR, path, max_lines=3))
    try:
        blank = np.full((64, 64, 3), 255, dtype=np.uint8)
        outputs = runtime.predict({"image": np.array([encode(blank)], dtype=object)})
        assert runtime.metadata["rapidocr_version"] == "1.4.4"
    finally:
        runtime.unload()
    assert outputs["text"].shape == (1, 3)
    assert outputs["lines"].tolist() == [0]
