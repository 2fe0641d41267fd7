"""The catalogue's entries are well-formed and agree with the packages they name."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

from modelmart.catalog.entries import ENTRIES, OWNER, entry_named
from modelmart.errors import NotFound
from modelmart.runtimes.base import _RUNTIME_MODULES
from modelmart.tenancy import check_name
from modelmart.types import ArtifactFormat, Datatype

PYPROJECT = Path(__file__).parents[3] / "pyproject.toml"
MAKEFILE = PYPROJECT.with_name("Makefile")


def pinned_dependencies() -> dict[str, str]:
    """The server extra's pins, and the Makefile's for packages installed without dependencies."""
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    dependencies = extras["server"]
    no_deps = re.findall(r"[\w.-]+==[\w.]+", MAKEFILE.read_text().split("--no-deps", 1)[-1])
    pins = (line.split("==") for line in [*dependencies, *no_deps] if "==" in line)
    return {name.strip().lower(): version.strip() for name, version in pins}


def test_the_first_slice_is_listed_default_embedding_model_first():
    assert [entry.name for entry in ENTRIES][:4] == ["minilm-int8", "minilm", "vader-sentiment",
                                                     "langid"]  # fmt: skip
    assert OWNER == "modelmart"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.name)
def test_entry_is_well_formed(entry):
    assert check_name("model", entry.name) == entry.name
    assert entry.manifest.runtime in _RUNTIME_MODULES
    # The first input is the content, one item per instance: a text, or the bytes of an
    # encoded file (image, audio); options may follow it.
    content = entry.signature.inputs[0]
    assert (content.datatype, content.shape) == (Datatype.BYTES, (-1,))
    # Every package, and every program run as a separate process, has its licence written down.
    assert set(entry.licences) == set(entry.manifest.packages) | set(entry.programs)
    # A directory format names its files; a package format may name some or none (the
    # package is the model).
    assert entry.manifest.files or entry.manifest.format is ArtifactFormat.PACKAGE


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.name)
def test_entry_versions_are_the_ones_pyproject_pins(entry):
    pins = pinned_dependencies()
    for distribution, version in entry.manifest.packages.items():
        assert pins[distribution.lower()] == version


@pytest.fixture(scope="module")
def providers() -> dict[str, list[str]]:
    """Top-level module -> the distributions that install it (slow to compute: once)."""
    return dict(importlib.metadata.packages_distributions())


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.name)
def test_entry_files_come_from_its_own_packages(entry, providers):
    named = {name.lower() for name in entry.manifest.packages}
    for file in entry.manifest.files.values():
        top_level = file.module.split(".")[0]
        assert {name.lower() for name in providers[top_level]} & named


def test_names_are_unique():
    names = [entry.name for entry in ENTRIES]
    assert len(set(names)) == len(names)


def test_entry_named_finds_an_entry_or_lists_them_all():
    assert entry_named(ENTRIES, "langid").name == "langid"
    with pytest.raises(NotFound, match="catalog entry 'nope' not found") as raised:
        entry_named(ENTRIES, "nope")
    assert raised.value.details["entries"] == [entry.name for entry in ENTRIES]
