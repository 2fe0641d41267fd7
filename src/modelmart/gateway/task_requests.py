"""The bodies of the task routes (``POST /v1/tasks/{task}``): ``{"model", "input"}`` and the
options some tasks add (entities: ``redact``; translation: ``source`` and ``target``).

A request with options knows what they mean for the route: which deployment serves it when
none is named, whether a deployment can honour them, and how they shape the results. A task
without options uses :class:`TaskRequest`, whose hooks change nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelmart.catalog.language_entries import LANGUAGE_ENTRIES
from modelmart.errors import InvalidRequest
from modelmart.gateway.text_models import TEXTS_SCHEMA
from modelmart.serving.placement import Endpoint
from modelmart.types import Task

Result = dict[str, Any]

TRANSLATORS: dict[tuple[str, str], str] = {
    (entry.parameters["source"], entry.parameters["target"]): entry.name
    for entry in LANGUAGE_ENTRIES
    if entry.task is Task.TRANSLATION
}
"""(source, target) -> the catalogue model that translates them, the default deployment."""


class TaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        default=None, min_length=1, description="a deployment name; the task's default if omitted"
    )
    # Any items: read_texts() refuses non-text with a clearer message than validation would.
    input: str | list[Any] = Field(
        description="a text or a list of texts", json_schema_extra=TEXTS_SCHEMA
    )

    def deployment(self, default: str) -> str:
        """The deployment to call: the one named, else the task's default."""
        return self.model or default

    def check(self, endpoint: Endpoint) -> None:
        """Refuse options ``endpoint`` cannot honour before any text reaches it."""

    def present(self, results: list[Result]) -> list[Result]:
        """The results shaped as the options ask."""
        return results


class EntitiesRequest(TaskRequest):
    redact: bool = Field(
        default=False, description="also return each text with its entities replaced by <TYPE>"
    )

    def present(self, results: list[Result]) -> list[Result]:
        if self.redact:
            return results
        return [{key: value for key, value in r.items() if key != "redacted"} for r in results]


def _pairs() -> str:
    return ", ".join(f"{source}->{target}" for source, target in TRANSLATORS)


class TranslationRequest(TaskRequest):
    source: str = Field(
        min_length=2, max_length=3, description="the language of the input (ISO 639-1: en, es)"
    )
    target: str = Field(min_length=2, max_length=3, description="the language to translate to")

    def deployment(self, default: str) -> str:
        """The deployment named, else the catalogue's translator for the language pair."""
        if self.source == self.target:
            raise InvalidRequest(
                f"'source' and 'target' are both {self.source!r}; name two languages",
                details={"param": "target"},
            )
        if self.model is not None:
            return self.model
        name = TRANSLATORS.get((self.source, self.target))
        if name is None:
            raise InvalidRequest(
                f"no built-in model translates {self.source}->{self.target}; the catalogue "
                f"translates {_pairs()}. For another pair, deploy a translation model of your "
                "own and name it in 'model'",
                details={"param": "source", "pairs": [f"{s}->{t}" for s, t in TRANSLATORS]},
            )
        return name

    def check(self, endpoint: Endpoint) -> None:
        """A deployment that declares its languages (``source`` and ``target`` parameters)
        must translate the pair asked for."""
        parameters = endpoint.spec.target.load.parameters
        declared = (parameters.get("source"), parameters.get("target"))
        if declared == (None, None) or declared == (self.source, self.target):
            return
        suggestion = TRANSLATORS.get((self.source, self.target))
        instead = f"; use {suggestion}" if suggestion else f"; the catalogue translates {_pairs()}"
        raise InvalidRequest(
            f"model {endpoint.spec.name!r} translates {declared[0]}->{declared[1]}, not "
            f"{self.source}->{self.target}{instead}",
            details={"param": "model"},
        )

    def present(self, results: list[Result]) -> list[Result]:
        return [{**result, "source": self.source, "target": self.target} for result in results]
