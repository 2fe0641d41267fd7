"""Catalogue calls of both SDK clients."""

from __future__ import annotations

from typing import Any

import pytest

from modelmart.client import CatalogModel
from modelmart.errors import NotFound
from modelmart.types import Datatype, Task

from .client_fakes import FakeServer

CATALOG = "/v1/catalog"


def catalog_model(name: str = "langid", **changes: Any) -> dict[str, Any]:
    model = {
        "name": name,
        "title": "langid.py language identification",
        "task": "language-identification",
        "description": "Names the language of a text.",
        "runtime": "langid",
        "format": "package",
        "packages": {"langid": "1.1.6"},
        "licences": {"langid": "BSD-2-Clause"},
        "size_bytes": 2623498,
        "signature": {
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": "language", "datatype": "BYTES", "shape": [-1]}],
        },
        "latency": {
            "ms_per_item_alone": 4.1,
            "ms_per_item_batched": 3.9,
            "batch_size": 32,
            "cpu": "AMD EPYC",
            "threads": 2,
        },
        "quality": [{"metric": "accuracy", "value": 1.0, "dataset": "30 sentences"}],
        "available": True,
        "unavailable_reason": None,
        "latest_version": 1,
        "deployed": False,
    }
    return {**model, **changes}


def test_catalog_lists_every_card_with_its_state(mm, server: FakeServer):
    missing = catalog_model("vader-sentiment", available=False, size_bytes=None,
                            unavailable_reason="pip install vaderSentiment==3.3.2")  # fmt: skip
    server.on("GET", CATALOG, json={"models": [catalog_model(deployed=True), missing]})

    langid, vader = mm.catalog()

    assert isinstance(langid, CatalogModel)
    assert (langid.task, langid.deployed, langid.latest_version) == (
        Task.LANGUAGE_IDENTIFICATION, True, 1
    )  # fmt: skip
    assert langid.signature.inputs[0].datatype is Datatype.BYTES
    assert langid.latency is not None
    assert langid.latency.ms_per_item_alone == 4.1
    assert langid.quality[0].value == 1.0
    assert not vader.available
    assert vader.unavailable_reason == "pip install vaderSentiment==3.3.2"


def test_catalog_entry_gets_one_card_and_ignores_fields_of_newer_servers(mm, server):
    server.on("GET", f"{CATALOG}/langid", json=catalog_model(popularity=3))

    assert mm.catalog_entry("langid").licences == {"langid": "BSD-2-Clause"}
    assert server.last.method == "GET"


def test_catalog_entry_raises_not_found_for_unknown_names(mm, server: FakeServer):
    server.fail("GET", f"{CATALOG}/gpt", 404, "not_found", "catalog entry 'gpt' not found")

    with pytest.raises(NotFound, match="catalog entry 'gpt' not found"):
        mm.catalog_entry("gpt")
