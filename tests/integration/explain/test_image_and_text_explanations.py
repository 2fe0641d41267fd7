"""Image and text explanations through a real server: a small CNN trained on the digits
sample highlights the digit's pixels; a text classifier names its top tokens."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from modelmart.cli.main import app
from modelmart.client import AsyncClient, Client
from tests.integration.explain.trained import train_and_deploy
from tests.integration.jobs.data import reviews_jsonl
from tests.integration.servers import LiveServer

SIZE = 16
INKED = 64
"""A pixel brighter than this (of 255) is part of the digit's strokes."""
CNN = {"image_size": SIZE, "channels": [8, 16], "learning_rate": 3e-3}


def digit_pixels(indices: list[int]) -> np.ndarray:
    """[n, 1, SIZE, SIZE] digits as the sample's PNGs hold them and the trainer resizes them."""
    digits = load_digits()
    pngs = [Image.fromarray((digits.images[i] * 255 / 16).astype("uint8")) for i in indices]
    images = [np.asarray(png.resize((SIZE, SIZE)), dtype=np.float32) for png in pngs]
    return np.stack(images)[:, np.newaxis]


@pytest.fixture(scope="module")
def cnn(server: LiveServer) -> str:
    train_and_deploy(
        server, "digits-images", "digits-cnn", family="cnn", hyperparameters=CNN,
        spec={"max_epochs": 4},
    )  # fmt: skip
    return "digits-cnn"


def test_a_cnns_heatmap_puts_more_mass_inside_the_digit_than_outside(
    server: LiveServer, cnn: str
) -> None:
    pixels = digit_pixels([0, 1, 2, 3])
    with Client(server.url) as mm:
        explained = mm.explain(cnn, pixels.tolist())
    assert explained.method.name == "occlusion"
    # Each heatmap explains the class the model predicted for its image.
    assert [e.target for e in explained.explanations] == [p["label"] for p in explained.predictions]
    for image, item in zip(pixels, explained.explanations, strict=True):
        heatmap = np.abs(np.asarray(item.attributions))
        assert heatmap.shape == (SIZE, SIZE)
        inside = image[0] > INKED  # the digit's strokes: under half of the image
        assert inside.mean() < 0.5
        assert heatmap[inside].sum() > heatmap[~inside].sum()
        assert item.heatmap_png is not None
        png = Image.open(io.BytesIO(base64.b64decode(item.heatmap_png)))
        assert png.format == "PNG"


def test_the_cli_writes_the_heatmaps_as_png_files(
    server: LiveServer, cnn: str, tmp_path: Path
) -> None:
    data = str(digit_pixels([5]).tolist())
    out = tmp_path / "heatmaps"
    result = CliRunner().invoke(
        app, ["--url", server.url, "explain", cnn, "--data", data, "--png-dir", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "occlusion" in result.output
    assert [p.name for p in out.iterdir()] == [f"{cnn}-0.png"]


def test_a_text_classifier_names_its_top_tokens(server: LiveServer, tmp_path: Path) -> None:
    with Client(server.url) as mm:
        mm.push_dataset("explain-reviews", reviews_jsonl(tmp_path / "reviews.jsonl"))
    train_and_deploy(server, "explain-reviews", "reviews-clf")

    async def explain() -> object:
        async with AsyncClient(server.url) as mm:
            return await mm.explain("reviews-clf", ["the food was great and the staff love it"])

    explained = asyncio.run(explain())
    assert explained.method.name == "token-occlusion"  # type: ignore[attr-defined]
    item = explained.explanations[0]  # type: ignore[attr-defined]
    assert item.target == "pos"
    assert item.tokens == ["the", "food", "was", "great", "and", "the", "staff", "love", "it"]
    assert item.top_tokens[:2] in (["great", "love"], ["love", "great"])
    assert len(item.attributions) == len(item.tokens)
