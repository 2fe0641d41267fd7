"""The answer of ``POST /v1/models/{name}:explain``, as the SDK returns it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ExplanationMethod(BaseModel):
    """The method that explained the request and the parameters it ran with."""

    model_config = ConfigDict(frozen=True)

    name: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class InstanceExplanation(BaseModel):
    """One instance's attributions for ``target`` (a class name, or ``prediction``).

    ``attributions`` line up with the inputs: one per feature (``features``), per token
    (``tokens``), or a [height][width] heatmap (``heatmap_png`` holds it as a base64 PNG).
    SHAP methods' attributions sum to ``output_value - base_value``.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    target: str
    attributions: list[Any]
    base_value: float
    output_value: float
    features: list[str] | None = None
    tokens: list[str] | None = None
    top_tokens: list[str] | None = None
    heatmap_png: str | None = None


class Explanation(BaseModel):
    """The predictions of a deployment with each instance's explanation."""

    model_config = ConfigDict(frozen=True, extra="allow")

    model: str
    version: int
    predictions: list[Any]
    explanations: list[InstanceExplanation]
    method: ExplanationMethod
    usage: dict[str, float | str] = Field(
        default_factory=dict, description="units billed, and the energy with how it was measured"
    )
