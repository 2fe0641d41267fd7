"""Installing the catalogue into a registry (SQLite, in-memory artifacts, fake inspector)."""

from __future__ import annotations

from modelmart.catalog.entries import ENTRIES, OWNER, VADER_SENTIMENT
from modelmart.catalog.install import install_catalogue, manifest_digest
from modelmart.tenancy import Principal
from modelmart.types import ArtifactFormat

from .catalog_fakes import MISSING, measurements


def versions_by_model(registry):
    return {model.name: registry.list_versions(model.name) for model in registry.list_models()}


def test_first_install_registers_every_entry_without_loading_anything(
    registry, inspector, artifacts
):
    catalogue = install_catalogue(registry, measurements=measurements("langid"))

    assert inspector.calls == []
    assert [card.name for card in catalogue.cards()] == [entry.name for entry in ENTRIES]
    for entry in ENTRIES:
        model = registry.get_model(entry.name)
        assert (model.owner, model.task, model.latest_version) == (OWNER, entry.task, 1)
        (version,) = registry.list_versions(entry.name)
        assert version.format is ArtifactFormat.PACKAGE
        assert version.runtime is entry.manifest.runtime
        assert version.signature == entry.signature
        assert version.parameters == entry.parameters
        assert version.artifact_digest == manifest_digest(entry.manifest)
        assert artifacts.exists(version.artifact_digest)
        assert version.lineage == {"source": "package", "packages": entry.manifest.packages}
    assert registry.get_version("langid", 1).metrics == {"accuracy": 0.9}
    assert registry.get_version("minilm", 1).metrics == {}  # not measured: nothing claimed


def test_a_restart_adds_nothing(registry):
    install_catalogue(registry, measurements=measurements())
    before = versions_by_model(registry)

    install_catalogue(registry, measurements=measurements("langid", accuracy=0.5))

    assert versions_by_model(registry) == before


def test_a_changed_entry_gets_one_new_version(registry):
    install_catalogue(registry, (VADER_SENTIMENT,), measurements())
    pinned = VADER_SENTIMENT.manifest.model_copy(update={"packages": {"vaderSentiment": "3.3.3"}})
    retuned = VADER_SENTIMENT.model_copy(update={"parameters": {"threshold": 0.1}})
    repinned = VADER_SENTIMENT.model_copy(update={"manifest": pinned})

    install_catalogue(registry, (retuned,), measurements())
    install_catalogue(registry, (repinned,), measurements())
    install_catalogue(registry, (repinned,), measurements())

    versions = registry.list_versions(VADER_SENTIMENT.name)
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[1].parameters == {"threshold": 0.1}
    assert versions[2].artifact_digest == manifest_digest(pinned)


def test_an_entry_whose_package_is_missing_is_listed_as_unavailable(registry):
    catalogue = install_catalogue(registry, (VADER_SENTIMENT, MISSING), measurements())

    available, missing = catalogue.cards()
    assert available.available
    assert available.unavailable_reason is None
    assert not missing.available
    assert missing.size_bytes is None
    assert "pip install modelmart-no-such-package==1.0.0" in (missing.unavailable_reason or "")
    # Registered all the same, so that installing the package is all it takes to deploy it.
    assert registry.get_model(MISSING.name).latest_version == 1


def test_a_user_model_of_the_same_name_is_left_alone(registry):
    registry.create_model(
        Principal.single_user(), "langid", "custom", description="mine", owner="alice"
    )
    (langid,) = [entry for entry in ENTRIES if entry.name == "langid"]

    catalogue = install_catalogue(registry, (langid,), measurements())

    assert registry.get_model("langid").latest_version is None
    card = catalogue.card("langid")
    assert not card.available
    assert "owned by 'alice'" in (card.unavailable_reason or "")
