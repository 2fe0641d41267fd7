"""``cnn``: a small convolutional network for image classification.

Images are read from ``path`` (relative to the dataset root), converted to greyscale when
every image is greyscale and to RGB otherwise, and resized to ``image_size`` squared. The
served model takes ``image`` FP32 [-1, channels, size, size] holding raw 0-255 pixel values:
the normalisation learnt from the training images is part of the exported graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modelmart.arrays import Array
from modelmart.errors import ValidationFailed
from modelmart.training.context import FitContext, FitResult, class_indices
from modelmart.training.loop import Tensors, classification_loss, fit_network, predict
from modelmart.training.onnx_graphs import add_classifier_outputs, export_module
from modelmart.training.splits import split_rows
from modelmart.types import ArtifactFormat

MODEL_FILE = "model.onnx"


class ConvNet(nn.Module):
    """Two (or more) conv-ReLU-maxpool blocks, then a dropout-regularised dense head."""

    def __init__(
        self, in_channels: int, size: int, channels: list[int], n_classes: int, dropout: float
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for width in channels:
            blocks += [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            in_channels = width
            size //= 2
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(in_channels * size * size, 128),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(128, n_classes),
        )
        self.register_buffer("mean", torch.zeros(1))
        self.register_buffer("std", torch.ones(1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        mean: torch.Tensor = self.mean  # type: ignore[assignment]
        std: torch.Tensor = self.std  # type: ignore[assignment]
        scaled = (image / 255.0 - mean) / std
        logits: torch.Tensor = self.head(self.features(scaled))
        return logits


def load_images(paths: list[str], root: Path, size: int) -> Array:
    """[n, channels, size, size] float32 pixels (0-255); refuses unreadable files by name."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for relative in paths:
        try:
            with Image.open(root / relative) as image:
                images.append(image.convert("RGB") if image.mode != "L" else image.copy())
        except (OSError, UnidentifiedImageError) as exc:
            raise ValidationFailed(f"image '{relative}' cannot be read ({exc})") from exc
    mode = "L" if all(image.mode == "L" for image in images) else "RGB"
    arrays = [
        np.asarray(image.convert(mode).resize((size, size)), dtype=np.float32) for image in images
    ]
    stacked = np.stack(arrays)
    return stacked[:, np.newaxis] if mode == "L" else stacked.transpose(0, 3, 1, 2)


def fit_cnn(context: FitContext) -> FitResult:
    data, hyper = context.data, context.hyper
    if data.root is None or "path" not in data.frame.columns:
        raise ValidationFailed("an image dataset needs a root directory and a 'path' column")
    size = int(hyper["image_size"])
    pixels = load_images([str(p) for p in data.frame["path"]], data.root, size)
    y, labels = class_indices(data.frame[context.target])
    split = split_rows(len(y), context.spec.split, context.spec.seed, y)
    context.check_cancelled()
    channels = list(hyper["channels"])
    if size >> len(channels) < 1:
        raise ValidationFailed(
            f"image_size {size} is too small for {len(channels)} pooling blocks; use a larger "
            "image_size or fewer channels"
        )
    torch.manual_seed(context.spec.seed)  # the initial weights come from the seed too
    model = ConvNet(pixels.shape[1], size, channels, len(labels), float(hyper["dropout"]))
    train_pixels = pixels[split.train] / 255.0
    model.mean.fill_(float(train_pixels.mean()))  # type: ignore[operator]
    model.std.fill_(float(train_pixels.std() or 1.0))  # type: ignore[operator]
    x, target = torch.from_numpy(pixels), torch.from_numpy(y)
    history = fit_network(
        context,
        model,
        classification_loss(context, y[split.train], len(labels)),
        Tensors((x[split.train],), target[split.train]),
        Tensors((x[split.validation],), target[split.validation]),
    )
    graph = export_module(
        model, (torch.zeros(2, *pixels.shape[1:]),), ["image"], "logits", {"image": {0: "batch"}}
    )
    add_classifier_outputs(graph, "logits", labels)
    path = context.workdir / MODEL_FILE
    path.write_bytes(graph.SerializeToString())
    parameters: dict[str, Any] = {
        "labels": labels,
        "image_size": size,
        "channels": int(pixels.shape[1]),
    }
    return FitResult(
        artifact=path,
        format=ArtifactFormat.ONNX,
        parameters=parameters,
        test_batch={"image": pixels[split.test]},
        y_test=y[split.test],
        split=split,
        labels=labels,
        history=history,
        reference=predict(model, (x[split.test],)).softmax(1).numpy().astype(np.float64),
    )
