"""A table's width is bounded before it is parsed; list views stay small however wide."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pandas as pd
import pytest

from modelmart.datasets import reading
from modelmart.datasets.reading import check_width
from modelmart.datasets.service import DatasetService
from modelmart.errors import InvalidDataset
from modelmart.schemas.datasets import DatasetMetadata
from modelmart.store.artifacts import MemoryArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory
from tests.unit.datasets.files import write
from tests.unit.registry.builders import SINGLE_USER


def wide_csv(path: Path, columns: int, rows: int = 3) -> Path:
    header = ",".join(f"c{i}" for i in range(columns - 1)) + ",label"
    body = "".join(",".join(["1"] * (columns - 1)) + f",{r % 2}\n" for r in range(rows))
    return write(path, header + "\n" + body)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[DatasetService]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'modelmart.db'}")
    migrate(engine)
    yield DatasetService(
        session_factory(engine), MemoryArtifactStore(), tmp_path / "cache", 10_000_000,
        max_columns=50,
    )  # fmt: skip
    engine.dispose()


def test_a_csv_wider_than_the_limit_is_refused_from_its_header(
    service: DatasetService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = wide_csv(tmp_path / "wide.csv", 100_000, rows=20)

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the table was parsed before its width was checked")

    monkeypatch.setattr(reading.pd, "read_csv", no_parsing)
    with pytest.raises(InvalidDataset) as refused:
        check_width(path, "csv", "wide.csv", 2000)
    with pytest.raises(InvalidDataset, match="at most 50"):
        service.register(SINGLE_USER, "wide", path, "wide.csv", DatasetMetadata())

    assert refused.value.status == 422
    assert refused.value.details["max_columns"] == 2000
    assert refused.value.details["columns"] > 2000  # the header is not read past what fits
    assert "at most 2000" in refused.value.message


def test_a_header_within_reach_is_counted_exactly(tmp_path: Path) -> None:
    path = wide_csv(tmp_path / "wide.csv", 3000)
    with pytest.raises(InvalidDataset) as refused:
        check_width(path, "csv", "wide.csv", 2000)
    assert refused.value.details == {"file": "wide.csv", "columns": 3000, "max_columns": 2000}
    assert "wide.csv has 3000 columns" in refused.value.message


def test_quoted_separators_do_not_count_as_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", '"a,b",c\n1,2\n')
    check_width(path, "csv", "q.csv", 2)
    with pytest.raises(InvalidDataset):
        check_width(path, "csv", "q.csv", 1)


def test_parquet_and_json_lines_are_measured_without_reading_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame({f"c{i}": [1, 2] for i in range(30)})
    frame.to_parquet(tmp_path / "t.parquet")
    write(tmp_path / "t.jsonl", "\n" + orjson.dumps(dict.fromkeys(frame.columns, 1)).decode())
    for name, file_format in (("t.parquet", "parquet"), ("t.jsonl", "jsonl")):
        check_width(tmp_path / name, file_format, name, 30)
        with pytest.raises(InvalidDataset, match="30 columns"):
            check_width(tmp_path / name, file_format, name, 29)


def test_an_upload_past_the_services_limit_is_refused_and_leaves_nothing(
    service: DatasetService, tmp_path: Path
) -> None:
    path = wide_csv(tmp_path / "wide.csv", 51)
    with pytest.raises(InvalidDataset, match="at most 50"):
        service.register(SINGLE_USER, "wide", path, "wide.csv", DatasetMetadata())
    assert service.visible(SINGLE_USER) == []


def test_lists_give_the_column_count_and_the_detail_every_column(
    service: DatasetService, tmp_path: Path
) -> None:
    path = wide_csv(tmp_path / "ok.csv", 50, rows=6)
    service.register(SINGLE_USER, "ok", path, "ok.csv", DatasetMetadata(target="label"))

    [listed] = service.visible(SINGLE_USER)
    [version] = service.versions(SINGLE_USER, "ok")
    detail = service.find(SINGLE_USER, "ok")

    assert listed.summary.columns == version.summary.columns == []
    assert listed.summary.column_count == detail.summary.column_count == 50
    assert len(detail.summary.columns) == 50
