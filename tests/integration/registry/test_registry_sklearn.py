"""The registry against a real database, real artifact files and the real sklearn runtime."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from modelmart.errors import ArtifactCorrupted, InvalidArtifact, SchemaMismatch, VersionNotFound
from modelmart.registry.service import Registry
from modelmart.runtimes.base import create_runtime
from modelmart.tenancy import Principal
from modelmart.types import Datatype, RuntimeName, Signature, Task, TensorSpec

SINGLE_USER = Principal.single_user()


@pytest.fixture
def iris(registry: Registry) -> str:
    registry.create_model(SINGLE_USER, "iris", Task.CLASSIFICATION)
    return "iris"


def _files(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def test_register_load_and_predict(registry: Registry, iris: str, iris_skops: Path) -> None:
    info = registry.register_version(iris, iris_skops, "iris.skops", metrics={"accuracy": 0.97})
    assert info.version == 1
    assert info.runtime is RuntimeName.SKLEARN
    assert info.signature.input_named("input") == TensorSpec(
        name="input", datatype=Datatype.FP64, shape=(-1, 4)
    )
    runtime = create_runtime(info.runtime)
    runtime.load(registry.load_request(registry.resolve(iris)))
    features, labels = load_iris(return_X_y=True)
    predicted = runtime.predict({"input": features})["label"]
    assert np.mean(predicted == labels) > 0.9


def test_declared_signature_that_disagrees_is_refused(
    registry: Registry, iris: str, iris_skops: Path, data_dir: Path
) -> None:
    wrong = Signature(
        inputs=(TensorSpec(name="input", datatype=Datatype.FP64, shape=(-1, 7)),),
        outputs=(TensorSpec(name="label", datatype=Datatype.INT64, shape=(-1,)),),
    )
    with pytest.raises(SchemaMismatch):
        registry.register_version(iris, iris_skops, "iris.skops", signature=wrong)
    assert registry.list_versions(iris) == []


def test_truncated_upload_is_refused(
    registry: Registry, iris: str, iris_skops: Path, tmp_path: Path
) -> None:
    truncated = tmp_path / "cut.skops"
    truncated.write_bytes(iris_skops.read_bytes()[:-100])
    with pytest.raises(InvalidArtifact):
        registry.register_version(iris, truncated, "iris.skops")


def test_failed_load_leaves_no_row_and_no_files(
    registry: Registry, iris: str, tmp_path: Path, data_dir: Path
) -> None:
    fake = tmp_path / "fake.skops"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("schema.json", b"not a skops schema")
    with pytest.raises(InvalidArtifact, match="skops"):
        registry.register_version(iris, fake, "model.skops")
    assert registry.list_versions(iris) == []
    assert _files(data_dir) == []


def test_corrupted_artifact_is_detected_on_load(
    registry: Registry, iris: str, iris_skops: Path, data_dir: Path
) -> None:
    info = registry.register_version(iris, iris_skops, "iris.skops")
    digest = info.artifact_digest
    blob = data_dir / "artifacts" / "sha256" / digest[:2] / digest
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ArtifactCorrupted, match=digest):
        registry.load_request(info)


def test_concurrent_registrations_get_distinct_versions(
    registry: Registry, iris: str, iris_skops: Path
) -> None:
    versions: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def register() -> None:
        try:
            start.wait()
            versions.append(registry.register_version(iris, iris_skops, "iris.skops").version)
        except BaseException as exc:  # collected so the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]


def test_alias_move_is_atomic_for_readers(registry: Registry, iris: str, iris_skops: Path) -> None:
    for _ in range(2):
        registry.register_version(iris, iris_skops, "iris.skops")
    registry.set_alias(iris, "production", 1)
    seen: set[int] = set()
    failures: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                seen.add(registry.resolve(iris, alias="production").version)
            except VersionNotFound as exc:  # the alias was missing mid-move
                failures.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for step in range(30):
            registry.set_alias(iris, "production", 2 - step % 2)
    finally:
        done.set()
        reader.join()
    assert failures == []
    assert seen <= {1, 2}
    assert registry.get_model(iris).aliases == {"production": 1}
