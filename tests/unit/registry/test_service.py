import hashlib
import math
import pickle
import shutil
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.errors import (
    AlreadyExists,
    ArtifactCorrupted,
    InvalidArtifact,
    InvalidRequest,
    ModelNotFound,
    SchemaMismatch,
    UnsafeFormat,
    VersionNotFound,
)
from modelmart.registry.service import Registry
from modelmart.store.artifacts import MemoryArtifactStore
from modelmart.types import ArtifactFormat, RuntimeName, Task
from tests.unit.conftest import FakeInspector

from .builders import (
    SIGNATURE,
    SINGLE_USER,
    hf_dir_entries,
    skops_file,
    write_tar,
    write_zip,
)


@pytest.fixture
def upload(tmp_path: Path) -> Path:
    return skops_file(tmp_path / "upload")


@pytest.fixture
def iris(registry: Registry) -> str:
    registry.create_model(
        SINGLE_USER, "iris", Task.CLASSIFICATION, description="Iris flowers", owner="ml"
    )
    return "iris"


def _leftovers(tmp_path: Path) -> list[str]:
    cache = tmp_path / "cache"
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


# Models


def test_create_and_get_model(registry: Registry) -> None:
    created = registry.create_model(
        SINGLE_USER, "iris-v2.final_1", "classification", description="d", owner="me"
    )
    assert (created.name, created.owner, created.description) == ("iris-v2.final_1", "me", "d")
    assert created.latest_version is None
    assert created.aliases == {}
    assert registry.get_model("iris-v2.final_1") == created
    assert created.created_at.tzinfo is not None


def test_duplicate_model_is_409(registry: Registry, iris: str) -> None:
    with pytest.raises(AlreadyExists, match="'iris' already exists") as caught:
        registry.create_model(SINGLE_USER, iris, Task.REGRESSION)
    assert caught.value.status == 409


@pytest.mark.parametrize("name", ["", "-iris", "iris/x", "a" * 129, "iris model", "../x"])
def test_model_names_are_validated(registry: Registry, name: str) -> None:
    with pytest.raises(InvalidRequest, match=r"letters, digits, '\.', '_' or '-'"):
        registry.create_model(SINGLE_USER, name, Task.CUSTOM)


def test_unknown_task(registry: Registry) -> None:
    with pytest.raises(InvalidRequest, match="classification"):
        registry.create_model(SINGLE_USER, "m", "astrology")


def test_missing_model(registry: Registry, upload: Path) -> None:
    expected = "model 'nope' does not exist; .* POST /v1/registry/models creates one"
    with pytest.raises(ModelNotFound, match=expected):
        registry.get_model("nope")
    with pytest.raises(ModelNotFound):
        registry.register_version("nope", upload, "m.skops")


def test_list_models(registry: Registry, iris: str, upload: Path) -> None:
    registry.create_model(SINGLE_USER, "bert", Task.EMBEDDING)
    registry.register_version(iris, upload, "m.skops")
    registry.set_alias(iris, "production", 1)
    models = registry.list_models()
    assert [m.name for m in models] == ["bert", "iris"]
    assert (models[1].latest_version, models[1].aliases) == (1, {"production": 1})


# Versions


def test_register_versions_numbers_them(
    registry: Registry, iris: str, upload: Path, inspector: FakeInspector
) -> None:
    first = registry.register_version(
        iris, upload, "iris.skops", parameters={"C": 1.0}, metrics={"acc": 0.97},
        lineage={"dataset": "iris@1"},
    )  # fmt: skip
    second = registry.register_version(iris, upload, "iris.skops")
    assert (first.version, second.version) == (1, 2)
    assert first.format is ArtifactFormat.SKOPS
    assert first.runtime is RuntimeName.SKLEARN
    assert first.task is Task.CLASSIFICATION
    assert first.signature == SIGNATURE
    assert (first.parameters, first.metrics, first.lineage) == (
        {"C": 1.0}, {"acc": 0.97}, {"dataset": "iris@1"},
    )  # fmt: skip
    assert first.artifact_digest == second.artifact_digest
    assert first.artifact_size == upload.stat().st_size
    runtime, request = inspector.calls[0]
    assert runtime is RuntimeName.SKLEARN
    assert (request.path, request.task, request.parameters) == (
        upload, Task.CLASSIFICATION, {"C": 1.0},
    )  # fmt: skip
    assert registry.list_versions(iris) == [first, second]
    assert registry.get_model(iris).latest_version == 2


