"""One request's PII policy applied to its texts: what the model is sent, what the caller
gets back, and the report of what was found.

Findings are kept as entity types and character spans only, never the text they cover, so
the report and the audit record built from them hold no personal data. Input spans point
into the texts as the caller sent them; output spans into the answer as the caller receives
it (at the placeholders, when it is redacted).

A streamed answer is checked a sentence at a time (:class:`OutputStream`): text is held back
until a sentence or line ends (``.``, ``!`` or ``?`` followed by white space, or a newline),
then detected, redacted when the policy says so, and sent on. Under ``detect`` alone nothing
is held back: the text passes as it comes and is checked behind it.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from modelmart.privacy.spans import Span, redact_spans
from modelmart.schemas.pii import PiiPolicy

SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
"""Where a streamed answer may be cut for checking: an entity (an e-mail address, a phone
number) does not run across a sentence's end, while "jane.doe@example.com" has no space after
its dots and stays whole."""


class Detecting(Protocol):
    """What finds personal data: :class:`~modelmart.privacy.detector.PiiDetector` or a fake."""

    def detect(self, text: str) -> list[Span]: ...


class LazyDetector:
    """A detector loaded on its first use, so that loading it (spaCy: about a second) happens
    where detection does, in a worker thread, and only for a request that needs it."""

    def __init__(self, load: Callable[[], Detecting]) -> None:
        self._load = load

    def detect(self, text: str) -> list[Span]:
        return self._load().detect(text)


def entities(spans: Sequence[Span]) -> list[dict[str, Any]]:
    """Findings as reported: type and span, never the value."""
    return [{"type": span.type, "start": span.start, "end": span.end} for span in spans]


def redacted_with_spans(text: str, spans: Sequence[Span]) -> tuple[str, list[Span]]:
    """``text`` redacted, and where each placeholder stands in the result."""
    placed: list[Span] = []
    shift = 0
    for span in sorted(spans, key=lambda s: s.start):
        placeholder = len(span.type) + 2  # "<TYPE>"
        start = span.start + shift
        placed.append(Span(span.type, start, start + placeholder, span.score))
        shift += placeholder - (span.end - span.start)
    return redact_spans(text, spans), placed


class PiiGuard:
    """``policy`` applied to one request with ``detector``. Detection is CPU work: callers on
    an event loop run these methods in a worker thread."""

    def __init__(self, policy: PiiPolicy, detector: Detecting | None) -> None:
        if policy.detects and detector is None:
            raise ValueError(f"the PII policy {policy.value!r} needs a detector")
        self.policy = policy
        self._detector = detector
        self.inputs: list[list[dict[str, Any]]] = []
        self.outputs: dict[int, list[dict[str, Any]]] = {}
        self._counts: Counter[str] = Counter()
        # The choices of one request stream concurrently, each checked in a worker thread.
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.policy.detects

    def detect(self, text: str) -> list[Span]:
        if self._detector is None or not text.strip():
            return []
        spans = self._detector.detect(text)
        with self._lock:
            self._counts.update(span.type for span in spans)
        return spans

    def input(self, text: str) -> str:
        """The text to send the model in place of ``text`` (the next of the request's)."""
        if not self.active:
            return text
        spans = self.detect(text)
        self.inputs.append(entities(spans))
        return redact_spans(text, spans) if self.policy.redacts_input else text

    def input_value(self, text: str) -> str:
        """A text inside an input that is not one of the request's texts (a string in a tool
        call's arguments): redacted and counted like one, but not a report entry of its own."""
        if not self.active:
            return text
        spans = self.detect(text)
        return redact_spans(text, spans) if self.policy.redacts_input else text

    def input_texts(self, texts: Sequence[str]) -> list[str]:
        return [self.input(text) for text in texts]

    def output(self, index: int, text: str, field: str | None = None) -> str:
        """Answer ``index``'s whole text as the caller receives it; ``field`` names where it
        stands in the answer when the answer holds several texts."""
        if not self.active:
            return text
        return OutputStream(self, index, field).finish_with(text)

    def output_stream(self, index: int) -> OutputStream:
        return OutputStream(self, index)

    def record_output(
        self, index: int, spans: Sequence[Span], offset: int, field: str | None = None
    ) -> None:
        """Spans found in answer ``index``'s part that starts at ``offset``."""
        moved = [Span(s.type, s.start + offset, s.end + offset, s.score) for s in spans]
        where = {} if field is None else {"field": field}
        with self._lock:
            self.outputs.setdefault(index, []).extend({**e, **where} for e in entities(moved))

    def counts(self) -> dict[str, int]:
        """How many entities of each type were found, inputs and outputs together."""
        return dict(sorted(self._counts.items()))

    def report(self) -> dict[str, Any] | None:
        """The ``pii`` field beside the answer; None when the policy reports nothing."""
        if not self.active:
            return None
        outputs = [self.outputs[i] for i in sorted(self.outputs)]
        return {"policy": self.policy.value, "input": self.inputs, "output": outputs}


class OutputStream:
    """One answer checked as it streams: :meth:`feed` each piece, then :meth:`finish`; each
    returns the text to send on now."""

    def __init__(self, guard: PiiGuard, index: int, field: str | None = None) -> None:
        self._guard = guard
        self._index = index
        self._field = field
        self._pending = ""  # received, not yet checked
        self._checked = 0  # where the pending text starts, in what the caller receives
        guard.record_output(index, [], 0)  # an answer with nothing found is reported empty

    @property
    def _holds_back(self) -> bool:
        return self._guard.policy.redacts_output

    def feed(self, text: str) -> str:
        if not self._guard.active:
            return text
        self._pending += text
        cut = _last_sentence_end(self._pending)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        checked = self._check(ready) if ready else ""
        return checked if self._holds_back else text

    def finish(self) -> str:
        if not self._guard.active:
            return ""
        ready, self._pending = self._pending, ""
        checked = self._check(ready) if ready else ""
        return checked if self._holds_back else ""

    def finish_with(self, text: str) -> str:
        """The answer's last (or only) part: checked whole, whatever the policy."""
        self._pending += text
        ready, self._pending = self._pending, ""
        return self._check(ready) if ready else ""

    def _check(self, text: str) -> str:
        spans = self._guard.detect(text)
        if self._holds_back:
            text, spans = redacted_with_spans(text, spans)
        self._guard.record_output(self._index, spans, self._checked, self._field)
        self._checked += len(text)
        return text


def _last_sentence_end(text: str) -> int:
    """Where the text's last complete sentence or line ends (0: none yet)."""
    end = 0
    for match in SENTENCE_END.finditer(text):
        end = match.end()
    return end
