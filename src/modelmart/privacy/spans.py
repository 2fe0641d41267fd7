"""Findings in a text as character spans, and what is done with them: overlaps resolved,
entities redacted. Free of the NLP libraries, so callers that only handle spans stay light."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Span:
    """One finding: ``text[start:end]`` is an entity of ``type``, with Presidio's score."""

    type: str
    start: int
    end: int
    score: float

    def to_dict(self, text: str) -> dict[str, Any]:
        return {
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "text": text[self.start : self.end],
            "score": round(self.score, 4),
        }


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """The spans that win where some overlap (higher score, then longer, then earlier),
    sorted by start."""
    kept: list[Span] = []
    ranked = sorted(spans, key=lambda s: (-s.score, -(s.end - s.start), s.start))
    for span in ranked:
        if all(span.end <= other.start or span.start >= other.end for other in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def redact_spans(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each span replaced by its type in angle brackets ("<PERSON>"); the spans
    must not overlap, as :func:`resolve_overlaps` returns them."""
    pieces: list[str] = []
    cursor = 0
    for span in sorted(spans, key=lambda s: s.start):
        pieces.extend((text[cursor : span.start], f"<{span.type}>"))
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)
