from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from modelmart.explain.occlusion import ImageLayout, OcclusionExplainer, windows
from tests.unit.explain.fakes import InkClassifier


def test_the_heatmap_lights_up_the_region_the_model_reads() -> None:
    model = InkClassifier(top=8, left=10, size=8)
    image = np.zeros((1, 1, 28, 28), dtype=np.float32)
    image[0, 0, 6:20, 8:20] = 255.0  # ink over the region and around it
    explainer = OcclusionExplainer(ImageLayout("image", channels_first=True), ["no", "ink"], 400)
    instance = {"image": image}
    outputs = model(instance)
    explained = explainer.explain(instance, outputs, model(explainer.probes(instance, outputs)))
    heatmap = explained.attributions
    assert explained.target == "ink"
    assert heatmap.shape == (28, 28)
    inside = np.zeros((28, 28), dtype=bool)
    inside[8:16, 10:18] = True
    assert np.abs(heatmap[inside]).sum() > np.abs(heatmap[~inside]).sum()
    assert heatmap[~(image[0, 0] > 0)].max() == 0  # blank pixels: hiding them changes nothing
    png = Image.open(io.BytesIO(base64.b64decode(explained.extra["heatmap_png"])))
    assert png.format == "PNG"
    assert min(png.size) >= 128


def test_windows_widen_their_stride_to_fit_the_budget() -> None:
    found = windows(224, 224, 50)
    assert len(found.corners) <= 50
    assert found.size == 32
    assert len(windows(28, 28, 10_000).corners) == 13 * 13


def test_channels_last_images_are_occluded_across_channels() -> None:
    explainer = OcclusionExplainer(ImageLayout("image", channels_first=False), ["a"], 20)
    image = np.full((1, 14, 14, 3), 7.0)
    probes = explainer.probes({"image": image}, {})["image"]
    assert (probes[0, :2, :2, :] == 0).all()
    assert (probes[0, 5:, 5:, :] == 7).all()
