"""Quality measures for the language models, on the sets of
:mod:`modelmart.catalog.language_sets`; :mod:`modelmart.catalog.evaluate` loads each model,
calls these and times it.

* entities: precision and recall per entity type, a finding counting as correct only when its
  type and both character offsets match a label exactly (a name found without its last
  letter is a miss and a false alarm);
* translation: chrF (character 6-gram F-score, beta 2, spaces ignored, statistics summed over
  the set as sacreBLEU computes it), 0 to 100, against one reference per sentence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from modelmart.catalog.entry import CatalogEntry
from modelmart.catalog.language_entries import APERTIUM_EN_ES, APERTIUM_ES_EN, PII_DETECTOR
from modelmart.catalog.language_sets import ENGLISH_SPANISH, PII_SENTENCES, Entities
from modelmart.runtimes.base import Runtime
from modelmart.schemas.catalog import Measurement

CHRF_ORDER = 6
CHRF_BETA = 2.0
PII_SET = (
    f"{len(PII_SENTENCES)} hand-written English sentences with "
    f"{sum(len(labels) for _, labels in PII_SENTENCES)} labelled entities (people, places, "
    "e-mail addresses, phone numbers, card numbers, IP addresses); exact-offset matches"
)

Span = tuple[str, int, int]
"""(entity type, start, end)."""


def labelled_spans(text: str, labels: Entities) -> set[Span]:
    """The labels as offsets: each label's text is found after the previous one's end."""
    spans: set[Span] = set()
    cursor = 0
    for entity_type, entity in labels:
        start = text.index(entity, cursor)
        spans.add((entity_type, start, start + len(entity)))
        cursor = start + len(entity)
    return spans


def predicted_spans(runtime: Runtime, texts: list[str]) -> list[set[Span]]:
    outputs = runtime.predict({"text": np.array(texts, dtype=object)})["entities"]
    return [{(e["type"], e["start"], e["end"]) for e in orjson.loads(str(o))} for o in outputs]


@dataclass
class _Counts:
    true_positives: int = 0
    predicted: int = 0
    labelled: int = 0


def span_scores(labelled: Sequence[set[Span]], predicted: Sequence[set[Span]]) -> list[Measurement]:
    """Precision and recall per labelled entity type, then over all types (micro average)."""
    counts: dict[str, _Counts] = {}
    for gold, found in zip(labelled, predicted, strict=True):
        for span in gold:
            counts.setdefault(span[0], _Counts()).labelled += 1
        for span in found:
            counts.setdefault(span[0], _Counts()).predicted += 1
        for span in gold & found:
            counts[span[0]].true_positives += 1
    types = sorted({span[0] for gold in labelled for span in gold})
    total = _Counts(*(sum(getattr(c, f) for c in counts.values()) for f in _FIELDS))
    figures: list[Measurement] = []
    for name, count in [*((t, counts[t]) for t in types), ("all", total)]:
        for metric, value in _precision_recall(count):
            figures.append(Measurement(metric=f"{metric}_{name}", value=value, dataset=PII_SET))
    return figures


_FIELDS = ("true_positives", "predicted", "labelled")


def _precision_recall(count: _Counts) -> list[tuple[str, float]]:
    precision = count.true_positives / count.predicted if count.predicted else 0.0
    recall = count.true_positives / count.labelled if count.labelled else 0.0
    return [("precision", round(precision, 4)), ("recall", round(recall, 4))]


def entity_quality(runtime: Runtime) -> list[Measurement]:
    texts = [text for text, _ in PII_SENTENCES]
    labelled = [labelled_spans(text, labels) for text, labels in PII_SENTENCES]
    return span_scores(labelled, predicted_spans(runtime, texts))


def _ngrams(text: str, n: int) -> Counter[str]:
    chars = "".join(text.split())
    return Counter(chars[i : i + n] for i in range(len(chars) - n + 1))


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (0-100): character n-gram precision and recall for n = 1..6, each summed
    over all sentences, averaged over n, combined as an F-score weighting recall by beta."""
    matches = np.zeros(CHRF_ORDER)
    hypothesis_total = np.zeros(CHRF_ORDER)
    reference_total = np.zeros(CHRF_ORDER)
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        for index, n in enumerate(range(1, CHRF_ORDER + 1)):
            found, wanted = _ngrams(hypothesis, n), _ngrams(reference, n)
            matches[index] += sum((found & wanted).values())
            hypothesis_total[index] += sum(found.values())
            reference_total[index] += sum(wanted.values())
    precision = float(np.mean(np.divide(matches, hypothesis_total, where=hypothesis_total > 0,
                                        out=np.zeros(CHRF_ORDER))))  # fmt: skip
    recall = float(np.mean(np.divide(matches, reference_total, where=reference_total > 0,
                                     out=np.zeros(CHRF_ORDER))))  # fmt: skip
    if precision + recall == 0:
        return 0.0
    beta2 = CHRF_BETA**2
    return 100 * (1 + beta2) * precision * recall / (beta2 * precision + recall)


def translation_quality(runtime: Runtime, pairs: Sequence[tuple[str, str]]) -> list[Measurement]:
    """chrF of the runtime's translations of each pair's first text against its second."""
    sources = [source for source, _ in pairs]
    translated = runtime.predict({"text": np.array(sources, dtype=object)})["translation"]
    value = chrf([str(text) for text in translated], [reference for _, reference in pairs])
    dataset = (
        f"{len(pairs)} hand-written English/Spanish sentence pairs, one reference translation each"
    )
    return [Measurement(metric="chrf", value=round(value, 2), dataset=dataset)]


Quality = Callable[[Runtime], list[Measurement]]
_SPANISH_ENGLISH = tuple((spanish, english) for english, spanish in ENGLISH_SPANISH)

LANGUAGE_MEASURES: tuple[tuple[CatalogEntry, Quality, list[str]], ...] = (
    (PII_DETECTOR, entity_quality, [text for text, _ in PII_SENTENCES]),
    (
        APERTIUM_EN_ES,
        lambda runtime: translation_quality(runtime, ENGLISH_SPANISH),
        [english for english, _ in ENGLISH_SPANISH],
    ),
    (
        APERTIUM_ES_EN,
        lambda runtime: translation_quality(runtime, _SPANISH_ENGLISH),
        [spanish for _, spanish in ENGLISH_SPANISH],
    ),
)
"""Each language entry, the function measuring its quality, and the texts to time it on."""
