"""The image task routes against fake endpoints: JSON and multipart in, one shape out."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator

import numpy as np
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from PIL import Image

from modelmart.arrays import Batch
from modelmart.catalog.vision_entries import (
    CLASSIFIER_SIGNATURE,
    DETECTOR_SIGNATURE,
    EMBEDDER_SIGNATURE,
    OCR_SIGNATURE,
)
from modelmart.gateway.images import MAX_IMAGES
from modelmart.gateway.routes import inference, v2, vision
from tests.unit.gateway.route_fakes import (
    LANGUAGE,
    FakeEndpoint,
    app_with,
    client_for,
    energy,
    language,
)


def png(width: int = 4, height: int = 3) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, "PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def classify(images: list[bytes]) -> Batch:
    labels = [[f"class {i}" for i in range(5)] for _ in images]
    return {
        "label": np.array(labels, dtype=object),
        "class_id": np.tile(np.arange(5, dtype=np.int64), (len(images), 1)),
        "score": np.tile(np.array([0.5, 0.25, 0.125, 0.0625, 0.03125], "f4"), (len(images), 1)),
    }


def detect(images: list[bytes]) -> Batch:
    """One face in every image 4 pixels wide, none in the others."""
    boxes = np.zeros((len(images), 20, 4), dtype=np.float32)
    scores = np.zeros((len(images), 20), dtype=np.float32)
    widths = [Image.open(io.BytesIO(image)).width for image in images]
    boxes[:, 0] = [1, 2, 3, 4]
    scores[:, 0] = 0.75
    return {"boxes": boxes, "scores": scores, "faces": np.array([w == 4 for w in widths], "i8")}


def embed(images: list[bytes]) -> Batch:
    """A face in every image; the embedding is (width, 0, ...), so widths set distances."""
    embeddings = np.zeros((len(images), 128), dtype=np.float32)
    embeddings[:, 0] = [Image.open(io.BytesIO(image)).width / 10 for image in images]
    boxes = np.tile(np.array([0, 0, 2, 2], "f4"), (len(images), 1))
    faces = np.array([0 if Image.open(io.BytesIO(i)).height == 1 else 1 for i in images], "i8")
    return {"embedding": embeddings, "box": boxes, "faces": faces}


def read(images: list[bytes]) -> Batch:
    text = np.full((len(images), 100), "", dtype=object)
    text[:, :2] = [b"Hello", "world"]  # workers may return bytes
    boxes = np.zeros((len(images), 100, 4, 2), dtype=np.float32)
    boxes[:, 0] = [[0, 0], [10, 0], [10, 5], [0, 5]]
    confidence = np.full((len(images), 100), 0.5, dtype=np.float32)
    return {
        "text": text,
        "boxes": boxes,
        "confidence": confidence,
        "lines": np.full(len(images), 2),
    }


def vision_app(endpoints: dict[str, FakeEndpoint]) -> FastAPI:
    return app_with(endpoints, modules=(vision,))


@pytest.fixture
def endpoints() -> dict[str, FakeEndpoint]:
    return {
        "mobilenet-v2": FakeEndpoint("mobilenet-v2", CLASSIFIER_SIGNATURE, classify),
        "face-detector": FakeEndpoint("face-detector", DETECTOR_SIGNATURE, detect),
        "face-embedder": FakeEndpoint("face-embedder", EMBEDDER_SIGNATURE, embed),
        "ocr": FakeEndpoint("ocr", OCR_SIGNATURE, read),
        "langid": FakeEndpoint("langid", LANGUAGE, language),
    }


@pytest.fixture
async def http(endpoints: dict[str, FakeEndpoint]) -> AsyncIterator[AsyncClient]:
    async with client_for(vision_app(endpoints)) as client:
        yield client


async def test_classification_from_json_with_top_k(
    http: AsyncClient, endpoints: dict[str, FakeEndpoint]
) -> None:
    body = {"input": [b64(png()), f"data:image/png;base64,{b64(png())}"], "top_k": 2}
    response = await http.post("/v1/tasks/image-classification", json=body)
    assert response.status_code == 200, response.text
    labels = [{"label": "class 0", "class_id": 0, "score": 0.5},
              {"label": "class 1", "class_id": 1, "score": 0.25}]  # fmt: skip
    assert response.json() == {
        "model": "mobilenet-v2",
        "version": 3,
        "results": [{"labels": labels}, {"labels": labels}],
        "usage": {"images": 2, **energy()},
    }
    # The model receives the files' bytes, not their base64.
    assert endpoints["mobilenet-v2"].batches[0]["image"].tolist() == [png(), png()]


async def test_classification_from_a_multipart_upload(http: AsyncClient) -> None:
    files = [("image", ("a.png", png(), "image/png"))]
    response = await http.post(
        "/v1/tasks/image-classification", files=files, data={"model": "mobilenet-v2", "top_k": "1"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"] == [
        {"labels": [{"label": "class 0", "class_id": 0, "score": 0.5}]}
    ]


@pytest.mark.parametrize("top_k", [0, 6, 1.5])
async def test_top_k_beyond_what_the_model_returns_is_a_400(
    http: AsyncClient, top_k: float
) -> None:
    files = [("image", ("a.png", png(), "image/png"))]
    response = await http.post(
        "/v1/tasks/image-classification", files=files, data={"top_k": str(top_k)}
    )
    assert response.status_code == 400
    assert "ask for 1 to 5" in response.json()["error"]["message"]


async def test_face_detection_lists_real_faces_only(http: AsyncClient) -> None:
    body = {"input": [b64(png(4, 3)), b64(png(5, 3))]}
    response = await http.post("/v1/tasks/face-detection", json=body)
    assert response.status_code == 200, response.text
    box = {"left": 1.0, "top": 2.0, "right": 3.0, "bottom": 4.0}
    assert response.json()["results"] == [{"faces": [{"box": box, "score": 0.75}]}, {"faces": []}]


async def test_face_verification_compares_two_images(http: AsyncClient) -> None:
    same = await http.post(
        "/v1/tasks/face-verification", json={"input": [b64(png(4)), b64(png(5))]}
    )
    assert same.status_code == 200, same.text
    result = same.json()["results"][0]
    assert result["same_person"] is True
    assert result["distance"] == pytest.approx(0.1)
    assert result["threshold"] == 0.6
    box = {"left": 0.0, "top": 0.0, "right": 2.0, "bottom": 2.0}
    assert result["faces"] == [{"box": box, "faces_found": 1}] * 2
    assert same.json()["usage"] == {"images": 2, **energy()}
    strict = {"input": [b64(png(4)), b64(png(5))], "threshold": 0.05}
    different = await http.post("/v1/tasks/face-verification", json=strict)
    assert different.json()["results"][0]["same_person"] is False


async def test_face_verification_needs_two_images_with_faces(http: AsyncClient) -> None:
    one = await http.post("/v1/tasks/face-verification", json={"input": b64(png())})
    assert one.status_code == 400
    assert "compares exactly 2 images and 1 were sent" in one.json()["error"]["message"]
    faceless = await http.post(
        "/v1/tasks/face-verification", json={"input": [b64(png()), b64(png(4, 1))]}
    )
    assert faceless.status_code == 400
    assert faceless.json()["error"]["code"] == "invalid_image"
    assert faceless.json()["error"]["message"].startswith("image 2 shows no face")


async def test_ocr_returns_lines_and_the_joined_text(http: AsyncClient) -> None:
    response = await http.post("/v1/tasks/ocr", json={"input": b64(png())})
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["text"] == "Hello\nworld"
    assert result["lines"][0] == {
        "text": "Hello",
        "box": [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]],
        "confidence": 0.5,
    }


async def test_an_option_of_another_task_is_a_400(http: AsyncClient) -> None:
    response = await http.post("/v1/tasks/ocr", json={"input": b64(png()), "top_k": 2})
    assert response.status_code == 400
    assert (
        response.json()["error"]["message"] == "'top_k' does not apply to ocr; it takes no options"
    )


async def test_a_model_of_another_kind_is_a_400_naming_what_fits(http: AsyncClient) -> None:
    body = {"model": "langid", "input": b64(png())}
    response = await http.post("/v1/tasks/face-detection", json=body)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "model 'langid' cannot do face detection" in message
    assert "deployed models that fit: ['face-detector']" in message


async def test_an_undeployed_model_says_how_to_deploy_it(http: AsyncClient) -> None:
    response = await http.post("/v1/tasks/ocr", json={"model": "tesseract", "input": b64(png())})
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert "no deployment named 'tesseract' is serving" in message
    assert "deploy the model with POST /v1/deployments" in message


@pytest.mark.parametrize(
    ("request_kwargs", "status", "fragment"),
    [
        ({"json": {"input": []}}, 400, "no image was sent"),
        ({"json": {"input": [b64(png())] * (MAX_IMAGES + 1)}}, 400, f"at most {MAX_IMAGES} fit"),
        ({"json": {"input": "@@@"}}, 400, "image 1 is not valid base64"),
        ({"json": {"input": b64(b"")}}, 400, "image 1 is empty"),
        ({"json": {"images": "x"}}, 422, "input: Field required"),
        (
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "not valid JSON",
        ),
        (
            {"content": png(), "headers": {"content-type": "image/png"}},
            415,
            "content type 'image/png' is not accepted here",
        ),
        (
            {"data": {"image": "text"}, "files": [("other", ("a.png", png()))]},
            400,
            "form field(s) other are not read here",
        ),
        (
            {"data": {"image": "text"}, "files": [("image", ("a.png", png()))]},
            400,
            "holds text; attach the image as a file",
        ),
        (
            {"data": {"top_k": "many"}, "files": [("image", ("a.png", png()))]},
            400,
            "form field 'top_k' is 'many'; expected a number",
        ),
    ],
    ids=[
        "none",
        "too-many",
        "bad-base64",
        "empty",
        "wrong-field",
        "bad-json",
        "raw-body",
        "unknown-field",
        "text-image",
        "bad-number",
    ],
)
async def test_bad_requests_say_what_to_send(
    http: AsyncClient, request_kwargs: dict[str, object], status: int, fragment: str
) -> None:
    response = await http.post("/v1/tasks/image-classification", **request_kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]["message"]


async def test_every_image_task_is_documented_with_both_body_shapes(http: AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    for name in vision.VISION_TASKS:
        content = paths[f"/v1/tasks/{name}"]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", "multipart/form-data"}


async def test_images_over_the_request_pixel_budget_are_a_413_before_decoding(
    endpoints: dict[str, FakeEndpoint],
) -> None:
    app = vision_app(endpoints)
    app.state.services.settings.max_request_pixels = 1_000
    corrupt_tail = png(20, 20)[:60]  # declares 400 pixels; could not be decoded

    async with client_for(app) as client:
        response = await client.post(
            "/v1/tasks/image-classification", json={"input": [b64(corrupt_tail)] * 3}
        )

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "image_too_large"
    assert "budget of 1000 pixels" in error["message"]


@pytest.mark.parametrize("route", [":predict", "v2"])
async def test_the_tensor_routes_apply_the_same_request_pixel_budget(
    endpoints: dict[str, FakeEndpoint], route: str
) -> None:
    """Images sent as an ``image`` BYTES tensor count against the request's budget together,
    as on the task routes, before anything is queued."""
    app = app_with(endpoints, modules=(inference, v2))
    app.state.services.settings.max_request_pixels = 1_000
    images = [b64(png(20, 20))] * 3  # 400 pixels each: one fits, three do not

    async with client_for(app) as client:

        async def send(count: int) -> int:
            if route == ":predict":
                body = {"instances": images[:count]}
                response = await client.post("/v1/models/mobilenet-v2:predict", json=body)
            else:
                tensor = {"name": "image", "datatype": "BYTES", "shape": [count]}
                body = {"inputs": [{**tensor, "data": images[:count]}]}
                response = await client.post("/v2/models/mobilenet-v2/infer", json=body)
            if response.status_code == 413:
                assert response.json()["error"]["code"] == "image_too_large"
            return response.status_code

        assert await send(1) == 200
        assert await send(3) == 413
    assert len(endpoints["mobilenet-v2"].batches) == 1
