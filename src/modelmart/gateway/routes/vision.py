"""Image task routes: ``POST /v1/tasks/{image-classification,face-detection,
face-verification,ocr}``.

Each reads images as base64 JSON (``{"model", "input": image or list of images}``) or as a
multipart form (``image`` file fields, optional ``model``), and answers like every task route:
``{"model", "version", "results": [one per image; one per pair for verification], "usage":
{"images"}}``. A task is an entry in :data:`VISION_TASKS`: its default model, the outputs a
model needs to do it, and a function from those outputs to results. The routes bill
(:mod:`modelmart.gateway.metering`); the default model, like a named one, is the caller's own
deployment of that name if it has one, else the platform's.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from modelmart.arrays import Array, Batch
from modelmart.errors import InvalidImage, InvalidRequest
from modelmart.gateway.energy import energy_usage
from modelmart.gateway.images import ImageInput, read_image_input
from modelmart.gateway.metering import Caller, MeteredRoute
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.text_models import as_text, describe, fitting, model_endpoint
from modelmart.gateway.usage import report_usage
from modelmart.serving.placement import Endpoint
from modelmart.serving.router import Router
from modelmart.serving.validation import conform_batch
from modelmart.tenancy import Principal
from modelmart.types import Datatype, Signature, TensorSpec

ServicesDep = Annotated[Services, Depends(get_services)]

FACE_DISTANCE_THRESHOLD = 0.6
"""dlib's calibration: two embeddings of one person lie closer than this."""

Results = Callable[[Batch, dict[str, Any]], list[dict[str, Any]]]
"""The model's outputs for n images, and the request's options -> the results."""


@dataclass(frozen=True)
class ImageModelKind:
    """The deployments that can do one image task: one BYTES [-1] input, at least ``outputs``."""

    task: str
    outputs: tuple[str, ...]
    examples: tuple[str, ...]

    def fits(self, signature: Signature) -> bool:
        returned = {spec.name for spec in signature.outputs}
        return image_input(signature) is not None and returned.issuperset(self.outputs)

    def endpoint(self, router: Router, principal: Principal, name: str) -> Endpoint:
        """The deployment ``name`` as ``principal`` may use it: 404 when there is none, 400
        when it cannot do this task."""
        endpoint = model_endpoint(router, principal, name)
        if not self.fits(endpoint.signature):
            fit = fitting(router, principal, self.fits)
            raise InvalidRequest(
                f"model {name!r} cannot do {self.task}: it takes "
                f"{describe(endpoint.signature.inputs)} and returns "
                f"{describe(endpoint.signature.outputs)}. For {self.task}, deploy a model with "
                f"one image input (BYTES [-1]) returning {list(self.outputs)}, such as "
                f"{' or '.join(self.examples)}; deployed models that fit: {fit or 'none'}",
                details={"param": "model", "fitting": fit},
            )
        return endpoint


def image_input(signature: Signature) -> TensorSpec | None:
    """The model's input when it takes one encoded image per instance, else ``None``."""
    if len(signature.inputs) != 1:
        return None
    spec = signature.inputs[0]
    return spec if spec.datatype is Datatype.BYTES and len(spec.shape) == 1 else None


def _box(box: Array) -> dict[str, float]:
    left, top, right, bottom = (float(side) for side in box)
    return {"left": left, "top": top, "right": right, "bottom": bottom}


