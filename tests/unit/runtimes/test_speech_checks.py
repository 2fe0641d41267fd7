"""The checks the audio routes run before a speech request joins a batch."""

from __future__ import annotations

import pytest

from modelmart.errors import InvalidRequest
from modelmart.runtimes.speech import (
    DEFAULT_MAX_CHARACTERS,
    VOICES,
    check_speech_request,
    max_audio_seconds,
    max_characters,
)


def test_a_good_request_passes_with_every_voice() -> None:
    for voice in VOICES:
        check_speech_request("Hello there.", voice, 1.0, 100)


@pytest.mark.parametrize(
    ("text", "voice", "speed", "param", "words"),
    [
        ("   ", "alloy", 1.0, "input", "blank"),
        ("x" * 11, "alloy", 1.0, "input", "11 characters, more than this model's limit of 10"),
        ("Hi.", "emma", 1.0, "voice", "voice 'emma' is not available"),
        ("Hi.", "alloy", 3.0, "speed", "speed 3 is out of range"),
    ],
)
def test_bad_requests_name_the_field(
    text: str, voice: str, speed: float, param: str, words: str
) -> None:
    with pytest.raises(InvalidRequest, match=words) as caught:
        check_speech_request(text, voice, speed, 10)
    assert caught.value.details["param"] == param


def test_items_of_a_batch_are_numbered() -> None:
    with pytest.raises(InvalidRequest, match=r"^item 2: the text is blank"):
        check_speech_request("", "alloy", 1.0, 10, index=2)


def test_limits_come_from_the_parameters() -> None:
    assert max_characters({}) == DEFAULT_MAX_CHARACTERS
    assert max_characters({"max_characters": 12}) == 12
    assert max_characters({"max_characters": "many"}) == DEFAULT_MAX_CHARACTERS
    assert max_audio_seconds({}) is None
    assert max_audio_seconds({"max_audio_seconds": 30}) == 30.0
