"""Actor names and artifact shipping: what two servers must agree on without talking."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

import pytest

from modelmart.errors import InvalidArtifact
from modelmart.serving.ray.artifacts import SharedArtifacts, pack_artifact, unpack_artifact
from modelmart.serving.ray.naming import SlotNumbers, actor_name, generation
from tests.unit.serving.fakes import served


def test_names_depend_on_what_is_loaded_not_where_it_lies() -> None:
    target = served(1, factor=2.0)
    elsewhere = dataclasses.replace(
        target, load=dataclasses.replace(target.load, path=Path("/other/cache/copy"))
    )
    assert actor_name("acme/iris", target, 0) == actor_name("acme/iris", elsewhere, 0)
    assert generation(served(1, factor=3.0)) != generation(target)
    assert generation(served(2, factor=2.0)) != generation(target)
    assert actor_name("acme/iris", target, 1).startswith("acme_iris.v1.")


def test_slots_refill_from_the_lowest() -> None:
    slots = SlotNumbers()
    assert [slots.claim("g"), slots.claim("g"), slots.claim("g")] == [0, 1, 2]
    slots.release("g", 1)
    assert slots.claim("g") == 1
    assert slots.claim("other") == 0


def test_a_file_and_a_directory_survive_the_trip(tmp_path: Path) -> None:
    model = tmp_path / "model.skops"
    model.write_bytes(b"weights")
    folder = tmp_path / "unpacked"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "vocab.txt").write_text("a b c")
    (folder / "weights.onnx").symlink_to(model)  # as catalogue models link to their package

    file_copy = unpack_artifact(pack_artifact(model), tmp_path / "node-a")
    assert (file_copy.name, file_copy.read_bytes()) == ("artifact.skops", b"weights")
    folder_copy = unpack_artifact(pack_artifact(folder), tmp_path / "node-b")
    assert (folder_copy / "sub" / "vocab.txt").read_text() == "a b c"
    copied = folder_copy / "weights.onnx"
    assert (copied.is_symlink(), copied.read_bytes()) == (False, b"weights")


def test_a_foreign_archive_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("elsewhere/file")
        archive.addfile(info, io.BytesIO(b""))
    with pytest.raises(InvalidArtifact):
        unpack_artifact(buffer.getvalue(), tmp_path)


def test_one_stored_copy_per_artifact_until_its_last_user_leaves(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"x")
    stores: list[bytes] = []
    shared: SharedArtifacts[int] = SharedArtifacts(lambda packed: stores.append(packed) or 7)
    assert shared.take(model) == shared.take(model) == 7
    assert len(stores) == 1
    shared.give_back(model)
    assert len(shared) == 1
    shared.give_back(model)
    assert len(shared) == 0
