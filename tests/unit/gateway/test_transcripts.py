"""Segments and subtitles from timed words."""

from __future__ import annotations

import json

import numpy as np

from modelmart.gateway.transcripts import (
    MAX_SEGMENT_WORDS,
    Transcript,
    Word,
    json_body,
    srt,
    transcripts_of,
    verbose_body,
    vtt,
)


def timed(*spans: tuple[str, float, float]) -> Transcript:
    words = tuple(Word(word, start, end, 0.5) for word, start, end in spans)
    return Transcript(" ".join(w.word for w in words), 10.0, words)


TWO_PHRASES = timed(("good", 0.1, 0.4), ("morning", 0.4, 0.9), ("hello", 2.0, 2.5))


def test_a_pause_splits_segments_and_long_runs_are_cut() -> None:
    assert [s.text for s in TWO_PHRASES.segments()] == ["good morning", "hello"]
    run = timed(*[(f"w{i}", i * 0.2, i * 0.2 + 0.2) for i in range(MAX_SEGMENT_WORDS + 3)])
    assert [len(s.words) for s in run.segments()] == [MAX_SEGMENT_WORDS, 3]
    assert timed().segments() == []


def test_subtitles() -> None:
    assert srt(TWO_PHRASES) == (
        "1\n00:00:00,100 --> 00:00:00,900\ngood morning\n\n"
        "2\n00:00:02,000 --> 00:00:02,500\nhello\n"
    )
    assert vtt(TWO_PHRASES).startswith("WEBVTT\n\n00:00:00.100 --> 00:00:00.900\ngood morning\n")
    long = timed(("late", 3723.25, 3724.0))
    assert "01:02:03,250 --> 01:02:04,000" in srt(long)


def test_json_bodies_carry_duration_usage() -> None:
    assert json_body(TWO_PHRASES) == {
        "text": "good morning hello",
        "usage": {"type": "duration", "seconds": 10.0},
    }
    body = verbose_body(TWO_PHRASES, words=True, segments=True)
    assert body["duration"] == 10.0
    assert body["language"] == "english"
    assert [s["text"] for s in body["segments"]] == ["good morning", "hello"]
    assert body["segments"][0]["avg_logprob"] < 0
    assert body["words"][2] == {"word": "hello", "start": 2.0, "end": 2.5}
    assert "segments" not in verbose_body(TWO_PHRASES, words=True, segments=False)
    assert "words" not in verbose_body(TWO_PHRASES, words=False, segments=True)


def test_model_outputs_become_transcripts_whatever_the_string_type() -> None:
    words = json.dumps([{"word": "hi", "start": 0.1, "end": 0.3, "probability": 0.9}])
    outputs = {
        "text": np.array([b"hi", "there"], dtype=object),
        "duration": np.array([1.5, 2.0], dtype=np.float32),
        "words": np.array([words.encode(), "[]"], dtype=object),
    }
    first, second = transcripts_of(outputs)
    assert (first.text, first.duration, first.words[0].word) == ("hi", 1.5, "hi")
    assert (second.text, second.words) == ("there", ())
    del outputs["words"]
    assert transcripts_of(outputs)[0].words == ()
