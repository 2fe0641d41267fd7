"""``redact(text)``: customer text with its personal data replaced by the entity types.

For code that keeps text it was sent (usage records, logs, saved inputs) and must not keep
the people in it. It uses the same detector as the catalogue's ``pii-detector`` model, so
what the ``/v1/tasks/entities`` route finds is what gets removed here::

    >>> redact("Mail jane.doe@example.com or call 212-555-0198.")
    'Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>.'

The first call loads spaCy's small English pipeline (about a second); later calls take a few
milliseconds per sentence.
"""

from __future__ import annotations

import functools

from modelmart.privacy.detector import PiiDetector


@functools.cache
def default_detector() -> PiiDetector:
    """The detector with its default entity types, loaded once per process on first use:
    loading takes about a second, and callers of :func:`redact` should not each pay it."""
    return PiiDetector()


def redact(text: str) -> str:
    """``text`` with every person, place, e-mail address, phone number, card number, IP
    address, IBAN, US SSN and URL replaced by its type in angle brackets."""
    if not text.strip():
        return text
    return default_detector().redact(text)
