"""Measure the catalogue's vision models on the sets of :mod:`modelmart.catalog.vision_sets`.

* classifiers: top-1 and top-5 accuracy on 36 labelled photos (6 photos, 6 crops/flips each);
* face detector: share of the 101 face photos with a face found, and of the 105 photos
  without a face where one was found anyway;
* face embedder: distances between a face and altered copies of it (mirrored, brighter,
  smaller) and between the astronaut and 100 other people, and the share of those pairs
  the 0.6 threshold decides right;
* OCR: character accuracy (1 - edit distance / length) and exact lines on 20 rendered lines.

Latency is milliseconds per image inside the runtime, decoding included, on PNG files.
Called by :func:`modelmart.catalog.evaluate.measure_all`, which passes its loader in (this
module is imported by it, not the other way round).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from modelmart.arrays import Array, Batch
from modelmart.catalog.cards import MeasuredModel
from modelmart.catalog.entry import CatalogEntry
from modelmart.catalog.vision_entries import (
    EFFICIENTNET_LITE0,
    FACE_DETECTOR,
    FACE_EMBEDDER,
    MOBILENET_V2,
    OCR,
)
from modelmart.catalog.vision_sets import (
    PHOTO_CLASSES,
    classification_set,
    encode,
    face_sets,
    ocr_set,
    same_face_pairs,
)
from modelmart.runtimes.base import Runtime
from modelmart.schemas.catalog import Latency, Measurement

BATCH_SIZE = 8
FACE_THRESHOLD = 0.6
CLASSIFICATION_SET = (
    f"36 photos: {len(PHOTO_CLASSES)} scikit-image photos ({', '.join(PHOTO_CLASSES)}), each "
    "whole, mirrored, cropped three ways and halved, labelled by hand with the ImageNet "
    "classes that name them"
)
FACES_SET = (
    "101 photos with one face: 100 LFW faces (skimage lfw_subset, 25 px scaled to 150) and "
    "the astronaut"
)
NON_FACES_SET = (
    "105 photos without a face: skimage lfw_subset's 100 non-face patches and coffee, "
    "rocket, chelsea, camera (from behind) and clock"
)
SAME_SET = "303 pairs: each of the 101 face photos beside a mirrored, a brighter and a 4/5 copy"
DIFFERENT_SET = "100 pairs: the astronaut (Eileen Collins) beside each of 100 LFW faces"
OCR_SET = "10 lines of English text, numbers and punctuation rendered by Pillow at 24 and 40 px"

Quality = Callable[[Runtime], list[Measurement]]
Loader = Callable[[CatalogEntry, Path], Runtime]


def run_images(runtime: Runtime, images: list[bytes]) -> Batch:
    return runtime.predict({"image": np.array(images, dtype=object)})


def classifier_quality(runtime: Runtime) -> list[Measurement]:
    examples = classification_set()
    outputs = run_images(runtime, [encode(example.pixels) for example in examples])
    ranked = outputs["class_id"]
    top1 = [int(row[0]) in example.classes for row, example in zip(ranked, examples, strict=True)]
    top5 = [
        bool(set(map(int, row[:5])) & example.classes)
        for row, example in zip(ranked, examples, strict=True)
    ]
    return [
        Measurement(metric="top1_accuracy", value=_mean(top1), dataset=CLASSIFICATION_SET),
        Measurement(metric="top5_accuracy", value=_mean(top5), dataset=CLASSIFICATION_SET),
    ]


def detector_quality(runtime: Runtime) -> list[Measurement]:
    faces, non_faces = face_sets()
    found = run_images(runtime, [encode(pixels) for pixels in faces])["faces"]
    false = run_images(runtime, [encode(pixels) for pixels in non_faces])["faces"]
    return [
        Measurement(metric="face_recall", value=_mean(found > 0), dataset=FACES_SET),
        Measurement(metric="false_positive_rate", value=_mean(false > 0), dataset=NON_FACES_SET),
    ]


def embedder_quality(runtime: Runtime) -> list[Measurement]:
    faces, _ = face_sets()
    same = [_distance(runtime, first, second) for first, second in same_face_pairs(faces)]
    astronaut = faces[-1]
    different = [_distance(runtime, astronaut, face) for face in faces[:-1]]
    same_values = np.array([d for d in same if d is not None])
    different_values = np.array([d for d in different if d is not None])
    right = [d < FACE_THRESHOLD for d in same_values] + [
        d >= FACE_THRESHOLD for d in different_values
    ]
    both = f"{SAME_SET}; {DIFFERENT_SET}; pairs with a face found in both images"
    figures = [
        ("same_mean_distance", _round(same_values.mean()), SAME_SET),
        ("same_max_distance", _round(same_values.max()), SAME_SET),
        ("different_min_distance", _round(different_values.min()), DIFFERENT_SET),
        ("different_mean_distance", _round(different_values.mean()), DIFFERENT_SET),
        ("verification_accuracy_at_0.6", _mean(right), both),
        ("pairs_with_faces", float(len(right)), both),
    ]
    return [Measurement(metric=m, value=v, dataset=d) for m, v, d in figures]


def _distance(runtime: Runtime, first: Array, second: Array) -> float | None:
    outputs = run_images(runtime, [encode(first), encode(second)])
    if not all(outputs["faces"] > 0):
        return None
    return float(np.linalg.norm(outputs["embedding"][0] - outputs["embedding"][1]))


def ocr_quality(runtime: Runtime) -> list[Measurement]:
    examples = ocr_set()
    outputs = run_images(runtime, [encode(pixels) for _, pixels in examples])
    read = [
        " ".join(str(text) for text in row[: int(count)])
        for row, count in zip(outputs["text"], outputs["lines"], strict=True)
    ]
    truth = [line for line, _ in examples]
    errors = sum(edit_distance(r, t) for r, t in zip(read, truth, strict=True))
    exact = [r == t for r, t in zip(read, truth, strict=True)]
    return [
        Measurement(
            metric="character_accuracy",
            value=_round(1 - errors / sum(len(t) for t in truth)),
            dataset=OCR_SET,
        ),
        Measurement(metric="exact_lines", value=_mean(exact), dataset=OCR_SET),
    ]


def edit_distance(left: str, right: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions turning one into the other."""
    previous = list(range(len(right) + 1))
    for i, char in enumerate(left, start=1):
        current = [i]
        for j, other in enumerate(right, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            )
        previous = current
    return previous[-1]


