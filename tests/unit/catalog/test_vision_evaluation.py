"""The vision figures are computed right: fake runtimes with known answers, tiny sets."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelmart.arrays import Array, Batch
from modelmart.catalog import vision_evaluation
from modelmart.catalog.entry import CatalogEntry
from modelmart.catalog.vision_entries import OCR
from modelmart.catalog.vision_evaluation import (
    classifier_quality,
    detector_quality,
    edit_distance,
    embedder_quality,
    measure_vision,
    ocr_quality,
)
from modelmart.catalog.vision_sets import LabelledImage, classification_set, rendered_text
from modelmart.schemas.catalog import Measurement


class FakeRuntime:
    """Answers ``answer(decoded images)``; remembers whether it was unloaded."""

    def __init__(self, answer: Callable[[list[Array]], Batch]) -> None:
        self.answer = answer
        self.unloaded = False

    def predict(self, batch: Batch) -> Batch:
        images = [np.asarray(Image.open(io.BytesIO(item))) for item in batch["image"]]
        return self.answer(images)

    def unload(self) -> None:
        self.unloaded = True


def figures(measurements: list[Measurement]) -> dict[str, float]:
    return {m.metric: m.value for m in measurements}


@pytest.mark.parametrize(
    ("left", "right", "distance"),
    [("", "", 0), ("abc", "abc", 0), ("abc", "", 3), ("kitten", "sitting", 3), ("ab", "ba", 2)],
)
def test_edit_distance(left: str, right: str, distance: int) -> None:
    assert edit_distance(left, right) == distance == edit_distance(right, left)


def test_classification_set_is_six_photos_six_ways() -> None:
    examples = classification_set()
    assert len(examples) == 36
    assert all(example.pixels.ndim == 3 for example in examples)
    assert len({example.name for example in examples}) == 36


def square(side: int) -> Array:
    return np.full((side, side, 3), side, dtype=np.uint8)


def test_classifier_accuracy_counts_any_accepted_class(monkeypatch: pytest.MonkeyPatch) -> None:
    examples = [
        LabelledImage("cat", square(8), frozenset({281, 282})),
        LabelledImage("clock", square(8), frozenset({892})),
        LabelledImage("lily", square(8), frozenset({1})),
    ]
    monkeypatch.setattr(vision_evaluation, "classification_set", lambda: examples)
    # Always the same five classes: a cat first, then coffee, rocket, motorcycle and clock.
    ranked = np.array([281, 967, 657, 665, 892], dtype=np.int64)
    runtime = FakeRuntime(lambda images: {"class_id": np.tile(ranked, (len(images), 1))})
    found = figures(classifier_quality(runtime))  # type: ignore[arg-type]
    assert found == {"top1_accuracy": round(1 / 3, 4), "top5_accuracy": round(2 / 3, 4)}


def test_detector_recall_and_false_positives(monkeypatch: pytest.MonkeyPatch) -> None:
    sets = ([square(150), square(150), square(60)], [square(150), square(60)])
    monkeypatch.setattr(vision_evaluation, "face_sets", lambda: sets)
    # "Finds" a face in every 150-pixel image.
    runtime = FakeRuntime(lambda images: {"faces": np.array([i.shape[1] == 150 for i in images])})
    found = figures(detector_quality(runtime))  # type: ignore[arg-type]
    assert found == {"face_recall": round(2 / 3, 4), "false_positive_rate": 0.5}


def small_faces() -> tuple[list[Array], list[Array]]:
    return [square(side) for side in (40, 60, 80)], []  # the last one plays the astronaut


def test_embedder_distances_and_accuracy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vision_evaluation, "face_sets", small_faces)

    def embed(images: list[Array]) -> Batch:
        """Width / 100 as the embedding; no face in 40-pixel-wide images."""
        embedding = np.zeros((len(images), 128), dtype=np.float32)
        embedding[:, 0] = [image.shape[1] / 100 for image in images]
        return {"embedding": embedding, "faces": np.array([i.shape[1] != 40 for i in images])}

    found = figures(embedder_quality(FakeRuntime(embed)))  # type: ignore[arg-type]
    # Same pairs with faces: 60 vs (60 mirrored, 60 brighter, 48) and 80 vs (80, 80, 64);
    # different pairs: 80 vs 60 only (the 40-pixel face has none).
    assert found["same_mean_distance"] == pytest.approx((0.12 + 0.16) / 6, abs=1e-4)
    assert found["same_max_distance"] == pytest.approx(0.16)
    assert found["different_min_distance"] == found["different_mean_distance"] == 0.2
    assert found["verification_accuracy_at_0.6"] == round(6 / 7, 4)  # 0.2 < 0.6 reads as "same"
    assert found["pairs_with_faces"] == 7


def two_lines() -> list[tuple[str, Array]]:
    return [("Hello", rendered_text("Hello", 12)), ("World", rendered_text("World", 12))]


def read_hello_twice(images: list[Array]) -> Batch:
    text = np.full((len(images), 2), "", dtype=object)
    text[:, 0] = "Hello"
    return {"text": text, "lines": np.ones(len(images), dtype=np.int64)}


def test_ocr_character_accuracy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vision_evaluation, "ocr_set", two_lines)
    found = figures(ocr_quality(FakeRuntime(read_hello_twice)))  # type: ignore[arg-type]
    # "Hello" is read right; "World" as "Hello": 4 substitutions in 10 characters.
    assert found == {"character_accuracy": 0.6, "exact_lines": 0.5}


def test_measure_vision_loads_measures_times_and_unloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vision_evaluation, "ocr_set", two_lines)
    monkeypatch.setattr(vision_evaluation, "MEASURES", ((OCR, ocr_quality),))
    loaded: list[FakeRuntime] = []

    def load(entry: CatalogEntry, workdir: Path) -> FakeRuntime:
        assert (entry, workdir.is_dir()) == (OCR, True)
        loaded.append(FakeRuntime(read_hello_twice))
        return loaded[-1]

    measured = measure_vision(load, "Test CPU", 2)  # type: ignore[arg-type]
    assert list(measured) == ["ocr"]
    latency = measured["ocr"].latency
    assert (latency.cpu, latency.threads, latency.batch_size) == ("Test CPU", 2, 8)
    assert latency.ms_per_item_alone > 0
    assert figures(measured["ocr"].quality)["exact_lines"] == 0.5
    assert loaded[0].unloaded
