"""Language identification with langid.py: a naive Bayes model over byte n-grams.

A version is a package reference with no files; the model ships inside the langid package.
Served signature: ``text`` BYTES [-1] in; ``language`` BYTES [-1] (an ISO 639-1 code such as
``en``) and ``probability`` FP32 [-1] (normalised over the candidate languages) out.

Parameters: ``languages`` (a list of ISO 639-1 codes) restricts the candidates, which makes
short texts far more reliable when the possible languages are known.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

import numpy as np
from langid.langid import LanguageIdentifier, model

from modelmart.arrays import Batch
from modelmart.errors import InvalidRequest, UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.parameters import texts
from modelmart.runtimes.signatures import reconcile
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

SIGNATURE = Signature(
    inputs=(TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),),
    outputs=(
        TensorSpec(name="language", datatype=Datatype.BYTES, shape=(-1,)),
        TensorSpec(name="probability", datatype=Datatype.FP32, shape=(-1,)),
    ),
)


class LangidRuntime(Runtime):
    """Identifies the language of each text; one identifier per instance, because restricting
    the candidate languages changes the identifier in place."""

    name = RuntimeName.LANGID
    _identifier: Any = None

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.PACKAGE:
            raise UnsupportedFormat(
                f"the langid runtime serves the package reference of the built-in catalogue, "
                f"not a {request.format.value} upload; deploy the catalogue's langid model"
            )
        signature = reconcile(request.signature, SIGNATURE)
        languages = _languages(request.parameters)
        # norm_probs: the raw classifier returns log scores; a probability is what callers read.
        identifier = LanguageIdentifier.from_modelstring(model, norm_probs=True)
        if languages is not None:
            _check_known(languages, identifier.nb_classes)
            identifier.set_languages(languages)
        self._identifier = identifier
        self._signature = signature

    def predict(self, batch: Batch) -> Batch:
        identifier = self._require(self._identifier)
        ranked = [identifier.classify(text) for text in texts(batch["text"])]
        return {
            "language": np.array([str(language) for language, _ in ranked], dtype=object),
            "probability": np.array([float(p) for _, p in ranked], dtype=np.float32),
        }

    def unload(self) -> None:
        self._identifier = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        facts = {**super().metadata, "langid_version": importlib.metadata.version("langid")}
        if self._identifier is not None:
            facts["languages"] = sorted(self._identifier.nb_classes)
        return facts


def _languages(parameters: Mapping[str, Any]) -> list[str] | None:
    value = parameters.get("languages")
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(code, str) for code in value)
    ):
        raise InvalidRequest(
            f"parameter 'languages' is {value!r}; expected a non-empty list of ISO 639-1 "
            'codes such as ["en", "de", "fr"]'
        )
    return list(value)


def _check_known(languages: list[str], known: Any) -> None:
    unknown = sorted(set(languages) - set(known))
    if unknown:
        raise InvalidRequest(
            f"parameter 'languages' names {', '.join(map(repr, unknown))}, which langid does "
            f"not know; choose from its ISO 639-1 codes: {', '.join(sorted(known))}"
        )
