"""A PII detector for tests that need no NLP models: e-mail addresses and phone numbers by
pattern, as entity types the real detector reports."""

from __future__ import annotations

import re

from modelmart.privacy.spans import Span

_PATTERNS = {
    "EMAIL_ADDRESS": re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),
    "PHONE_NUMBER": re.compile(r"\b\d{3}-\d{3}-\d{4}\b"),
}


class PatternDetector:
    """Finds e-mail addresses and US-style phone numbers; counts the texts it was given."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, text: str) -> list[Span]:
        self.calls += 1
        spans = [
            Span(kind, match.start(), match.end(), 1.0)
            for kind, pattern in _PATTERNS.items()
            for match in pattern.finditer(text)
        ]
        return sorted(spans, key=lambda span: span.start)
