"""Decoding images: upright RGB pixels, or a 4xx that names the image and says what to send."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from modelmart.errors import ImageTooLarge, InvalidImage
from modelmart.runtimes.vision.images import (
    batch_images,
    decode_base64,
    decode_image,
    image_bytes,
)


def encoded(image: Image.Image, image_format: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def test_a_png_becomes_rgb_pixels() -> None:
    image = Image.new("RGB", (4, 3), (10, 20, 30))
    pixels = decode_image(encoded(image))
    assert pixels.shape == (3, 4, 3)
    assert pixels.dtype == np.uint8
    assert pixels[0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "1"])
def test_every_mode_becomes_three_channels(mode: str) -> None:
    assert decode_image(encoded(Image.new(mode, (5, 2)))).shape == (2, 5, 3)


def test_exif_orientation_turns_the_image_upright() -> None:
    image = Image.new("RGB", (6, 2), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    pixels = decode_image(encoded(image, "JPEG", exif=exif))
    assert pixels.shape == (6, 2, 3)


def test_an_empty_image_says_it_is_empty() -> None:
    with pytest.raises(InvalidImage, match=r"^image 2 is empty \(0 bytes\); send the bytes"):
        decode_image(b"", "image 2")


def test_bytes_that_are_no_image_are_refused() -> None:
    with pytest.raises(InvalidImage, match="is not an image this server reads") as raised:
        decode_image(b"%PDF-1.7 not a picture")
    assert raised.value.status == 400
    assert raised.value.code == "invalid_image"


def test_a_truncated_image_is_called_corrupt() -> None:
    whole = encoded(Image.new("RGB", (64, 64), "red"), "JPEG")
    with pytest.raises(InvalidImage, match="truncated or corrupt; send the complete file"):
        decode_image(whole[: len(whole) // 2])


def test_too_many_pixels_are_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLarge, match=r"is 10x10 = 100 pixels, more than the 99") as raised:
        decode_image(encoded(Image.new("RGB", (10, 10))), max_pixels=99)
    assert raised.value.status == 413
    assert raised.value.details["max_pixels"] == 99


def test_pillows_own_bomb_limit_is_a_413_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(ImageTooLarge, match="too many pixels to decode"):
        decode_image(encoded(Image.new("RGB", (10, 10))))


def test_base64_with_a_data_url_prefix_and_line_breaks() -> None:
    data = encoded(Image.new("RGB", (2, 2)))
    text = base64.encodebytes(data).decode()  # wrapped at 76 columns
    assert decode_base64(f"data:image/png;base64,{text}") == data
    assert decode_base64(text) == data


def test_invalid_base64_says_how_to_encode() -> None:
    with pytest.raises(InvalidImage, match=r"image 3 is not valid base64 .*RFC 4648"):
        decode_base64("not base64!", "image 3")


def test_tensor_elements_may_be_bytes_or_base64_text() -> None:
    data = encoded(Image.new("RGB", (2, 2)))
    assert image_bytes(data) == data
    assert image_bytes(base64.b64encode(data).decode()) == data
    with pytest.raises(InvalidImage, match="is a int; send the encoded file"):
        image_bytes(7)


def test_a_batch_names_its_bad_image_by_position() -> None:
    good = encoded(Image.new("RGB", (2, 2)))
    assert [p.shape for p in batch_images(np.array([good, good], dtype=object))] == [(2, 2, 3)] * 2
    with pytest.raises(InvalidImage, match=r"^image 2 is empty"):
        batch_images(np.array([good, b""], dtype=object))