def test_declared_signature_reaches_the_inspector_and_its_errors_propagate(
    registry: Registry, iris: str, upload: Path, inspector: FakeInspector
) -> None:
    inspector.error = SchemaMismatch("declared input 'x' is not what the model takes")
    with pytest.raises(SchemaMismatch):
        registry.register_version(iris, upload, "m.skops", signature=SIGNATURE)
    assert inspector.calls[0][1].signature == SIGNATURE
    assert registry.list_versions(iris) == []


def test_pickle_is_refused_before_loading(
    registry: Registry, iris: str, tmp_path: Path, inspector: FakeInspector
) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"coef": [1.0]}))
    with pytest.raises(UnsafeFormat, match="skops"):
        registry.register_version(iris, path, "model.pkl")
    assert inspector.calls == []
    assert registry.list_versions(iris) == []


def test_truncated_upload_is_invalid(registry: Registry, iris: str, upload: Path) -> None:
    data = upload.read_bytes()
    upload.write_bytes(data[: len(data) - 10])
    with pytest.raises(InvalidArtifact, match="not a complete"):
        registry.register_version(iris, upload, "m.skops")


def test_failed_registration_leaves_nothing_behind(
    registry: Registry,
    iris: str,
    tmp_path: Path,
    inspector: FakeInspector,
    artifacts: MemoryArtifactStore,
) -> None:
    archive = write_zip(tmp_path / "m.zip", hf_dir_entries())
    inspector.error = InvalidArtifact("weights do not match the config")
    with pytest.raises(InvalidArtifact, match="weights"):
        registry.register_version(iris, archive, "m.zip")
    assert inspector.seen_files == [["config.json", "model.safetensors", "tokenizer.json"]]
    assert registry.list_versions(iris) == []
    assert _leftovers(tmp_path) == []
    assert not artifacts.exists(hashlib.sha256(archive.read_bytes()).hexdigest())
    assert archive.exists()  # the caller's upload is the caller's to remove


def test_zip_slip_registration_is_refused(registry: Registry, iris: str, tmp_path: Path) -> None:
    entries = {**hf_dir_entries(top=""), "../../escape.txt": b"x"}
    archive = write_zip(tmp_path / "m.zip", entries)
    with pytest.raises(InvalidArtifact, match=r"escape\.txt"):
        registry.register_version(iris, archive, "m.zip")
    assert not list(tmp_path.parent.glob("escape.txt"))
    assert _leftovers(tmp_path) == []
    assert registry.list_versions(iris) == []


def test_archive_bomb_registration_is_refused(
    sessions: sessionmaker[Session],
    artifacts: MemoryArtifactStore,
    inspector: FakeInspector,
    tmp_path: Path,
) -> None:
    registry = Registry(sessions, artifacts, tmp_path / "cache", 1000, inspector)
    registry.create_model(SINGLE_USER, "bert", Task.EMBEDDING)
    entries = {**hf_dir_entries(), "my-model/big.safetensors": bytes(100_000)}
    archive = write_tar(tmp_path / "m.tgz", entries)
    with pytest.raises(InvalidArtifact, match="1000-byte limit"):
        registry.register_version("bert", archive, "m.tgz")
    assert inspector.calls == []
    assert _leftovers(tmp_path) == []


def test_archive_versions_load_from_the_unpacked_cache(
    registry: Registry, tmp_path: Path, inspector: FakeInspector
) -> None:
    registry.create_model(SINGLE_USER, "minilm", Task.EMBEDDING)
    archive = write_tar(tmp_path / "m.tgz", hf_dir_entries(sentence_transformers=True))
    info = registry.register_version("minilm", archive, "minilm.tar.gz")
    assert info.format is ArtifactFormat.SENTENCE_TRANSFORMERS
    assert info.runtime is RuntimeName.TRANSFORMERS
    assert _leftovers(tmp_path) == [info.artifact_digest]
    request = registry.load_request(info)
    assert request.path == tmp_path / "cache" / info.artifact_digest / "my-model"
    assert (request.path / "modules.json").exists()
    assert request.format is ArtifactFormat.SENTENCE_TRANSFORMERS
    # A cache wiped after registration is rebuilt from the blob.
    shutil.rmtree(tmp_path / "cache")
    assert (registry.load_request(info).path / "config.json").exists()


