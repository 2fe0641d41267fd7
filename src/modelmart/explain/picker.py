"""Which explanation method serves a model version, decided from what the registry stores.

==========================================  ==================  ==============================
version                                     method              why
==========================================  ==================  ==============================
trained linear / logistic, numeric inputs   linear-shap         exact, closed form
other trained tabular model                 kernel-shap         stored k-means background
text classifier (one text input)            token-occlusion     any tokenizer, leave-one-out
image model (one [N, C, H, W] input)        occlusion           ONNX and PyTorch alike
scikit-learn upload (skops)                 tree-shap           exact for tree models
anything else                               none (422)          the reason is returned
==========================================  ==================  ==============================

Light on purpose (no NumPy): model cards call it for every version they render.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelmart.errors import NotExplainable
from modelmart.schemas.registry import VersionInfo
from modelmart.types import ArtifactFormat, Datatype, Task, TensorSpec

EXPLANATION_KEY = "explanation"
SCORE_OUTPUTS = ("probabilities", "scores")
"""Outputs that hold one score per class, in the order of ``parameters["labels"]``."""
_TEXT_TASKS = frozenset({Task.TEXT_CLASSIFICATION, Task.SENTIMENT, Task.CLASSIFICATION})
_GENERATIVE_TASKS = frozenset({Task.CHAT, Task.TRANSLATION, Task.TEXT_TO_SPEECH})
_DESCRIPTIONS = {
    "linear-shap": "exact SHAP of the linear model (log-odds for classifiers) against the "
    "training mean",
    "tree-shap": "exact TreeSHAP (path-dependent) for scikit-learn tree models; other "
    "uploaded estimators are refused when explained",
    "kernel-shap": "Kernel SHAP over a k-means summary of the training data, bounded budget",
    "occlusion": "occlusion of square windows, returned as a heatmap (array and PNG)",
    "token-occlusion": "leave-one-token-out attributions of the predicted class",
}


@dataclass(frozen=True)
class MethodChoice:
    method: str

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.method]


def stored_explanation(version: VersionInfo) -> dict[str, Any]:
    stored = version.parameters.get(EXPLANATION_KEY)
    return stored if isinstance(stored, dict) else {}


def choose_method(version: VersionInfo) -> MethodChoice:
    """The method for ``version``, or :class:`NotExplainable` saying why there is none."""
    inputs = version.signature.inputs
    if version.task in _GENERATIVE_TASKS or version.format is ArtifactFormat.GGUF:
        raise _refused(version, "it generates text or audio; explanations attribute a score")
    stored = stored_explanation(version)
    if "linear" in stored and len(inputs) == 1:
        return MethodChoice("linear-shap")
    if "background" in stored:
        return MethodChoice("kernel-shap")
    perturbable = len(inputs) == 1 and _has_scores(version.signature.outputs)
    if perturbable and _is_text(inputs[0]) and version.task in _TEXT_TASKS:
        return MethodChoice("token-occlusion")
    if perturbable and _is_image(inputs[0]):
        return MethodChoice("occlusion")
    if version.format is ArtifactFormat.SKOPS:
        return MethodChoice("tree-shap")
    raise _refused(
        version,
        "it is not a text or image classifier with class scores ('probabilities' or "
        "'scores') and has no stored explanation background (versions trained by ModelMart "
        "on tables store one)",
    )


def card_explanation(version: VersionInfo) -> tuple[str | None, str | None]:
    """(method, reason) for the model card: the method described, or why there is none."""
    try:
        choice = choose_method(version)
    except NotExplainable as refused:
        return None, refused.message
    return f"{choice.method}: {choice.description}", None


def _has_scores(outputs: tuple[TensorSpec, ...]) -> bool:
    """Whether the model answers a score per class (or a prediction) that occlusion can
    watch drop; a top-k label list or a single probability is not enough."""
    return any(
        (spec.name in SCORE_OUTPUTS and len(spec.shape) == 2) or spec.name == "prediction"
        for spec in outputs
    )


def _is_text(spec: TensorSpec) -> bool:
    return spec.datatype is Datatype.BYTES and len(spec.shape) == 1


def _is_image(spec: TensorSpec) -> bool:
    numeric = spec.datatype not in (Datatype.BYTES, Datatype.BOOL)
    return numeric and len(spec.shape) == 4 and (spec.shape[1] in (1, 3) or spec.shape[3] in (1, 3))


def _refused(version: VersionInfo, why: str) -> NotExplainable:
    return NotExplainable(
        f"version {version.version} of model {version.model!r} cannot be explained: {why}",
        details={"model": version.model, "version": version.version, "task": version.task.value},
    )
