"""The entities runtime and ``redact()`` on Presidio with spaCy's real English pipeline."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelmart.errors import InvalidRequest, UnsupportedFormat
from modelmart.privacy.redaction import redact
from modelmart.runtimes.base import LoadRequest, Runtime, create_runtime
from modelmart.types import ArtifactFormat, RuntimeName

TEXT = "Call Maria Lopez at 415-555-0199 or write to maria.lopez@example.com."


def open_presidio(path: Path, **parameters: object) -> Runtime:
    runtime = create_runtime(RuntimeName.PRESIDIO)
    runtime.load(LoadRequest(path=path, format=ArtifactFormat.PACKAGE, parameters=parameters))
    return runtime


@pytest.fixture(scope="module")
def presidio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = open_presidio(tmp_path_factory.mktemp("presidio"))
    yield runtime
    runtime.unload()


def entities(runtime: Runtime, *texts: str) -> list[list[dict[str, object]]]:
    outputs = runtime.predict({"text": np.array(texts, dtype=object)})
    return [json.loads(item) for item in outputs["entities"]]


def test_finds_each_entity_once_with_offsets(presidio: Runtime) -> None:
    (found,) = entities(presidio, TEXT)
    assert [(e["type"], e["text"]) for e in found] == [
        ("PERSON", "Maria Lopez"),
        ("PHONE_NUMBER", "415-555-0199"),
        ("EMAIL_ADDRESS", "maria.lopez@example.com"),  # not also a URL: overlaps are resolved
    ]
    for entity in found:
        assert TEXT[entity["start"] : entity["end"]] == entity["text"]
        assert 0 < entity["score"] <= 1


def test_redacts_and_leaves_plain_text_alone(presidio: Runtime) -> None:
    outputs = presidio.predict({"text": np.array([TEXT, "The build is green."], dtype=object)})
    assert outputs["redacted"].tolist() == [
        "Call <PERSON> at <PHONE_NUMBER> or write to <EMAIL_ADDRESS>.",
        "The build is green.",
    ]
    assert json.loads(outputs["entities"][1]) == []
    assert presidio.metadata["entity_types"][0] == "PERSON"


def test_cards_and_addresses_are_validated_not_just_matched(presidio: Runtime) -> None:
    valid, invalid = entities(
        presidio, "Card 4111 1111 1111 1111 from 10.0.0.1", "Card 4111 1111 1111 1112"
    )
    assert {e["type"] for e in valid} == {"CREDIT_CARD", "IP_ADDRESS"}
    assert invalid == []  # fails the Luhn checksum


def test_entity_types_narrow_what_is_found(tmp_path: Path) -> None:
    runtime = open_presidio(tmp_path, entity_types=["EMAIL_ADDRESS"], score_threshold=0.5)
    try:
        (found,) = entities(runtime, TEXT)
    finally:
        runtime.unload()
    assert [e["type"] for e in found] == ["EMAIL_ADDRESS"]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"entity_types": ["PASSPORT_OF_MARS"]}, "are not detected; choose from"),
        ({"entity_types": "PERSON"}, "expected a non-empty list"),
        ({"score_threshold": 2}, "expected a number from 0 to 1"),
    ],
)
def test_bad_parameters_are_refused(tmp_path: Path, parameters, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        open_presidio(tmp_path, **parameters)


def test_uploads_are_not_its_format(tmp_path: Path) -> None:
    runtime = create_runtime(RuntimeName.PRESIDIO)
    with pytest.raises(UnsupportedFormat, match="pii-detector"):
        runtime.load(LoadRequest(tmp_path, ArtifactFormat.SKOPS))


def test_redact_runs_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert redact("Mail jane.doe@example.com or call 212-555-0198.") == (
        "Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>."
    )
    assert redact("   ") == "   "
