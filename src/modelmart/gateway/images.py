"""Images in a request: base64 text in a JSON body or files in a multipart form, checked
before anything is queued.

Both shapes carry the same fields: ``model`` (a deployment name), the images (``input`` in
JSON: one base64 string or a list; ``image`` file fields in a form, repeated for several) and
the task's options (``top_k``, ``threshold``). Every image is decoded once here, so an empty,
corrupt or oversized one is a 4xx naming it, not a failed batch.

The work one request may ask for is bounded by a pixel budget for all its images together
(``max_request_pixels``), checked from the sizes the files declare before anything is
decoded; the check decode then runs at a small fraction of the size (JPEG's DCT scaling), so
it costs a thumbnail's memory, not the photo's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import FormData, UploadFile

from modelmart.arrays import Batch
from modelmart.errors import ImageTooLarge, InvalidRequest, UnsupportedFormat, ValidationFailed
from modelmart.runtimes.vision.images import (
    RELEASE_ABOVE_PIXELS,
    decode_base64,
    decode_image,
    image_bytes,
    image_pixels,
    release_memory,
)
from modelmart.serving.validation import conform_batch
from modelmart.types import Datatype, Signature

MAX_IMAGES = 16
"""Images per request; more should be split into several requests."""

FILE_FIELD = "image"
IMAGE_INPUT = "image"
"""The BYTES input of the vision runtimes' signatures: encoded image files, one per row."""
OPTIONS = ("top_k", "threshold")

CHECK_SIZE = 64
"""The shorter side the gateway's check decode needs: enough to prove the file decodes."""


class ImageTaskBody(BaseModel):
    """The JSON shape of every image task."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        default=None, min_length=1, description="a deployment name; the task's default if omitted"
    )
    input: str | list[str] = Field(
        description="an image or a list of images: base64 of the file, or a data: URL"
    )
    top_k: int | None = Field(default=None, ge=1, description="image-classification: classes")
    threshold: float | None = Field(
        default=None, gt=0, description="face-verification: largest distance of one person"
    )


@dataclass(frozen=True)
class ImageInput:
    """What an image task request asked for: the images' bytes, already proven to decode."""

    model: str | None
    images: list[bytes]
    options: dict[str, Any] = field(default_factory=dict)


async def read_image_input(request: Request) -> ImageInput:
    """The images and options of ``request``, JSON or multipart; every image decoded once,
    after their declared sizes were checked against the request's pixel budget."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0]
    if content_type.strip().lower() == "multipart/form-data":
        found = await _from_form(request)
    elif content_type.strip().lower() in ("application/json", ""):
        found = _from_json(await request.body())
    else:
        raise UnsupportedFormat(
            f"content type {content_type!r} is not accepted here; send JSON "
            '({"input": "<base64 image>"}) or a multipart form with image file fields',
            details={"content_type": content_type},
        )
    _check_count(found.images)
    budget = _pixel_budget(request)
    pixels = await asyncio.to_thread(check_pixel_budget, found.images, budget)
    await asyncio.to_thread(_decode_all, found.images, release=pixels > RELEASE_ABOVE_PIXELS)
    return found


def _pixel_budget(request: Request) -> int:
    budget: int = request.app.state.services.settings.max_request_pixels
    return budget


def check_pixel_budget(images: list[bytes], budget: int) -> int:
    """The pixels ``images`` declare together; refused when more than ``budget``, from their
    headers alone (nothing is decoded)."""
    counts = [image_pixels(data, f"image {index + 1}") for index, data in enumerate(images)]
    total = sum(counts)
    if total > budget:
        raise ImageTooLarge(
            f"the {len(images)} image(s) of this request have {total} pixels together, more "
            f"than the budget of {budget} pixels per request; scale them down or send them "
            "in several requests",
            details={"pixels": total, "max_request_pixels": budget, "images": len(images)},
        )
    return total


async def tensor_inputs(request: Request, signature: Signature, batch: Batch) -> Batch:
    """``batch`` conformed to ``signature`` for the tensor routes (``:predict``, v2), with the
    request's pixel budget applied to an ``image`` BYTES input, as the task routes apply it:
    from the images' headers, before any is decoded or queued."""
    conformed = conform_batch(signature, batch)
    images = conformed.get(IMAGE_INPUT)
    if images is not None and _takes_images(signature):
        items = [image_bytes(item, f"image {n + 1}") for n, item in enumerate(images.ravel())]
        await asyncio.to_thread(check_pixel_budget, items, _pixel_budget(request))
    return conformed


def _takes_images(signature: Signature) -> bool:
    return any(
        spec.name == IMAGE_INPUT and spec.datatype is Datatype.BYTES for spec in signature.inputs
    )


def _from_json(body: bytes) -> ImageInput:
    try:
        parsed = ImageTaskBody.model_validate(orjson.loads(body or b"null"))
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON ({exc}); send a JSON object") from exc
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]
        raise ValidationFailed(
            f"the request does not match the API: {'; '.join(problems)}. See /docs for the "
            "expected shape",
            details={"problems": problems},
        ) from exc
    items = [parsed.input] if isinstance(parsed.input, str) else parsed.input
    images = [decode_base64(item, f"image {index + 1}") for index, item in enumerate(items)]
    options = {name: getattr(parsed, name) for name in OPTIONS if getattr(parsed, name) is not None}
    return ImageInput(parsed.model, images, options)


async def _from_form(request: Request) -> ImageInput:
    # As a context manager, the form closes its uploaded files' temporary files on exit.
    async with request.form(max_files=MAX_IMAGES + 1) as form:
        return await _read_form(form)


async def _read_form(form: FormData) -> ImageInput:
    unknown = sorted(set(form.keys()) - {FILE_FIELD, "model", *OPTIONS})
    if unknown:
        raise InvalidRequest(
            f"form field(s) {', '.join(unknown)} are not read here; send images as "
            f"{FILE_FIELD!r} file fields and optionally 'model', {', '.join(map(repr, OPTIONS))}",
            details={"fields": unknown},
        )
    images: list[bytes] = []
    for value in form.getlist(FILE_FIELD):
        if not isinstance(value, UploadFile):
            raise InvalidRequest(
                f"form field {FILE_FIELD!r} holds text; attach the image as a file "
                f"(curl -F {FILE_FIELD}=@photo.jpg)",
                details={"param": FILE_FIELD},
            )
        images.append(await value.read())
    model = form.get("model")
    options = {name: _form_number(name, form.get(name)) for name in OPTIONS if name in form}
    return ImageInput(model if isinstance(model, str) and model else None, images, options)


def _form_number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(
            f"form field {name!r} is {value!r}; expected a number", details={"param": name}
        ) from exc


def _check_count(images: list[bytes]) -> None:
    if not images:
        raise InvalidRequest(
            f"no image was sent; put base64 images in 'input' (JSON) or attach files as "
            f"{FILE_FIELD!r} fields (multipart)",
            details={"param": "input"},
        )
    if len(images) > MAX_IMAGES:
        raise InvalidRequest(
            f"{len(images)} images were sent; at most {MAX_IMAGES} fit in one request, send "
            "the rest in further requests",
            details={"param": "input", "max_images": MAX_IMAGES},
        )


def _decode_all(images: list[bytes], *, release: bool = False) -> None:
    for index, data in enumerate(images):
        decode_image(data, f"image {index + 1}", fit=CHECK_SIZE)
    if release:  # a PNG or TIFF is decoded at full size even for a check
        release_memory()
