"""Every rule an upload must pass, each refused with a message that points at the culprit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modelmart.datasets.checks import check_upload
from modelmart.errors import InvalidDataset
from modelmart.schemas.datasets import DatasetKind, DatasetMetadata
from tests.unit.datasets.files import TABLE, image_zip, png, wav, write, write_zip

LIMIT = 10_000_000
NO_METADATA = DatasetMetadata()


def refused(path: Path, metadata: DatasetMetadata = NO_METADATA, limit: int = LIMIT) -> str:
    with pytest.raises(InvalidDataset) as caught:
        check_upload(path, path.name, metadata, limit)
    return caught.value.message


def test_a_tabular_csv_is_detected_with_its_label_and_summary(tmp_path: Path) -> None:
    checked = check_upload(write(tmp_path / "t.csv", TABLE), "t.csv", NO_METADATA, LIMIT)
    assert (checked.kind, checked.target, checked.file_format) == (
        DatasetKind.TABULAR, "label", "csv",
    )  # fmt: skip
    assert checked.summary.rows == 20
    assert checked.summary.class_balance == {"a": 10, "b": 10}
    assert [c.name for c in checked.summary.columns] == ["x1", "x2", "label"]


def test_parquet_and_jsonl_are_read(tmp_path: Path) -> None:
    frame = pd.read_csv(write(tmp_path / "t.csv", TABLE))
    frame.to_parquet(tmp_path / "t.parquet")
    assert check_upload(tmp_path / "t.parquet", "t.parquet", NO_METADATA, LIMIT).summary.rows == 20
    lines = "".join(f'{{"text": "word {i}", "label": "{"ab"[i % 2]}"}}\n' for i in range(6))
    checked = check_upload(write(tmp_path / "t.jsonl", lines), "t.jsonl", NO_METADATA, LIMIT)
    assert checked.kind is DatasetKind.TEXT


def test_a_missing_target_column_is_named_with_the_columns_present(tmp_path: Path) -> None:
    message = refused(write(tmp_path / "t.csv", TABLE), DatasetMetadata(target="species"))
    assert "column 'species' is missing" in message
    assert "x1, x2, label" in message


def test_an_unknown_column_of_a_text_dataset_is_refused(tmp_path: Path) -> None:
    text = "text,label,extra\n" + "hello,a,1\nworld,b,2\n"
    assert "column 'extra' is unknown" in refused(write(tmp_path / "t.csv", text))


def test_a_typo_in_a_numeric_column_names_row_and_line(tmp_path: Path) -> None:
    rows = [f"{i},{'ab'[i % 2]}" for i in range(20)]
    rows[13] = "1O,b"
    message = refused(write(tmp_path / "t.csv", "x,label\n" + "\n".join(rows) + "\n"))
    assert "column 'x' holds numbers, but row 14 (line 15) has '1O'" in message


def test_a_single_class_is_refused(tmp_path: Path) -> None:
    message = refused(write(tmp_path / "t.csv", "x,label\n1,a\n2,a\n3,a\n"))
    assert "single value ('a') in all 3 rows" in message


def test_a_row_without_a_label_is_named(tmp_path: Path) -> None:
    message = refused(write(tmp_path / "t.csv", "x,label\n1,a\n2,\n3,b\n"))
    assert "row 2 (line 3) has no value in the target column 'label'" in message


def test_empty_and_unreadable_tables_are_refused(tmp_path: Path) -> None:
    assert "is empty" in refused(write(tmp_path / "e.csv", ""))
    assert "could not be read" in refused(write(tmp_path / "r.csv", 'a,b\n1,"2\n'))
    assert "at least 2" in refused(write(tmp_path / "one.csv", "x,label\n1,a\n"))
    assert "not a dataset" in refused(write(tmp_path / "t.txt", "hello"))


def test_a_bad_json_line_is_named(tmp_path: Path) -> None:
    lines = '{"text": "a", "label": "x"}\n{"text": oops}\n'
    assert "t.jsonl line 2 is not valid JSON" in refused(write(tmp_path / "t.jsonl", lines))
    assert "line 1 is a JSON list" in refused(write(tmp_path / "l.jsonl", "[1, 2]\n"))


def test_an_empty_text_is_named(tmp_path: Path) -> None:
    message = refused(write(tmp_path / "t.csv", "text,label\nhello,a\n,b\n"))
    assert "row 2 (line 3)" in message


def test_interactions_need_numeric_ratings_and_known_columns(tmp_path: Path) -> None:
    good = "user,item,rating\n1,10,4\n2,11,5\n"
    checked = check_upload(write(tmp_path / "i.csv", good), "i.csv", NO_METADATA, LIMIT)
    assert (checked.kind, checked.target) == (DatasetKind.INTERACTIONS, None)
    bad = "user,item,rating\n1,10,4\n2,11,five\n"
    assert "'rating' must hold numbers, but row 2 (line 3)" in refused(
        write(tmp_path / "b.csv", bad)
    )
    extra = "user,item,score\n1,10,4\n2,11,5\n"
    assert "column 'score' is unknown" in refused(write(tmp_path / "x.csv", extra))
    missing = "user,item\n1,10\n,11\n"
    assert "row 2 (line 3) has no user" in refused(write(tmp_path / "m.csv", missing))


def test_implicit_interactions_get_a_rating_of_one(tmp_path: Path) -> None:
    path = write(tmp_path / "i.csv", "user,item\n1,10\n2,11\n")
    checked = check_upload(path, "i.csv", NO_METADATA, LIMIT)
    assert "rating" in [c.name for c in checked.summary.columns]


def test_images_in_class_folders_are_accepted(tmp_path: Path) -> None:
    checked = check_upload(image_zip(tmp_path / "i.zip", {"cat": 3, "dog": 2}), "i.zip",
                           NO_METADATA, LIMIT)  # fmt: skip
    assert checked.kind is DatasetKind.IMAGES
    assert checked.summary.class_balance == {"cat": 3, "dog": 2}
    assert checked.summary.files == 5


def test_images_listed_in_a_csv_are_accepted(tmp_path: Path) -> None:
    entries: dict[str, bytes | None] = {"data/a.png": png(), "data/b.png": png(9)}
    entries["data/labels.csv"] = b"path,label\na.png,x\nb.png,y\n"
    checked = check_upload(write_zip(tmp_path / "l.zip", entries), "l.zip", NO_METADATA, LIMIT)
    assert checked.summary.rows == 2


def test_a_listed_image_that_is_missing_is_named(tmp_path: Path) -> None:
    entries: dict[str, bytes | None] = {
        "a.png": png(),
        "labels.csv": b"path,label\na.png,x\nz.png,y\n",
    }
    assert "row 2 names 'z.png', which is not in the zip" in refused(
        write_zip(tmp_path / "l.zip", entries)
    )


def test_an_empty_class_folder_is_named(tmp_path: Path) -> None:
    entries: dict[str, bytes | None] = {"cat/1.png": png(), "dog/2.png": png(), "bird/": None}
    assert "class folder 'bird' holds no images" in refused(write_zip(tmp_path / "e.zip", entries))


def test_a_single_image_class_is_refused(tmp_path: Path) -> None:
    assert "single value ('cat')" in refused(image_zip(tmp_path / "s.zip", {"cat": 3}))


def test_an_image_outside_class_folders_is_named(tmp_path: Path) -> None:
    entries: dict[str, bytes | None] = {"cat/1.png": png(), "loose.png": png()}
    assert "image 'loose.png' is not inside a class folder" in refused(
        write_zip(tmp_path / "o.zip", entries)
    )


def test_a_corrupt_image_is_named(tmp_path: Path) -> None:
    entries: dict[str, bytes | None] = {"cat/1.png": png(), "dog/2.png": png()[:20]}
    assert "image 'dog/2.png' cannot be decoded" in refused(write_zip(tmp_path / "c.zip", entries))


def test_audio_with_transcripts_is_accepted_and_bad_audio_named(tmp_path: Path) -> None:
    entries: dict[str, bytes | None] = {
        "a.wav": wav(), "b.wav": wav(), "transcripts.csv": b"path,transcript\na.wav,hi\nb.wav,yo\n",
    }  # fmt: skip
    checked = check_upload(write_zip(tmp_path / "a.zip", entries), "a.zip", NO_METADATA, LIMIT)
    assert (checked.kind, checked.target) == (DatasetKind.AUDIO, "transcript")
    entries["b.wav"] = b"RIFF not really audio"
    assert "audio file 'b.wav' cannot be decoded" in refused(write_zip(tmp_path / "b.zip", entries))


def test_audio_without_transcripts_is_refused(tmp_path: Path) -> None:
    assert "needs a CSV" in refused(write_zip(tmp_path / "a.zip", {"a.wav": wav()}))


def test_a_zip_entry_escaping_the_folder_is_refused(tmp_path: Path) -> None:
    entries: dict[str, bytes | None] = {"cat/1.png": png(), "../../etc/evil.png": png()}
    assert "'../../etc/evil.png' escapes the dataset folder" in refused(
        write_zip(tmp_path / "z.zip", entries)
    )


def test_an_archive_expanding_past_the_limit_is_refused(tmp_path: Path) -> None:
    bomb = write_zip(tmp_path / "b.zip", {"cat/1.png": png(), "dog/big.png": b"\0" * 100_000})
    assert "expands to more than the 50000-byte limit" in refused(bomb, limit=50_000)


def test_a_zip_of_neither_images_nor_audio_is_refused(tmp_path: Path) -> None:
    assert "neither images" in refused(write_zip(tmp_path / "n.zip", {"a.txt": b"x"}))
    assert "is not a complete zip" in refused(write(tmp_path / "t.zip", "PK\x03\x04trunc"))


def test_declared_kinds_must_match_the_file(tmp_path: Path) -> None:
    table = write(tmp_path / "t.csv", TABLE)
    assert "uploaded as a .zip" in refused(table, DatasetMetadata(kind=DatasetKind.IMAGES))
    images = image_zip(tmp_path / "i.zip", {"a": 1, "b": 1})
    assert "not tabular" in refused(images, DatasetMetadata(kind=DatasetKind.TABULAR))