def test_load_request_for_a_file_format(registry: Registry, iris: str, upload: Path) -> None:
    info = registry.register_version(iris, upload, "m.skops", parameters={"k": 1})
    request = registry.load_request(info)
    assert request.path.read_bytes() == upload.read_bytes()
    assert (request.format, request.signature, request.parameters) == (
        ArtifactFormat.SKOPS, SIGNATURE, {"k": 1},
    )  # fmt: skip


def test_corrupted_artifact_is_detected_on_load(
    registry: Registry, iris: str, upload: Path, artifacts: MemoryArtifactStore
) -> None:
    info = registry.register_version(iris, upload, "m.skops")
    artifacts.corrupt(info.artifact_digest)
    with pytest.raises(ArtifactCorrupted, match=info.artifact_digest):
        registry.load_request(info)


@pytest.mark.parametrize("field", ["parameters", "metrics", "lineage"])
def test_non_json_extras_are_refused(
    registry: Registry, iris: str, upload: Path, field: str
) -> None:
    with pytest.raises(InvalidRequest, match=field):
        registry.register_version(iris, upload, "m.skops", **{field: {"x": math.nan}})


# Lookup and aliases


@pytest.fixture
def three_versions(registry: Registry, iris: str, upload: Path) -> str:
    for _ in range(3):
        registry.register_version(iris, upload, "m.skops")
    return iris


def test_get_version_by_number_alias_and_latest(registry: Registry, three_versions: str) -> None:
    registry.set_alias(three_versions, "production", 2)
    assert registry.get_version(three_versions, 1).version == 1
    assert registry.get_version(three_versions, "3").version == 3
    assert registry.get_version(three_versions, "production").version == 2
    assert registry.get_version(three_versions, "latest").version == 3


def test_missing_version_lists_what_exists(registry: Registry, three_versions: str) -> None:
    registry.set_alias(three_versions, "staging", 3)
    with pytest.raises(VersionNotFound, match=r"no version 7; available versions: 1, 2, 3") as e:
        registry.get_version(three_versions, 7)
    assert "staging -> 3" in e.value.message
    assert e.value.details["aliases"] == {"staging": 3}
    with pytest.raises(VersionNotFound, match="no alias 'production'"):
        registry.get_version(three_versions, "production")


def test_alias_moves_and_is_deleted(registry: Registry, three_versions: str) -> None:
    assert registry.set_alias(three_versions, "production", 1).aliases == {"production": 1}
    moved = registry.set_alias(three_versions, "production", 3)
    assert moved.aliases == {"production": 3}
    assert registry.resolve(three_versions, alias="production").version == 3
    assert registry.delete_alias(three_versions, "production").aliases == {}
    with pytest.raises(VersionNotFound):
        registry.delete_alias(three_versions, "production")


@pytest.mark.parametrize("alias", ["Production", "1", "latest", "", "a" * 65, "prod/x"])
def test_alias_names_are_validated(registry: Registry, three_versions: str, alias: str) -> None:
    with pytest.raises(InvalidRequest, match="alias"):
        registry.set_alias(three_versions, alias, 1)


def test_alias_to_missing_version(registry: Registry, three_versions: str) -> None:
    with pytest.raises(VersionNotFound, match="no version 9"):
        registry.set_alias(three_versions, "production", 9)
    assert registry.get_model(three_versions).aliases == {}


def test_resolve(registry: Registry, three_versions: str) -> None:
    assert registry.resolve(three_versions).version == 3
    assert registry.resolve(three_versions, version=1).version == 1
    with pytest.raises(InvalidRequest, match="give one of them"):
        registry.resolve(three_versions, version=1, alias="production")


def test_resolve_without_versions(registry: Registry, iris: str) -> None:
    with pytest.raises(VersionNotFound, match="no versions yet"):
        registry.resolve(iris)
