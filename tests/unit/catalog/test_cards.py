"""Model cards: sizes from package metadata, measurements from measured.json."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from modelmart.catalog.cards import (
    Catalogue,
    Measurements,
    build_card,
    installed_size,
    load_measurements,
)
from modelmart.catalog.entries import ENTRIES, LANGID, MINILM_INT8, VADER_SENTIMENT
from modelmart.errors import NotFound

from .catalog_fakes import LATENCY, MISSING, measurements


def module_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def test_size_of_a_file_reference_is_the_size_of_its_files():
    expected = sum(
        (module_dir(file.module) / file.path).stat().st_size
        for file in MINILM_INT8.manifest.files.values()
    )

    assert installed_size(MINILM_INT8.manifest) == expected


def test_size_of_a_package_model_is_its_whole_package():
    assert (
        installed_size(VADER_SENTIMENT.manifest)
        > (module_dir("vaderSentiment") / "vader_lexicon.txt").stat().st_size
    )


def test_size_of_a_missing_package_is_unknown():
    assert installed_size(MISSING.manifest) is None


def test_card_carries_the_entry_and_its_measurements():
    card = build_card(LANGID, measurements("langid"))

    assert (card.name, card.task, card.runtime, card.format) == (
        "langid", LANGID.task, LANGID.manifest.runtime, LANGID.manifest.format
    )  # fmt: skip
    assert card.packages == {"langid": "1.1.6"}
    assert card.licences == {"langid": "BSD-2-Clause"}
    assert card.signature == LANGID.signature
    assert card.latency == LATENCY
    assert [m.metric for m in card.quality] == ["accuracy"]
    assert card.available


def test_an_unmeasured_entry_claims_nothing():
    card = build_card(LANGID, Measurements())

    assert card.latency is None
    assert card.quality == []


def test_catalogue_names_its_entries_when_one_is_unknown():
    catalogue = Catalogue(ENTRIES, Measurements())

    with pytest.raises(NotFound, match="minilm-int8, minilm, vader-sentiment, langid"):
        catalogue.card("gpt-5")


def test_the_shipped_measurements_cover_every_entry():
    shipped = load_measurements()

    assert set(shipped.models) == {entry.name for entry in ENTRIES}
    assert shipped.notes  # what the small sets mean travels with the numbers
    for name, measured in shipped.models.items():
        assert measured.quality, name
        assert measured.latency.ms_per_item_alone > 0
