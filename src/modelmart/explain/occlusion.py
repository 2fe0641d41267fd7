"""Occlusion for image classifiers: hide one square window at a time (set it to the baseline,
0: no ink, no light) and attribute the drop in the predicted class's probability to the
window's pixels, averaged where windows overlap. The answer is a heatmap with the image's
height and width (all channels are hidden together), also rendered as a PNG.

Works for any image model the deployment serves (ONNX or PyTorch), because it only needs
the model's answers; the number of windows is bounded by the evaluation budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelmart.arrays import Array, Batch
from modelmart.explain.heatmap_png import heatmap_png
from modelmart.explain.results import InstanceExplanation, MethodInfo
from modelmart.explain.scores import score_matrix, target_index, target_name

METHOD = "occlusion"


@dataclass(frozen=True)
class Windows:
    size: int
    stride: int
    corners: list[tuple[int, int]]


def windows(height: int, width: int, budget: int) -> Windows:
    """Square windows of about a seventh of the image, half-overlapping; the stride grows
    until the windows fit in ``budget`` evaluations."""
    size = max(1, round(min(height, width) / 7))
    stride = max(1, size // 2)
    while True:
        rows = range(0, max(height - size, 0) + 1, stride)
        cols = range(0, max(width - size, 0) + 1, stride)
        if len(rows) * len(cols) <= budget or stride >= max(height, width):
            return Windows(size, stride, [(r, c) for r in rows for c in cols])
        stride += 1


@dataclass(frozen=True)
class ImageLayout:
    """Where an image input keeps its height and width: ``channels_first`` is [N, C, H, W]."""

    input: str
    channels_first: bool

    def spatial(self, image: Array) -> tuple[int, int]:
        height, width = image.shape[-2:] if self.channels_first else image.shape[-3:-1]
        return int(height), int(width)


class OcclusionExplainer:
    def __init__(
        self, layout: ImageLayout, outputs: list[str], max_evaluations: int, baseline: float = 0.0
    ) -> None:
        self._layout = layout
        self._outputs = outputs
        self._budget = max_evaluations
        self._baseline = baseline

    @property
    def method(self) -> MethodInfo:
        return MethodInfo(
            METHOD,
            {"baseline": self._baseline, "max_windows": self._budget, "output": "probability"},
        )

    def _windows(self, instance: Batch) -> Windows:
        height, width = self._layout.spatial(instance[self._layout.input][0])
        return windows(height, width, self._budget)

    def probes(self, instance: Batch, outputs: Batch) -> Batch:
        image = instance[self._layout.input][0]
        found = self._windows(instance)
        probes = np.repeat(image[np.newaxis], len(found.corners), axis=0)
        for index, (top, left) in enumerate(found.corners):
            rows, cols = slice(top, top + found.size), slice(left, left + found.size)
            if self._layout.channels_first:
                probes[index, ..., rows, cols] = self._baseline
            else:
                probes[index, rows, cols, :] = self._baseline
        return {self._layout.input: probes}

    def explain(
        self, instance: Batch, outputs: Batch, probe_outputs: Batch | None
    ) -> InstanceExplanation:
        assert probe_outputs is not None, "occlusion always asks for probes"
        target = target_index(outputs)
        score = float(score_matrix(outputs)[0, target])
        drops = score - score_matrix(probe_outputs)[:, target]
        found = self._windows(instance)
        height, width = self._layout.spatial(instance[self._layout.input][0])
        total, covered = np.zeros((height, width)), np.zeros((height, width))
        for drop, (top, left) in zip(drops, found.corners, strict=True):
            total[top : top + found.size, left : left + found.size] += drop
            covered[top : top + found.size, left : left + found.size] += 1
        heatmap = np.divide(total, covered, out=np.zeros_like(total), where=covered > 0)
        return InstanceExplanation(
            target=target_name(target, self._outputs),
            attributions=heatmap,
            base_value=score - float(drops.max(initial=0.0)),
            output_value=score,
            extra={
                "heatmap_png": heatmap_png(heatmap),
                "window": {"size": found.size, "stride": found.stride},
            },
        )
