"""The word error rate and the test sets' readers behind the speech models' cards."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelmart.catalog import speech_evaluation
from modelmart.catalog.entries import ENTRIES
from modelmart.catalog.speech_entries import HIBARI_TTS, POCKETSPHINX_EN
from modelmart.catalog.speech_evaluation import (
    edit_distance,
    librivox_clips,
    measure_speech,
    word_error_rate,
    words,
)
from modelmart.runtimes.speech import SPEECH_SIGNATURE, TRANSCRIPTION_SIGNATURE


def test_words_ignore_case_and_punctuation() -> None:
    assert words("Don't STOP, now!") == ["don't", "stop", "now"]


def test_edit_distance_counts_substitutions_insertions_and_deletions() -> None:
    assert edit_distance(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert edit_distance(["a", "b", "c"], ["a", "x", "c"]) == 1
    assert edit_distance(["a", "b", "c"], ["a", "b", "c", "d"]) == 1
    assert edit_distance(["a", "b", "c"], ["c"]) == 2
    assert edit_distance([], ["a", "b"]) == 2


def test_word_error_rate_pools_edits_over_reference_words() -> None:
    # One error in a 4-word sentence and none in a 1-word one: 1/5, not the mean (0.125).
    assert word_error_rate(["one two three four", "five"], ["one two tree four", "five"]) == 0.2
    assert word_error_rate([""], ["noise"]) == 1.0


def test_librivox_transcripts_are_paired_with_their_clips(tmp_path: Path) -> None:
    (tmp_path / "transcription").write_text(
        "<s> he was not an ill disposed young man </s> (clip-1)\n"
        "<s> a line whose clip is missing </s> (clip-2)\n"
    )
    (tmp_path / "clip-1.wav").write_bytes(b"RIFF")
    assert librivox_clips(tmp_path) == [("he was not an ill disposed young man", b"RIFF")]
    assert librivox_clips(tmp_path / "absent") == []


def test_without_flite_nothing_is_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech_evaluation.shutil, "which", lambda _: None)

    def never(*_: object) -> None:
        raise AssertionError("no model should load without the test audio")

    assert measure_speech(never, "cpu", 1) == {}  # type: ignore[arg-type]


def test_speech_entries_are_in_the_catalogue_with_their_runtimes_signatures() -> None:
    assert POCKETSPHINX_EN in ENTRIES
    assert HIBARI_TTS in ENTRIES
    assert POCKETSPHINX_EN.signature == TRANSCRIPTION_SIGNATURE
    assert HIBARI_TTS.signature == SPEECH_SIGNATURE
    assert POCKETSPHINX_EN.parameters["max_audio_seconds"] > 0
