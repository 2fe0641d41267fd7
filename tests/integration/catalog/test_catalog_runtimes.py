"""Every catalogue entry loads from its packages through its runtime and serves exactly the
signature it declares (the catalogue registers versions without loading them, so this is
where the declaration is checked)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelmart.catalog.entries import ENTRIES
from modelmart.catalog.evaluate import load


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.name)
def test_entry_serves_its_declared_signature(entry, tmp_path: Path):
    runtime = load(entry, tmp_path)
    try:
        assert runtime.signature == entry.signature
        outputs = runtime.predict({"text": np.array(["Hello there.", "Guten Tag!"], object)})
    finally:
        runtime.unload()

    assert sorted(outputs) == sorted(spec.name for spec in entry.signature.outputs)
    for spec in entry.signature.outputs:
        array = outputs[spec.name]
        assert array.shape[0] == 2
        assert array.ndim == len(spec.shape)
        assert all(want in (-1, got) for want, got in zip(spec.shape, array.shape, strict=True))
