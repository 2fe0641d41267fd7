"""Inputs kept from organisations on the data-sharing plan, with personal data removed.

Only with the organisation's consent flag set; the texts of each request (every string in its
JSON body) are redacted by the same PII detector the catalogue serves, then stored for the
model's publisher to export and train on. Redaction loads spaCy and takes milliseconds per
text, so it runs on one background thread, never on the request's path; a server stopped
before the queue drains loses only those pending samples, never usage or billing records.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modelmart.store.tables import RetainedInputRow

logger = logging.getLogger("modelmart.billing")

MAX_RETAINED_BODY = 1024 * 1024
MAX_TEXTS = 256


@dataclass(frozen=True)
class RetainedInput:
    org_id: int
    model: str
    body: bytes


def texts_of(body: bytes) -> list[str]:
    """Every string in a JSON body, in order (inputs, prompts, messages' content, ...)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    return list(_strings(document))[:MAX_TEXTS]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value.strip():
            yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in ("model", "role", "encoding_format", "response_format"):
                yield from _strings(item)


class Retention:
    def __init__(
        self, sessions: sessionmaker[Session], redact: Callable[[str], str] | None = None
    ) -> None:
        self._sessions = sessions
        self._redact = redact
        self._queue: queue.Queue[RetainedInput | None] = queue.Queue(maxsize=10_000)
        self._thread: threading.Thread | None = None

    def keep(self, item: RetainedInput) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="modelmart-retention")
            self._thread.start()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            logger.warning("retention queue full; an input of org %s was not kept", item.org_id)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def exported(self, model: str, limit: int) -> list[list[str]]:
        """The texts kept for ``model``, oldest first."""
        query = (
            select(RetainedInputRow.texts)
            .where(RetainedInputRow.model == model)
            .order_by(RetainedInputRow.id)
            .limit(limit)
        )
        with self._sessions() as session:
            return [list(texts) for texts in session.scalars(query)]

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._store(item)
            except Exception:  # a bad sample must not stop the thread for the next ones
                logger.exception("could not keep an input of org %s", item.org_id)

    def _store(self, item: RetainedInput) -> None:
        redact = self._redact or _default_redact()
        texts = [redact(text) for text in texts_of(item.body)]
        if not texts:
            return
        with self._sessions() as session:
            session.add(RetainedInputRow(org_id=item.org_id, model=item.model, texts=texts))
            session.commit()


def _default_redact() -> Callable[[str], str]:
    from modelmart.privacy.redaction import redact  # loads spaCy: only when first needed

    return redact
