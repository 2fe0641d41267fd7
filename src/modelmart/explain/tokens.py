"""Token attributions for text classifiers: leave one token out.

Each whitespace-separated token is removed in turn and the drop in the predicted class's
probability is its attribution; the base value is the model's answer on the empty text. Past
the evaluation budget, neighbouring tokens are removed together and share the span's drop.
Model-agnostic, so it explains any text classifier a deployment serves (its own tokenizer
still sees ordinary text).
"""

from __future__ import annotations

import re

import numpy as np

from modelmart.arrays import Array, Batch
from modelmart.explain.results import InstanceExplanation, MethodInfo
from modelmart.explain.scores import score_matrix, target_index, target_name

METHOD = "token-occlusion"
TOP_TOKENS = 5
_TOKEN = re.compile(r"\S+")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def spans(count: int, budget: int) -> list[range]:
    """``count`` tokens in at most ``budget`` contiguous spans."""
    width = max(1, -(-count // max(1, budget)))
    return [range(start, min(start + width, count)) for start in range(0, count, width)]


def _text_of(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class TokenOcclusionExplainer:
    def __init__(self, input_name: str, outputs: list[str], max_evaluations: int) -> None:
        self._input = input_name
        self._outputs = outputs
        self._budget = max(1, max_evaluations - 1)  # one evaluation is the empty text

    @property
    def method(self) -> MethodInfo:
        return MethodInfo(
            METHOD,
            {"tokenizer": "whitespace", "max_spans": self._budget, "output": "probability"},
        )

    def _tokens(self, instance: Batch) -> list[str]:
        return tokenize(_text_of(instance[self._input][0]))

    def probes(self, instance: Batch, outputs: Batch) -> Batch:
        tokens = self._tokens(instance)
        texts = [""] + [
            " ".join(t for i, t in enumerate(tokens) if i not in span)
            for span in spans(len(tokens), self._budget)
        ]
        return {self._input: np.array(texts, dtype=object)}

    def explain(
        self, instance: Batch, outputs: Batch, probe_outputs: Batch | None
    ) -> InstanceExplanation:
        assert probe_outputs is not None, "token occlusion always asks for probes"
        tokens = self._tokens(instance)
        target = target_index(outputs)
        score = float(score_matrix(outputs)[0, target])
        answers = score_matrix(probe_outputs)[:, target]
        attributions = np.zeros(len(tokens))
        for span, answer in zip(spans(len(tokens), self._budget), answers[1:], strict=True):
            attributions[list(span)] = (score - answer) / len(span)
        return InstanceExplanation(
            target=target_name(target, self._outputs),
            attributions=attributions,
            base_value=float(answers[0]),
            output_value=score,
            extra={"tokens": tokens, "top_tokens": top_tokens(tokens, attributions)},
        )


def top_tokens(tokens: list[str], attributions: Array) -> list[str]:
    """The tokens that most raised the explained score, strongest first."""
    order = np.argsort(-attributions, kind="stable")
    return [tokens[i] for i in order[:TOP_TOKENS] if attributions[i] > 0]
