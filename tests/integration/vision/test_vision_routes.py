"""The image task routes through the catalogue's real vision models, on a real server."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from modelmart import Settings
from modelmart.catalog.vision_sets import (
    ASTRONAUT_FACE,
    PHOTO_CLASSES,
    encode,
    lfw_image,
    photo,
    rendered_text,
)
from tests.integration.energy import billed
from tests.integration.servers import LiveServer, live_server

MODELS = ("mobilenet-v2", "efficientnet-lite0", "face-detector", "face-embedder", "ocr")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The catalogue's vision models, deployed in the server process."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("vision") / "data", json_logs=False)
    with live_server(settings) as running:
        for model in MODELS:
            body = {"model": model, "isolation": "thread"}
            response = httpx.post(f"{running.url}/v1/deployments", json=body, timeout=120)
            assert response.status_code == 201, response.text
        yield running


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_classification_of_an_uploaded_jpeg(http: httpx.Client) -> None:
    files = [("image", ("chelsea.jpg", encode(photo("chelsea"), "JPEG"), "image/jpeg"))]
    response = http.post("/v1/tasks/image-classification", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"]) == ("mobilenet-v2", 1)
    assert billed(body["usage"]) == {"images": 1}
    labels = body["results"][0]["labels"]
    assert len(labels) == 5
    assert labels[0]["class_id"] in PHOTO_CLASSES["chelsea"][1]
    scores = [label["score"] for label in labels]
    assert scores == sorted(scores, reverse=True)
    assert 0 < sum(scores) <= 1.0001


def test_classification_of_base64_images_with_efficientnet(http: httpx.Client) -> None:
    images = [
        b64(encode(photo("coffee"))),
        f"data:image/png;base64,{b64(encode(photo('chelsea')))}",
    ]
    body = {"model": "efficientnet-lite0", "input": images, "top_k": 2}
    response = http.post("/v1/tasks/image-classification", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert billed(answer["usage"]) == {"images": 2}
    coffee, cat = answer["results"]
    assert [len(coffee["labels"]), len(cat["labels"])] == [2, 2]
    assert coffee["labels"][0]["class_id"] in PHOTO_CLASSES["coffee"][1]
    assert cat["labels"][0]["class_id"] in PHOTO_CLASSES["chelsea"][1]


def test_face_detection_finds_the_astronaut_and_no_face_in_coffee(http: httpx.Client) -> None:
    files = [
        ("image", ("astronaut.png", encode(photo("astronaut")), "image/png")),
        ("image", ("coffee.png", encode(photo("coffee")), "image/png")),
    ]
    response = http.post("/v1/tasks/face-detection", files=files)
    assert response.status_code == 200, response.text
    astronaut, coffee = response.json()["results"]
    assert coffee == {"faces": []}
    best = astronaut["faces"][0]
    box = best["box"]
    centre = ((box["left"] + box["right"]) / 2, (box["top"] + box["bottom"]) / 2)
    left, top, right, bottom = ASTRONAUT_FACE
    assert left < centre[0] < right
    assert top < centre[1] < bottom
    assert best["score"] > 0


def test_face_verification_tells_one_person_from_two(http: httpx.Client) -> None:
    astronaut = photo("astronaut")
    same = http.post(
        "/v1/tasks/face-verification",
        json={"input": [b64(encode(astronaut)), b64(encode(astronaut[:, ::-1]))]},
    )
    assert same.status_code == 200, same.text
    result = same.json()["results"][0]
    assert result["same_person"] is True
    assert result["distance"] < result["threshold"] == 0.6
    assert billed(same.json()["usage"]) == {"images": 2}
    files = [
        ("image", ("a.png", encode(astronaut), "image/png")),
        ("image", ("b.png", encode(lfw_image(0)), "image/png")),
    ]
    different = http.post("/v1/tasks/face-verification", files=files)
    assert different.status_code == 200, different.text
    result = different.json()["results"][0]
    assert result["same_person"] is False
    assert result["distance"] >= 0.6


def test_ocr_reads_rendered_text(http: httpx.Client) -> None:
    image = encode(rendered_text("Invoice 2026 total 129.50", 40))
    response = http.post("/v1/tasks/ocr", json={"input": b64(image)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert billed(body["usage"]) == {"images": 1}
    result = body["results"][0]
    assert "2026" in result["text"]
    assert "129.50" in result["text"]
    line = result["lines"][0]
    assert len(line["box"]) == 4
    assert 0 < line["confidence"] <= 1


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "invalid_image"),
        (b"this is plain text, not a picture", "invalid_image"),
        (encode(photo("chelsea"), "JPEG")[:600], "invalid_image"),
    ],
    ids=["empty", "not-an-image", "truncated-jpeg"],
)
def test_bad_images_are_a_400_naming_the_image(
    http: httpx.Client, content: bytes, code: str
) -> None:
    files = [("image", ("bad.jpg", content, "image/jpeg"))]
    response = http.post("/v1/tasks/image-classification", files=files)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith("image 1 ")


def test_too_many_pixels_is_a_413(http: httpx.Client) -> None:
    huge = Image.new("1", (8000, 6000))  # 48 MP, a few kB as a PNG
    response = http.post("/v1/tasks/ocr", json={"input": b64(encode_image(huge))})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "image_too_large"


def encode_image(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_model_errors(http: httpx.Client) -> None:
    image = b64(encode(photo("coffee")))
    unknown = http.post("/v1/tasks/ocr", json={"model": "nope", "input": image})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "deployment_not_found"
    wrong = http.post("/v1/tasks/image-classification", json={"model": "ocr", "input": image})
    assert wrong.status_code == 400
    message = wrong.json()["error"]["message"]
    assert "deployed models that fit: ['efficientnet-lite0', 'mobilenet-v2']" in message
    no_face = http.post("/v1/tasks/face-verification", json={"input": [image, image]})
    assert no_face.status_code == 400
    assert no_face.json()["error"]["message"].startswith("image 1 shows no face")
