"""The workloads of the peer comparison: what every engine serves, how, and what it is sent.

Every engine gets the same model files, the same request bodies, the same URL and the same
shape (copies of the model, threads per copy, batching), so the engines differ only in how
they serve. The shapes fit this 2-core machine: two single-threaded copies for the models
that batch (two copies encode more than one copy with two threads, whose threads wait for
each other at every layer), one copy for the tiny model (its cost is the serving path, not
the model) and for chat (llama.cpp uses both cores for one generation).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import workload
from PIL import Image

from modelmart.catalog.vision_sets import classification_set

IMAGE_SIDE = 224
JPEG_QUALITY = 90
CHAT_MAX_TOKENS = 64
CHAT_CONTEXT = 8192
"""KV cache tokens of one chat instance, shared by its sequences: SmolLM2's trained window,
which ModelMart's llama.cpp runtime takes by default."""
CHAT_PARALLEL = 16
"""Sequences one chat instance decodes together: the catalogue entry's ``parallel``, and
llama.cpp's server's ``--parallel`` slots."""
CHAT_PROMPTS = (
    "Write one sentence about the sea.",
    "Name three colours of the rainbow.",
    "Give me a short tip for writing clean code.",
    "What is the capital of France? Answer in one sentence.",
    "Describe a cat in two sentences.",
    "Suggest a name for a bakery.",
    "Explain what a database index is, briefly.",
    "Write a haiku about autumn.",
)


@dataclass(frozen=True)
class Shape:
    """How many copies of the model serve, with how many threads each, and the batching
    every engine is configured with (its own batching feature, on)."""

    workers: int
    threads: int
    max_batch: int
    max_delay_ms: float

    def arguments(self) -> list[str]:
        return [
            f"--workers={self.workers}",
            f"--threads={self.threads}",
            f"--max-batch={self.max_batch}",
            f"--max-delay-ms={self.max_delay_ms:g}",
        ]


@dataclass(frozen=True)
class ModelMartModel:
    """What ModelMart deploys for a workload: a catalogue model, or a file pushed first."""

    model: str
    deployment: str
    pushed: Callable[[Path], Path] | None = None  # builds the file to push, in a folder
    task: str | None = None


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    route: str
    shape: Shape
    modelmart: ModelMartModel
    bodies: Callable[[str], list[dict[str, Any]]]  # deployment name -> request bodies
    connections: tuple[int, ...] = (64,)
    streaming: bool = False

    def write_bodies(self, path: Path, model: str) -> Path:
        """One JSON body per line, as bench/post_bodies.lua reads them."""
        lines = (json.dumps(body, separators=(",", ":")) for body in self.bodies(model))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def iris_bodies(_: str) -> list[dict[str, Any]]:
    return [{"instances": [row]} for row in workload.iris_rows()]


def sentence_bodies(model: str) -> list[dict[str, Any]]:
    return [{"model": model, "input": sentence} for sentence in workload.sentences()]


def jpeg_base64(pixels: Any) -> str:
    """A photo squeezed to 224 x 224 and saved as a JPEG, in base64."""
    image = Image.fromarray(pixels).resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def image_bodies(model: str) -> list[dict[str, Any]]:
    return [{"model": model, "input": jpeg_base64(item.pixels)} for item in classification_set()]


def chat_bodies(model: str) -> list[dict[str, Any]]:
    return [
        {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": CHAT_MAX_TOKENS,
            "temperature": 0,
            "stream": True,
        }
        for prompt in CHAT_PROMPTS
    ]


def _push_iris(folder: Path) -> Path:
    return workload.train_iris(folder / "iris.skops")


BATCHED = Shape(workers=2, threads=1, max_batch=32, max_delay_ms=5)

WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "iris",
        "iris logistic regression (tiny model)",
        "/v1/models/iris:predict",
        Shape(workers=1, threads=1, max_batch=32, max_delay_ms=1),
        ModelMartModel("iris", "iris", _push_iris, "classification"),
        iris_bodies,
        connections=(1, 64),
    ),
    Workload(
        "minilm-onnx",
        "MiniLM embeddings, ONNX int8, 1 sentence per request",
        "/v1/embeddings",
        BATCHED,
        ModelMartModel("minilm-int8", "minilm"),
        sentence_bodies,
    ),
    Workload(
        "minilm-torch",
        "MiniLM embeddings, PyTorch, 1 sentence per request",
        "/v1/embeddings",
        BATCHED,
        ModelMartModel("minilm", "minilm"),
        sentence_bodies,
    ),
    Workload(
        "mobilenet",
        "MobileNetV2, one 224x224 JPEG per request",
        "/v1/tasks/image-classification",
        Shape(workers=2, threads=1, max_batch=16, max_delay_ms=5),
        ModelMartModel("mobilenet-v2", "mobilenet"),
        image_bodies,
    ),
    Workload(
        "chat",
        "SmolLM2-135M chat completions, streamed",
        "/v1/chat/completions",
        Shape(workers=1, threads=2, max_batch=1, max_delay_ms=0),
        ModelMartModel("smollm2-135m-instruct", "smollm2"),
        chat_bodies,
        connections=(1, 4, 16, 64),
        streaming=True,
    ),
)


def by_key(keys: Sequence[str]) -> list[Workload]:
    known = {item.key: item for item in WORKLOADS}
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise ValueError(f"unknown workload(s) {unknown}; choose from {', '.join(known)}")
    return [known[key] for key in keys]
