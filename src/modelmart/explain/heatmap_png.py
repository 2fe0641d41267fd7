"""A heatmap as a small PNG for the console: red where hiding the pixels lowers the score,
blue where it raises it, white at zero, scaled by the largest magnitude."""

from __future__ import annotations

import base64
import io

import numpy as np

from modelmart.arrays import Array

MIN_SIDE = 128
"""Small images are enlarged (nearest neighbour) to at least this many pixels a side."""


def heatmap_rgb(heatmap: Array) -> Array:
    """[H, W, 3] uint8 colours of ``heatmap``."""
    peak = float(np.abs(heatmap).max()) or 1.0
    scaled = np.clip(heatmap / peak, -1.0, 1.0)
    positive, negative = np.clip(scaled, 0, 1), np.clip(-scaled, 0, 1)
    red = 1.0 - negative
    green = 1.0 - positive - negative
    blue = 1.0 - positive
    rgb = np.stack([red, green, blue], axis=-1)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def heatmap_png(heatmap: Array) -> str:
    """The PNG of ``heatmap``, base64-encoded."""
    from PIL import Image

    image = Image.fromarray(heatmap_rgb(heatmap), mode="RGB")
    factor = max(1, -(-MIN_SIDE // max(1, min(image.size))))
    if factor > 1:
        size = (image.width * factor, image.height * factor)
        image = image.resize(size, Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
