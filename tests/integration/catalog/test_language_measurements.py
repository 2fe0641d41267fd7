"""The shipped figures of the language models are reproducible: their quality measures,
rerun through the real runtimes, find what measured.json records."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelmart.catalog.cards import load_measurements
from modelmart.catalog.harness import load
from modelmart.catalog.language_evaluation import LANGUAGE_MEASURES
from modelmart.catalog.programs import missing_programs


@pytest.mark.parametrize(
    ("entry", "quality"),
    [(entry, quality) for entry, quality, _ in LANGUAGE_MEASURES],
    ids=[entry.name for entry, _, _ in LANGUAGE_MEASURES],
)
def test_quality_figures_are_reproduced(entry, quality, tmp_path: Path):
    missing = missing_programs(entry.programs)
    if missing is not None:
        pytest.skip(missing)
    runtime = load(entry, tmp_path)
    try:
        measured = quality(runtime)
    finally:
        runtime.unload()
    shipped = load_measurements().models[entry.name].quality
    assert {m.metric: m.value for m in measured} == {m.metric: m.value for m in shipped}
    assert all(m.dataset == s.dataset for m, s in zip(measured, shipped, strict=True))
