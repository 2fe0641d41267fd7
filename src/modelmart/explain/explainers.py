"""Builds the explainer of a served model version (what :mod:`picker` chose, with what it
needs: stored weights or background, the signature's layout, the request budget)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelmart.errors import NotExplainable
from modelmart.explain.kernel_shap import Background, Feature, KernelShapExplainer
from modelmart.explain.linear_shap import LinearModel, LinearShapExplainer
from modelmart.explain.occlusion import ImageLayout, OcclusionExplainer
from modelmart.explain.picker import choose_method, stored_explanation
from modelmart.explain.results import Explainer
from modelmart.explain.tokens import TokenOcclusionExplainer
from modelmart.schemas.registry import VersionInfo
from modelmart.types import Signature

ArtifactPath = Callable[[], Path]
"""Where the version's verified artifact is on disk (read only by methods that need it)."""
DecodeRows = Callable[[list[Any]], dict[str, Any]]
"""Request instances (JSON rows) as a batch of the model's inputs."""


@dataclass(frozen=True)
class ExplainLimits:
    """Per-request bounds, from :class:`~modelmart.config.Settings`."""

    max_instances: int
    max_evaluations: int
    probe_batch_rows: int


def build_explainer(
    version: VersionInfo,
    signature: Signature,
    limits: ExplainLimits,
    artifact: ArtifactPath,
    decode_rows: DecodeRows,
) -> Explainer:
    """The explainer of ``version`` served with ``signature``; NotExplainable if none fits."""
    method = choose_method(version).method
    outputs = _output_names(version)
    stored = stored_explanation(version)
    first = signature.inputs[0]
    if method == "linear-shap":
        return LinearShapExplainer(
            LinearModel.from_json(stored["linear"]), first.name, _feature_names(version, signature)
        )
    if method == "kernel-shap":
        background = stored["background"]
        rows = decode_rows(list(background["rows"]))
        weights = np.asarray(background["weights"], dtype=np.float64)
        return KernelShapExplainer(
            Background(rows, weights / weights.sum()),
            _features(version, signature),
            outputs,
            limits.max_evaluations,
        )
    if method == "token-occlusion":
        return TokenOcclusionExplainer(first.name, outputs, limits.max_evaluations)
    if method == "occlusion":
        channels_first = first.shape[1] in (1, 3)
        return OcclusionExplainer(
            ImageLayout(first.name, channels_first), outputs, limits.max_evaluations
        )
    return _tree_explainer(artifact(), first.name)


def _tree_explainer(path: Path, input_name: str) -> Explainer:
    from modelmart.explain.tree_shap import TreeShapExplainer
    from modelmart.runtimes.sklearn import load_trusted

    return TreeShapExplainer(load_trusted(str(path)), input_name)


def _output_names(version: VersionInfo) -> list[str]:
    labels = version.parameters.get("labels")
    if isinstance(labels, list) and labels:
        return [str(label) for label in labels]
    return ["prediction"]


def _feature_names(version: VersionInfo, signature: Signature) -> list[str]:
    declared = version.parameters.get("features")
    if isinstance(declared, list) and declared:
        return [str(name) for name in declared]
    width = signature.inputs[0].shape[-1]
    return [f"x{j}" for j in range(max(width, 0))]


def _features(version: VersionInfo, signature: Signature) -> list[Feature]:
    """One feature per input of a per-column model, else one per column of its matrix."""
    if len(signature.inputs) > 1:
        return [Feature(spec.name, spec.name) for spec in signature.inputs]
    spec = signature.inputs[0]
    names = _feature_names(version, signature)
    if len(spec.shape) != 2 or not names:
        raise NotExplainable(
            f"Kernel SHAP attributes the columns of a [batch, features] input; input "
            f"{spec.name!r} has shape {list(spec.shape)}",
            details={"input": spec.name},
        )
    return [Feature(name, spec.name, j) for j, name in enumerate(names)]
