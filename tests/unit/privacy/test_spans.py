"""Overlapping findings and redaction, on hand-made spans (no model)."""

from __future__ import annotations

from modelmart.privacy.spans import Span, redact_spans, resolve_overlaps

TEXT = "Mail jane@example.com today"


def test_the_surer_of_two_overlapping_spans_wins():
    email = Span("EMAIL_ADDRESS", 5, 21, 1.0)
    url = Span("URL", 10, 21, 0.5)
    assert resolve_overlaps([url, email]) == [email]


def test_equal_scores_keep_the_longer_span_and_touching_spans_both_stay():
    short = Span("PERSON", 0, 4, 0.85)
    long = Span("LOCATION", 0, 9, 0.85)
    after = Span("PHONE_NUMBER", 9, 12, 0.4)
    assert resolve_overlaps([short, after, long]) == [long, after]


def test_redaction_replaces_each_span_with_its_type():
    spans = [Span("EMAIL_ADDRESS", 5, 21, 1.0), Span("PERSON", 0, 4, 0.9)]
    assert redact_spans(TEXT, spans) == "<PERSON> <EMAIL_ADDRESS> today"
    assert redact_spans(TEXT, []) == TEXT


def test_a_span_describes_itself_with_its_text():
    span = Span("EMAIL_ADDRESS", 5, 21, 0.123456)
    assert span.to_dict(TEXT) == {
        "type": "EMAIL_ADDRESS",
        "start": 5,
        "end": 21,
        "text": "jane@example.com",
        "score": 0.1235,
    }
