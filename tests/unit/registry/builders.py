"""Small artifact files for format, archive and registry tests (no frameworks needed), and
the callers the tenancy tests use."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
import zipfile
from pathlib import Path

from modelmart.schemas.roles import Role
from modelmart.tenancy import Principal
from modelmart.types import Datatype, Signature, TensorSpec

SIGNATURE = Signature(
    inputs=(TensorSpec(name="input", datatype=Datatype.FP64, shape=(-1, 4)),),
    outputs=(TensorSpec(name="label", datatype=Datatype.INT64, shape=(-1,)),),
)
ONNX_BYTES = b"\x08\x07\x12\x07pytorch" + bytes(64)  # ModelProto starts with ir_version


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def write_tar(path: Path, entries: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def add_tar_member(path: Path, info: tarfile.TarInfo, data: bytes = b"") -> Path:
    """Append one crafted member (a link, a device) to an uncompressed tar."""
    with tarfile.open(path, "a") as archive:
        archive.addfile(info, io.BytesIO(data) if data else None)
    return path


def skops_file(path: Path) -> Path:
    return write_zip(path, {"schema.json": b'{"protocol": 2}', "key.npy": b"\x93NUMPY"})


def torchscript_file(path: Path) -> Path:
    return write_zip(
        path,
        {
            "model/data.pkl": pickle.dumps({}),
            "model/code/__torch__.py": b"class M: ...",
            "model/constants.pkl": pickle.dumps(()),
        },
    )


def torch_save_file(path: Path) -> Path:
    return write_zip(path, {"model/data.pkl": pickle.dumps({}), "model/version": b"3"})


def hf_dir_entries(top: str = "my-model/", sentence_transformers: bool = False) -> dict[str, bytes]:
    entries = {
        f"{top}config.json": json.dumps({"model_type": "bert"}).encode(),
        f"{top}model.safetensors": b"\x00" * 16,
        f"{top}tokenizer.json": b"{}",
    }
    if sentence_transformers:
        entries[f"{top}modules.json"] = b"[]"
    return entries


SINGLE_USER = Principal.single_user()


def tenant(
    slug: str,
    *,
    role: Role = Role.DEVELOPER,
    models: frozenset[str] | None = None,
    published: frozenset[str] = frozenset(),
    operator: bool = False,
) -> Principal:
    """A caller from organisation ``slug`` (accounts on)."""
    return Principal(
        org_id=hash(slug) % 10_000,
        org_slug=slug,
        key_id=1,
        role=role,
        is_operator=operator,
        models=models,
        published=published,
    )
