"""Dataset versions in the database (SQLite and PostgreSQL): numbering, content addressing,
listings, previews and the built-in samples."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelmart.datasets.loading import load_training_data
from modelmart.datasets.samples import Sample, install_samples, on_demand_samples
from modelmart.datasets.service import DatasetService
from modelmart.errors import DatasetNotFound, InvalidDataset, InvalidRequest
from modelmart.schemas.datasets import DatasetKind, DatasetMetadata
from modelmart.store.artifacts import MemoryArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory
from tests.unit.datasets.files import TABLE, image_zip, write
from tests.unit.registry.builders import SINGLE_USER


@pytest.fixture
def service(tmp_path: Path) -> Iterator[DatasetService]:
    yield from _service(f"sqlite:///{tmp_path / 'modelmart.db'}", tmp_path)


@pytest.fixture
def any_service(database_url: str, tmp_path: Path) -> Iterator[DatasetService]:
    """On SQLite, then on PostgreSQL."""
    yield from _service(database_url, tmp_path)


def _service(database_url: str, tmp_path: Path) -> Iterator[DatasetService]:
    engine = create_engine_for(database_url)
    migrate(engine)
    yield DatasetService(
        session_factory(engine), MemoryArtifactStore(), tmp_path / "cache", 10_000_000
    )
    engine.dispose()


def test_versions_are_numbered_and_the_same_bytes_reuse_a_version(
    any_service: DatasetService, tmp_path: Path
) -> None:
    service = any_service
    first = service.register(
        SINGLE_USER, "toy", write(tmp_path / "a.csv", TABLE), "a.csv", DatasetMetadata()
    )
    again = service.register(SINGLE_USER, "toy", tmp_path / "a.csv", "a.csv", DatasetMetadata())
    changed = write(tmp_path / "b.csv", TABLE + "99,1,a\n")
    second = service.register(
        SINGLE_USER, "toy", changed, "b.csv", DatasetMetadata(description="more")
    )
    assert (first.version, again.version, second.version) == (1, 1, 2)
    assert again.digest == first.digest != second.digest
    assert [v.version for v in service.versions(SINGLE_USER, "toy")] == [1, 2]
    assert service.get("toy").version == 2
    assert service.get("toy", 1).summary.rows == 20
    assert [(d.name, d.version) for d in service.list_latest()] == [("toy", 2)]
    assert service.names() == {"toy"}


def test_a_refused_upload_leaves_nothing(service: DatasetService, tmp_path: Path) -> None:
    bad = write(tmp_path / "b.csv", "x,label\n1,a\n2,a\n")
    with pytest.raises(InvalidDataset):
        service.register(SINGLE_USER, "bad", bad, "b.csv", DatasetMetadata())
    with pytest.raises(DatasetNotFound, match="dataset 'bad' does not exist"):
        service.versions(SINGLE_USER, "bad")
    with pytest.raises(InvalidRequest, match="dataset name"):
        service.register(SINGLE_USER, "../x", tmp_path / "b.csv", "b.csv", DatasetMetadata())


def test_unknown_versions_are_not_found(service: DatasetService, tmp_path: Path) -> None:
    service.register(
        SINGLE_USER, "toy", write(tmp_path / "a.csv", TABLE), "a.csv", DatasetMetadata()
    )
    with pytest.raises(DatasetNotFound, match="version 9 of dataset 'toy'"):
        service.get("toy", 9)
    with pytest.raises(DatasetNotFound):
        service.get("nothing")


def test_preview_returns_json_safe_rows(service: DatasetService, tmp_path: Path) -> None:
    table = write(tmp_path / "a.csv", "x,y,label\n1,,a\n2,3,b\n")
    service.register(SINGLE_USER, "toy", table, "a.csv", DatasetMetadata())
    preview = service.preview(service.find(SINGLE_USER, "toy"), 1)
    assert preview.columns == ["x", "y", "label"]
    assert preview.rows == [{"x": 1, "y": None, "label": "a"}]
    with pytest.raises(InvalidRequest, match="rows must be"):
        service.preview(service.get("toy"), 0)


def test_training_data_of_an_image_dataset_points_into_the_unpacked_zip(
    service: DatasetService, tmp_path: Path
) -> None:
    images = image_zip(tmp_path / "p.zip", {"a": 2, "b": 2})
    info = service.register(SINGLE_USER, "pics", images, "p.zip", DatasetMetadata())
    data = load_training_data(service.stored(info))
    assert data.kind is DatasetKind.IMAGES
    assert data.root is not None
    assert data.target == "label"
    assert all((data.root / path).is_file() for path in data.frame["path"])
    assert (data.name, data.version, data.digest) == ("pics", 1, info.digest)


def test_samples_install_once(service: DatasetService) -> None:
    built: list[str] = []

    def build(path: Path) -> None:
        built.append(path.name)
        path.write_text(TABLE)

    samples = (Sample("tiny", "tiny.csv", DatasetKind.TABULAR, "label", "a sample", build),)
    assert install_samples(service, samples) == ["tiny"]
    assert install_samples(service, samples) == []
    assert built == ["tiny.csv"]
    assert service.get("tiny").description == "a sample"


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_fashion_mnist_is_registered_on_first_use(service: DatasetService, tmp_path: Path) -> None:
    folder = tmp_path / "fashion"
    folder.mkdir()
    for split, count in (("train", 4), ("t10k", 2)):
        pixels = np.arange(count * 784).reshape(count, 28, 28) % 251
        _write_idx(folder / f"{split}-images-idx3-ubyte.gz", pixels)
        _write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(count) % 2)
    assert on_demand_samples(tmp_path / "absent") == {}
    lazy = DatasetService(
        service._sessions, MemoryArtifactStore(), tmp_path / "c", 10**7, on_demand_samples(folder)
    )
    assert lazy.names() == set()
    info = lazy.find(SINGLE_USER, "fashion-mnist")
    assert (info.kind, info.summary.rows) == (DatasetKind.IMAGES, 6)
    assert info.summary.class_balance == {"t-shirt": 3, "trouser": 3}
    assert lazy.find(SINGLE_USER, "fashion-mnist").version == 1  # registered by the first ask
    with pytest.raises(DatasetNotFound):
        lazy.find(SINGLE_USER, "other")
