"""The translation runtime on the real ``apertium`` program and its English-Spanish pair."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from modelmart.runtimes.base import LoadRequest, Runtime, create_runtime
from modelmart.types import ArtifactFormat, RuntimeName

pytestmark = pytest.mark.skipif(
    shutil.which("apertium") is None,
    reason="needs the apertium program: apt-get install apertium apertium-eng-spa",
)


def open_apertium(path: Path, source: str, target: str) -> Runtime:
    runtime = create_runtime(RuntimeName.APERTIUM)
    parameters = {"source": source, "target": target}
    runtime.load(LoadRequest(path=path, format=ArtifactFormat.PACKAGE, parameters=parameters))
    return runtime


def translate(runtime: Runtime, *texts: str) -> list[str]:
    try:
        return list(runtime.predict({"text": np.array(texts, dtype=object)})["translation"])
    finally:
        runtime.unload()


def test_english_to_spanish_keeps_texts_and_their_lines_apart(tmp_path: Path) -> None:
    runtime = open_apertium(tmp_path, "en", "es")
    texts = ("The house is red.", "Thank you very much.\nI have two brothers.", "  Hello. ")
    assert translate(runtime, *texts) == [
        "La casa es roja.",
        "Muchas gracias.\nTengo dos hermanos.",
        "  Hola. ",
    ]


def test_spanish_to_english(tmp_path: Path) -> None:
    runtime = open_apertium(tmp_path, "es", "en")
    assert translate(runtime, "La casa es roja.", "Mi padre trabaja en un hospital.") == [
        "The house is red.",
        "My father works in a hospital.",
    ]