def image_latency(
    runtime: Runtime, images: list[bytes], cpu: str, threads: int, repeats: int = 3
) -> Latency:
    """Median milliseconds per image, alone and in batches of BATCH_SIZE."""
    batch = [images[i % len(images)] for i in range(BATCH_SIZE)]
    run_images(runtime, batch)  # the first call pays for lazy initialisation
    alone = [_timed(partial(run_images, runtime, [image])) for image in images]
    batched = [_timed(partial(run_images, runtime, batch)) / BATCH_SIZE for _ in range(repeats)]
    return Latency(
        ms_per_item_alone=round(float(np.median(alone)), 3),
        ms_per_item_batched=round(float(np.median(batched)), 3),
        batch_size=BATCH_SIZE,
        cpu=cpu,
        threads=threads,
    )


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def _mean(values: object) -> float:
    return round(float(np.mean(np.asarray(values, dtype=np.float64))), 4)


def _round(value: object) -> float:
    return round(float(value), 4)  # type: ignore[arg-type]


def _latency_images(entry: CatalogEntry) -> list[bytes]:
    if entry is OCR:
        return [encode(pixels) for _, pixels in ocr_set()[:4]]
    faces, _ = face_sets()
    return [
        encode(pixels)
        for pixels in (faces[-1], faces[0], *(e.pixels for e in classification_set()[::6]))
    ]


MEASURES: tuple[tuple[CatalogEntry, Quality], ...] = (
    (MOBILENET_V2, classifier_quality),
    (EFFICIENTNET_LITE0, classifier_quality),
    (FACE_DETECTOR, detector_quality),
    (FACE_EMBEDDER, embedder_quality),
    (OCR, ocr_quality),
)


def measure_vision(load: Loader, cpu: str, threads: int) -> dict[str, MeasuredModel]:
    """Every vision entry's quality and latency, each loaded by ``load`` as a deployment
    loads it."""
    measured: dict[str, MeasuredModel] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for entry, quality in MEASURES:
            runtime = load(entry, Path(workdir))
            try:
                figures = quality(runtime)
                timing = image_latency(runtime, _latency_images(entry), cpu, threads)
            finally:
                runtime.unload()
            measured[entry.name] = MeasuredModel(latency=timing, quality=figures)
    return measured
