"""What an explanation returns: per instance, attributions aligned with the inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from modelmart.arrays import Array, Batch


@dataclass(frozen=True)
class MethodInfo:
    """The method that explained a request and the parameters it ran with."""

    name: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "parameters": self.parameters}


@dataclass(frozen=True)
class InstanceExplanation:
    """One instance's attributions for one output (``target``: a class or ``prediction``).

    For the additive methods (the SHAP family) ``attributions`` sum to ``output_value`` minus
    ``base_value``; for occlusion they are the drop in ``output_value`` when that part of the
    input is hidden. ``extra`` holds what the method adds: feature names, tokens, a PNG.
    """

    target: str
    attributions: Array
    base_value: float
    output_value: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "attributions": self.attributions.astype(float).tolist(),
            "base_value": float(self.base_value),
            "output_value": float(self.output_value),
            **self.extra,
        }


class Explainer(Protocol):
    """Explains one instance (a one-row batch) given the model's outputs for it.

    ``probes`` is what the model must also answer (None: nothing); ``explain`` receives those
    answers. Both are plain CPU work the runner calls in a worker thread.
    """

    @property
    def method(self) -> MethodInfo: ...

    def probes(self, instance: Batch, outputs: Batch) -> Batch | None: ...

    def explain(
        self, instance: Batch, outputs: Batch, probe_outputs: Batch | None
    ) -> InstanceExplanation: ...


def row(batch: Batch, index: int) -> Batch:
    """Row ``index`` of ``batch`` as a one-row batch."""
    return {name: array[index : index + 1] for name, array in batch.items()}
