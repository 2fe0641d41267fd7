"""Transcripts as the audio routes return them: plain text, OpenAI's ``json`` and
``verbose_json`` bodies, and SubRip / WebVTT subtitles.

A recognition model returns each word with its start and end time; segments (the subtitle
cues and ``verbose_json``'s ``segments``) are runs of words split at pauses, and at
:data:`MAX_SEGMENT_WORDS` so a cue stays readable on screen.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

from modelmart.arrays import Batch

PAUSE_S: Final = 0.5
"""A silence at least this long between two words starts a new segment."""
MAX_SEGMENT_WORDS: Final = 16


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Segment:
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(word.word for word in self.words)

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end


@dataclass(frozen=True)
class Transcript:
    """What a recognition model heard in one audio file."""

    text: str
    duration: float
    words: tuple[Word, ...]

    def segments(self) -> list[Segment]:
        """The words in runs split at pauses of :data:`PAUSE_S` or more."""
        found: list[Segment] = []
        current: list[Word] = []
        for word in self.words:
            pause = word.start - current[-1].end if current else 0.0
            if current and (pause >= PAUSE_S or len(current) >= MAX_SEGMENT_WORDS):
                found.append(Segment(tuple(current)))
                current = []
            current.append(word)
        if current:
            found.append(Segment(tuple(current)))
        return found


def transcripts_of(outputs: Batch) -> list[Transcript]:
    """One transcript per item of a recognition model's outputs (``words`` is optional)."""
    texts = [_text(value) for value in outputs["text"].ravel()]
    durations = [float(value) for value in outputs["duration"].ravel()]
    words: list[tuple[Word, ...]] = [()] * len(texts)
    if "words" in outputs:
        words = [_words(value) for value in outputs["words"].ravel()]
    return [Transcript(*item) for item in zip(texts, durations, words, strict=True)]


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _words(value: Any) -> tuple[Word, ...]:
    return tuple(
        Word(str(w["word"]), float(w["start"]), float(w["end"]), float(w["probability"]))
        for w in json.loads(value)
    )


def duration_usage(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's usage object for a model billed by audio duration."""
    return {"type": "duration", "seconds": round(transcript.duration, 3)}


def json_body(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's ``json`` response format."""
    return {"text": transcript.text, "usage": duration_usage(transcript)}


def verbose_body(transcript: Transcript, *, words: bool, segments: bool) -> dict[str, Any]:
    """OpenAI's ``verbose_json``: segments by default, words when asked for
    (``timestamp_granularities``). Fields OpenAI derives from Whisper's decoding
    (``avg_logprob``, ``no_speech_prob``) are filled from the words' probabilities."""
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": "english",
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
    }
    if segments:
        body["segments"] = [_segment_body(i, s) for i, s in enumerate(transcript.segments())]
    if words:
        body["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in transcript.words]
    body["usage"] = duration_usage(transcript)
    return body


def _segment_body(index: int, segment: Segment) -> dict[str, Any]:
    logprobs = [math.log(max(word.probability, 1e-6)) for word in segment.words]
    return {
        "id": index,
        "seek": 0,
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": round(sum(logprobs) / len(logprobs), 4),
        "compression_ratio": 1.0,
        "no_speech_prob": 0.0,
    }


def srt(transcript: Transcript) -> str:
    """SubRip subtitles: numbered cues, ``HH:MM:SS,mmm`` times."""
    cues = [
        f"{index}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n"
        for index, s in enumerate(transcript.segments(), start=1)
    ]
    return "\n".join(cues)


def vtt(transcript: Transcript) -> str:
    """WebVTT subtitles: a header, then ``HH:MM:SS.mmm`` cues."""
    cues = [
        f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n"
        for s in transcript.segments()
    ]
    return "\n".join(["WEBVTT\n", *cues])


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"
