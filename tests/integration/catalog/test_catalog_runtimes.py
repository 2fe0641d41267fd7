"""Every catalogue entry loads from its packages through its runtime and serves exactly the
signature it declares (the catalogue registers versions without loading them, so this is
where the declaration is checked)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelmart.arrays import Batch
from modelmart.catalog.entries import ENTRIES
from modelmart.catalog.entry import CatalogEntry
from modelmart.catalog.harness import load
from modelmart.catalog.programs import missing_programs
from modelmart.catalog.vision_sets import encode, photo, rendered_text
from modelmart.runtimes.audio import wav_bytes


def sample_batch(entry: CatalogEntry) -> Batch:
    """Two instances of what the entry takes: texts, or encoded images for vision models."""
    if entry.signature.inputs[0].name == "image":
        images = [encode(photo("astronaut")), encode(rendered_text("Hello there."))]
        return {"image": np.array(images, dtype=object)}
    if entry.signature.inputs[0].name == "audio":
        tone = (0.1 * np.sin(np.arange(8000) / 5)).astype(np.float32)
        return {"audio": np.array([wav_bytes(tone, 16000), wav_bytes(tone, 8000)], dtype=object)}
    if entry.signature.input_named("voice") is not None:
        voices = np.array(["heart", "alloy"], dtype=object)
        speeds = np.array([1.0, 1.5], dtype=np.float32)
        return {"text": np.array(["Hello there.", "Hi."], object), "voice": voices, "speed": speeds}
    return {"text": np.array(["Hello there.", "Guten Tag!"], object)}


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.name)
def test_entry_serves_its_declared_signature(entry, tmp_path: Path):
    missing = missing_programs(entry.programs)
    if missing is not None:
        pytest.skip(missing)
    runtime = load(entry, tmp_path)
    try:
        assert runtime.signature == entry.signature
        outputs = runtime.predict(sample_batch(entry))
    finally:
        runtime.unload()

    assert sorted(outputs) == sorted(spec.name for spec in entry.signature.outputs)
    for spec in entry.signature.outputs:
        array = outputs[spec.name]
        assert array.shape[0] == 2
        assert array.ndim == len(spec.shape)
        assert all(want in (-1, got) for want, got in zip(spec.shape, array.shape, strict=True))
