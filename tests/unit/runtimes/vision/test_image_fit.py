"""Decoding no larger than a model needs, and counting pixels from headers alone."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from modelmart.errors import ImageTooLarge, InvalidImage
from modelmart.gateway.images import check_pixel_budget
from modelmart.runtimes.vision import images as vision_images
from modelmart.runtimes.vision.images import decode_image, each_image, image_pixels


def encoded(size: tuple[int, int], image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 100, 50)).save(buffer, image_format)
    return buffer.getvalue()


@pytest.mark.parametrize("image_format", ["JPEG", "PNG"])
def test_fit_shrinks_a_large_image_but_keeps_the_short_side_the_model_needs(
    image_format: str,
) -> None:
    pixels = decode_image(encoded((2048, 1536), image_format), fit=256)

    height, width, _ = pixels.shape
    assert 256 <= min(height, width) < 2 * 256 * 2  # shrunk by a whole factor, not below fit
    assert width / height == pytest.approx(2048 / 1536, rel=0.02)
    assert pixels[height // 2, width // 2].tolist() == pytest.approx([200, 100, 50], abs=3)


def test_fit_leaves_a_small_image_as_it_is() -> None:
    assert decode_image(encoded((300, 200), "PNG"), fit=256).shape == (200, 300, 3)


def test_each_image_decodes_lazily_and_names_the_bad_one() -> None:
    images = np.array([encoded((8, 8), "PNG"), b"junk"], dtype=object)
    decoded = each_image(images)
    assert next(decoded).shape == (8, 8, 3)  # the second is not touched yet
    with pytest.raises(InvalidImage, match="image 2"):
        next(decoded)


def test_image_pixels_reads_the_header_only() -> None:
    data = encoded((4000, 3000), "PNG")
    assert image_pixels(data[:200]) == 12_000_000  # a header is enough: no pixel data read
    assert image_pixels(b"not an image") == 0


def test_the_pixel_budget_counts_all_images_of_a_request_together() -> None:
    images = [encoded((1000, 1000), "PNG")] * 4
    check_pixel_budget(images, 4_000_000)
    with pytest.raises(ImageTooLarge) as refused:
        check_pixel_budget(images, 3_999_999)
    assert refused.value.status == 413
    assert "3999999 pixels per request" in refused.value.message
    assert refused.value.details["pixels"] == 4_000_000


def test_memory_is_handed_back_after_a_batch_of_many_pixels_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    released: list[bool] = []
    monkeypatch.setattr(vision_images, "release_memory", lambda: released.append(True))
    monkeypatch.setattr(vision_images, "RELEASE_ABOVE_PIXELS", 10_000)
    small = np.array([encoded((50, 50), "PNG")] * 2, dtype=object)  # 5,000 pixels
    large = np.array([encoded((100, 100), "PNG")] * 2, dtype=object)  # 20,000 pixels

    list(each_image(small))
    assert released == []
    list(each_image(large))
    assert released == [True]


def test_release_memory_runs_wherever_the_c_library_is() -> None:
    vision_images.release_memory()  # glibc trims; elsewhere it does nothing, without failing