def classification_results(outputs: Batch, options: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``top_k`` likeliest classes per image, likeliest first."""
    returned = outputs["label"].shape[1]
    top_k = _top_k(options.get("top_k"), returned)
    ids = outputs.get("class_id")
    return [
        {
            "labels": [
                {
                    "label": as_text(labels[i]),
                    **({"class_id": int(ids[row, i])} if ids is not None else {}),
                    "score": float(scores[i]),
                }
                for i in range(top_k)
            ]
        }
        for row, (labels, scores) in enumerate(zip(outputs["label"], outputs["score"], strict=True))
    ]


def _top_k(value: Any, returned: int) -> int:
    if value is None:
        return returned
    if float(value) != int(value) or not 1 <= int(value) <= returned:
        raise InvalidRequest(
            f"'top_k' is {value}; this model returns its {returned} likeliest classes, so ask "
            f"for 1 to {returned}",
            details={"param": "top_k"},
        )
    return int(value)


def detection_results(outputs: Batch, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Each image's faces: a box in pixels and the detector's score, likeliest first."""
    return [
        {"faces": [{"box": _box(boxes[i]), "score": float(scores[i])} for i in range(int(count))]}
        for boxes, scores, count in zip(
            outputs["boxes"], outputs["scores"], outputs["faces"], strict=True
        )
    ]


def verification_results(outputs: Batch, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Whether the largest faces of the two images are one person, by embedding distance."""
    for index, count in enumerate(outputs["faces"]):
        if int(count) == 0:
            raise InvalidImage(
                f"image {index + 1} shows no face the model can find; send a photo with an "
                "upright face looking roughly at the camera, at least 40 pixels wide",
                details={"image": f"image {index + 1}", "faces": 0},
            )
    threshold = float(options.get("threshold", FACE_DISTANCE_THRESHOLD))
    first, second = outputs["embedding"][0], outputs["embedding"][1]
    distance = float(np.linalg.norm(first - second))
    faces = [
        {"box": _box(box), "faces_found": int(found)}
        for box, found in zip(outputs["box"], outputs["faces"], strict=True)
    ]
    verdict = {"same_person": distance < threshold, "distance": distance, "threshold": threshold}
    return [{**verdict, "faces": faces}]


def ocr_results(outputs: Batch, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Each image's lines of text in reading order, and all of them joined by newlines."""
    results = []
    for texts, boxes, confidences, count in zip(
        outputs["text"], outputs["boxes"], outputs["confidence"], outputs["lines"], strict=True
    ):
        read = [as_text(texts[i]) for i in range(int(count))]
        lines = [
            {
                "text": text,
                "box": [[float(x), float(y)] for x, y in boxes[i]],
                "confidence": float(confidences[i]),
            }
            for i, text in enumerate(read)
        ]
        results.append({"text": "\n".join(read), "lines": lines})
    return results


@dataclass(frozen=True)
class VisionTask:
    summary: str
    default_model: str
    kind: ImageModelKind
    results: Results
    options: tuple[str, ...] = ()
    images: int | None = None  # exactly this many images, when the task needs a fixed number


VISION_TASKS: dict[str, VisionTask] = {
    "image-classification": VisionTask(
        summary="ImageNet classes of each image, likeliest first, with probabilities",
        default_model="mobilenet-v2",
        kind=ImageModelKind(
            "image classification", ("label", "score"), ("mobilenet-v2", "efficientnet-lite0")
        ),
        results=classification_results,
        options=("top_k",),
    ),
    "face-detection": VisionTask(
        summary="Faces in each image: boxes in pixels with detection scores",
        default_model="face-detector",
        kind=ImageModelKind("face detection", ("boxes", "scores", "faces"), ("face-detector",)),
        results=detection_results,
    ),
    "face-verification": VisionTask(
        summary="Whether two images show the same person, with the faces' embedding distance",
        default_model="face-embedder",
        kind=ImageModelKind("face verification", ("embedding", "box", "faces"), ("face-embedder",)),
        results=verification_results,
        options=("threshold",),
        images=2,
    ),
    "ocr": VisionTask(
        summary="Text in each image: lines with their boxes and confidences",
        default_model="ocr",
        kind=ImageModelKind("OCR", ("text", "boxes", "confidence", "lines"), ("ocr",)),
        results=ocr_results,
    ),
}


def _check_request(name: str, task: VisionTask, found: ImageInput) -> None:
    extra = sorted(set(found.options) - set(task.options))
    if extra:
        raise InvalidRequest(
            f"{', '.join(map(repr, extra))} does not apply to {name}; it takes "
            f"{', '.join(map(repr, task.options)) or 'no options'}",
            details={"param": extra[0]},
        )
    if task.images is not None and len(found.images) != task.images:
        raise InvalidRequest(
            f"{name} compares exactly {task.images} images and {len(found.images)} were sent; "
            "send the two photos to compare",
            details={"param": "input", "images": len(found.images)},
        )


def _handler(name: str, task: VisionTask) -> Callable[..., Coroutine[Any, Any, Response]]:
    async def run_task(request: Request, principal: Caller, services: ServicesDep) -> Response:
        found = await read_image_input(request)
        _check_request(name, task, found)
        endpoint = task.kind.endpoint(services.router, principal, found.model or task.default_model)
        spec = image_input(endpoint.signature)
        assert spec is not None, "endpoint() returns only endpoints that fit"
        column: Array = np.array(found.images, dtype=object)
        prediction = await endpoint.predict(
            conform_batch(endpoint.signature, {spec.name: column}), request.is_disconnected
        )
        results = task.results(prediction.outputs, found.options)
        usage = {"images": len(found.images), **energy_usage(request, prediction.energy_uj)}
        report_usage(request, prediction.model, prediction.version, usage)
        return FastJSONResponse(
            {
                "model": prediction.model,
                "version": prediction.version,
                "results": results,
                "usage": usage,
            }
        )

    return run_task


def _request_body(task: VisionTask) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "model": {"type": "string", "example": task.default_model},
        "input": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "description": "base64 of an image file (JPEG, PNG, WebP, BMP, GIF, TIFF), or a list",
        },
        **{option: {"type": "number"} for option in task.options},
    }
    form = {
        "model": {"type": "string"},
        "image": {"type": "array", "items": {"type": "string", "format": "binary"}},
        **{option: {"type": "number"} for option in task.options},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "required": ["input"], "properties": properties}
                },
                "multipart/form-data": {"schema": {"type": "object", "properties": form}},
            },
        }
    }


def _vision_router() -> APIRouter:
    vision_router = APIRouter(prefix="/v1/tasks", tags=["tasks"], route_class=MeteredRoute)
    for name, task in VISION_TASKS.items():
        vision_router.add_api_route(
            f"/{name}",
            _handler(name, task),
            methods=["POST"],
            summary=task.summary,
            name=f"task_{name.replace('-', '_')}",
            openapi_extra=_request_body(task),
        )
    return vision_router


router = _vision_router()
