"""The shipped vision figures are reproducible: rerun through the runtimes, the quickest
measures find what measured.json records (EfficientNet's set is MobileNet's, and the face
embedder's 400 pairs and OCR's 20 lines take too long to repeat on every run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelmart.catalog.cards import load_measurements
from modelmart.catalog.entry import CatalogEntry
from modelmart.catalog.harness import load
from modelmart.catalog.vision_entries import FACE_DETECTOR, MOBILENET_V2
from modelmart.catalog.vision_evaluation import Quality, classifier_quality, detector_quality


@pytest.mark.parametrize(
    ("entry", "measure"),
    [(MOBILENET_V2, classifier_quality), (FACE_DETECTOR, detector_quality)],
    ids=[MOBILENET_V2.name, FACE_DETECTOR.name],
)
def test_quality_figures_are_reproduced(
    entry: CatalogEntry, measure: Quality, tmp_path: Path
) -> None:
    runtime = load(entry, tmp_path)
    try:
        measured = measure(runtime)
    finally:
        runtime.unload()
    shipped = load_measurements().models[entry.name].quality
    assert [(m.metric, m.value) for m in measured] == [(m.metric, m.value) for m in shipped]
