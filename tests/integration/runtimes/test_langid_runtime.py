"""The language identification runtime on langid.py's bundled model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelmart.errors import InvalidRequest, NotReady, UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime, create_runtime
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, TensorSpec

FRENCH = "Je voudrais réserver une table pour deux personnes ce soir."


def texts(*items: str | bytes) -> dict[str, np.ndarray]:
    return {"text": np.array(items, dtype=object)}


def open_langid(path: Path, **parameters: object) -> Runtime:
    runtime = create_runtime(RuntimeName.LANGID)
    runtime.load(LoadRequest(path=path, format=ArtifactFormat.PACKAGE, parameters=parameters))
    return runtime


@pytest.fixture(scope="module")
def empty_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("langid")


@pytest.fixture(scope="module")
def langid(empty_dir: Path) -> Iterator[Runtime]:
    runtime = open_langid(empty_dir)
    yield runtime
    runtime.unload()


def test_signature(langid: Runtime) -> None:
    assert langid.signature.inputs == (
        TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),
    )
    assert langid.signature.outputs == (
        TensorSpec(name="language", datatype=Datatype.BYTES, shape=(-1,)),
        TensorSpec(name="probability", datatype=Datatype.FP32, shape=(-1,)),
    )
    assert len(langid.metadata["languages"]) == 97


def test_identifies_languages_with_probabilities(langid: Runtime) -> None:
    outputs = langid.predict(
        texts(
            "The weather is lovely today and we are going for a walk.",
            "Das Wetter ist heute schön und wir gehen spazieren.",
            FRENCH.encode(),
            "El tiempo es estupendo hoy y vamos a dar un paseo.",
        )
    )
    assert outputs["language"].tolist() == ["en", "de", "fr", "es"]
    assert outputs["probability"].dtype == np.float32
    assert ((outputs["probability"] > 0.9) & (outputs["probability"] <= 1.0)).all()


def test_languages_restrict_the_candidates_of_that_instance_only(
    langid: Runtime, empty_dir: Path
) -> None:
    restricted = open_langid(empty_dir, languages=["en", "de"])
    outputs = restricted.predict(texts(FRENCH, ""))
    assert set(outputs["language"].tolist()) <= {"en", "de"}
    assert restricted.metadata["languages"] == ["de", "en"]
    # No state is shared: the unrestricted instance still knows French.
    assert langid.predict(texts(FRENCH))["language"].tolist() == ["fr"]


def test_an_empty_batch_is_empty(langid: Runtime) -> None:
    outputs = langid.predict({"text": np.array([], dtype=object)})
    assert outputs["language"].shape == outputs["probability"].shape == (0,)


@pytest.mark.parametrize(
    ("languages", "expected"),
    [
        ("en", "expected a non-empty list of ISO 639-1 codes"),
        ([], "expected a non-empty list"),
        (["en", 7], "expected a non-empty list"),
        (["en", "xx", "klingon"], "names 'klingon', 'xx', which langid does not know"),
    ],
)
def test_bad_languages_are_refused(empty_dir: Path, languages: object, expected: str) -> None:
    with pytest.raises(InvalidRequest, match=expected):
        open_langid(empty_dir, languages=languages)


def test_uploads_and_unloaded_use_are_refused(tmp_path: Path) -> None:
    runtime = create_runtime(RuntimeName.LANGID)
    with pytest.raises(UnsupportedFormat, match="deploy the catalogue's langid model"):
        runtime.load(LoadRequest(path=tmp_path, format=ArtifactFormat.ONNX))
    with pytest.raises(NotReady, match="call load"):
        runtime.predict(texts("hi"))
    with pytest.raises(NotReady, match="call load"):
        _ = runtime.signature
    assert runtime.metadata["runtime"] == "langid"
