import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelmart.errors import ArtifactCorrupted, InvalidRequest, NotFound, PayloadTooLarge
from modelmart.store.artifacts import ArtifactStore, LocalArtifactStore, MemoryArtifactStore

DATA = b"model bytes " * 1000
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "local":
        yield LocalArtifactStore(tmp_path / "artifacts")
    else:
        yield MemoryArtifactStore()


def _corrupt(store: ArtifactStore, digest: str) -> None:
    if isinstance(store, MemoryArtifactStore):
        store.corrupt(digest)
    else:
        store.path(digest).write_bytes(b"flipped bits")


def test_put_stream_and_path(store: ArtifactStore) -> None:
    ref = store.put(io.BytesIO(DATA))
    assert (ref.digest, ref.size) == (DIGEST, len(DATA))
    assert store.exists(DIGEST)
    assert store.path(DIGEST).read_bytes() == DATA


def test_put_path_is_idempotent(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(DATA)
    assert store.put(source) == store.put(source) == store.put(io.BytesIO(DATA))


def test_corruption_is_detected_and_a_new_put_repairs_it(store: ArtifactStore) -> None:
    store.put(io.BytesIO(DATA))
    _corrupt(store, DIGEST)
    with pytest.raises(ArtifactCorrupted, match=DIGEST) as caught:
        store.path(DIGEST)
    assert caught.value.details["actual"] != DIGEST
    store.put(io.BytesIO(DATA))
    assert store.path(DIGEST).read_bytes() == DATA


def test_missing_blob(store: ArtifactStore) -> None:
    assert not store.exists(DIGEST)
    with pytest.raises(NotFound):
        store.path(DIGEST)
    assert store.delete(DIGEST) is False


def test_delete(store: ArtifactStore) -> None:
    store.put(io.BytesIO(DATA))
    assert store.delete(DIGEST) is True
    assert not store.exists(DIGEST)


@pytest.mark.parametrize("digest", ["../../etc/passwd", "ABC", "a" * 63, "A" * 64])
def test_malformed_digest_is_refused(store: ArtifactStore, digest: str) -> None:
    with pytest.raises(InvalidRequest, match="SHA-256"):
        store.path(digest)


def test_max_bytes_refuses_while_streaming(store: ArtifactStore) -> None:
    with pytest.raises(PayloadTooLarge, match="1000-byte limit"):
        store.put(io.BytesIO(DATA), max_bytes=1000)
    assert not store.exists(DIGEST)
    assert store.put(io.BytesIO(DATA), max_bytes=len(DATA)).digest == DIGEST


def test_local_layout_and_no_temporary_files_left(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    store.put(io.BytesIO(DATA))
    with pytest.raises(PayloadTooLarge):
        store.put(io.BytesIO(DATA + b"!"), max_bytes=10)
    files = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [f"sha256/{DIGEST[:2]}/{DIGEST}"]
