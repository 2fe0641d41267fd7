"""The small image sets the vision models are measured on, built from scikit-image's bundled
photos (``skimage.data``, no download) and from text rendered with Pillow.

Like the text sets, they catch a broken or mis-wired model and are far too small to rank one.
Labels were chosen by looking at the photos, before any model was run on them; a photo no
ImageNet class describes (the astronaut) is left out rather than given a near miss.
scikit-image is a development dependency: only the evaluation and the tests import this.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from modelmart.arrays import Array


def photo(name: str) -> Array:
    """``skimage.data.<name>()``; the left view for ``stereo_motorcycle``, a stereo pair."""
    found = getattr(data, name)()
    return np.asarray(found[0] if isinstance(found, tuple) else found)


ASTRONAUT_FACE = (170, 70, 270, 170)
"""Where Eileen Collins's face is in ``data.astronaut()``: left, top, right, bottom."""

# Photo -> the ImageNet-1k class ids that name what it shows (any of them counts as right).
PHOTO_CLASSES: dict[str, tuple[Callable[[], Array], frozenset[int]]] = {
    # Chelsea is a striped tabby: tabby, tiger cat and Egyptian cat all describe her.
    "chelsea": (lambda: photo("chelsea"), frozenset({281, 282, 285})),
    # A cup of espresso on a saucer: espresso, cup, coffee mug.
    "coffee": (lambda: photo("coffee"), frozenset({967, 968, 504})),
    # A rocket on its launch pad: missile, projectile, space shuttle.
    "rocket": (lambda: photo("rocket"), frozenset({657, 744, 812})),
    # A motorcycle (the Middlebury stereo pair's left view): moped, motor scooter, disc brake.
    "motorcycle": (lambda: photo("stereo_motorcycle"), frozenset({665, 670, 535})),
    # A wall clock, photographed in grey: wall clock, analog clock.
    "clock": (lambda: photo("clock"), frozenset({892, 409})),
    # The cameraman: a camera on a tripod dominates the frame.
    "camera": (lambda: photo("camera"), frozenset({872})),
}


@dataclass(frozen=True)
class LabelledImage:
    name: str
    pixels: Array
    classes: frozenset[int]


def rgb(pixels: Array) -> Array:
    """Grey (H, W) or RGBA photos as (H, W, 3) uint8 RGB."""
    return np.asarray(Image.fromarray(pixels).convert("RGB"))


def variants(pixels: Array) -> dict[str, Array]:
    """The photo, mirrored, its centre 80 %, its left and right 85 %, and at half size."""
    height, width = pixels.shape[:2]
    cut_h, cut_w = height // 10, width // 10
    keep = int(width * 0.85)
    half = Image.fromarray(pixels).resize((width // 2, height // 2), Image.Resampling.BILINEAR)
    return {
        "original": pixels,
        "mirrored": pixels[:, ::-1],
        "centre": pixels[cut_h : height - cut_h, cut_w : width - cut_w],
        "left": pixels[:, :keep],
        "right": pixels[:, width - keep :],
        "half": np.asarray(half),
    }


def classification_set() -> list[LabelledImage]:
    """Six photos, six variants each: 36 labelled images."""
    return [
        LabelledImage(f"{name}/{variant}", np.ascontiguousarray(pixels), classes)
        for name, (load, classes) in PHOTO_CLASSES.items()
        for variant, pixels in variants(rgb(load())).items()
    ]


def lfw_image(index: int, side: int = 150) -> Array:
    """Image ``index`` of scikit-image's LFW subset (0-99 faces, 100-199 not), scaled up from
    25x25 to ``side`` pixels (dlib's HOG detector looks for faces of 40 pixels or more)."""
    grey = (photo("lfw_subset")[index] * 255).astype(np.uint8)
    scaled = Image.fromarray(grey).resize((side, side), Image.Resampling.BICUBIC)
    return np.asarray(scaled.convert("RGB"))


def face_sets() -> tuple[list[Array], list[Array]]:
    """Photos with one face (100 LFW faces and the astronaut) and without any (100 LFW
    non-face patches and five photos of things)."""
    faces = [lfw_image(index) for index in range(100)] + [rgb(photo("astronaut"))]
    things = ("coffee", "rocket", "chelsea", "camera", "clock")
    non_faces = [lfw_image(index) for index in range(100, 200)]
    return faces, non_faces + [rgb(photo(name)) for name in things]


def same_face_pairs(faces: list[Array]) -> list[tuple[Array, Array]]:
    """Each face beside a mirrored, a brighter and a rescaled copy of itself."""
    pairs = []
    for pixels in faces:
        brighter = np.clip(pixels.astype(np.int16) + 25, 0, 255).astype(np.uint8)
        height, width = pixels.shape[:2]
        smaller = Image.fromarray(pixels).resize((width * 4 // 5, height * 4 // 5))
        pairs += [(pixels, pixels[:, ::-1]), (pixels, brighter), (pixels, np.asarray(smaller))]
    return pairs


OCR_LINES = (
    "ModelMart serves models",
    "Invoice 2026-0417: 3 items",
    "Total due EUR 129.50",
    "The quick brown fox jumps over the lazy dog",
    "Call +44 20 7946 0018 before 5 pm",
    "support@example.com",
    "SELF-HOSTED INFERENCE",
    "Batch size 32, delay 5 ms",
    "Version 1.4.4 (Apache-2.0)",
    "Temperature: 21.5 C",
)
"""Lines rendered in black on white in Pillow's bundled font, at two sizes each."""


def ocr_set() -> list[tuple[str, Array]]:
    return [(line, rendered_text(line, size)) for line in OCR_LINES for size in (24, 40)]


def rendered_text(text: str, size: int = 32) -> Array:
    """``text`` in black on white, in Pillow's bundled font, with a margin around it."""
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text)
    width, height = int(right - left) + 2 * size, int(bottom - top) + 2 * size
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).text((size - left, size - top), text, fill="black", font=font)
    return np.asarray(image)


def encode(pixels: Array, image_format: str = "PNG") -> bytes:
    """``pixels`` as the bytes of an image file, as a client sends them."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, image_format)
    return buffer.getvalue()
