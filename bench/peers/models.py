"""The compute every peer engine serves: the same models, preprocessing and responses.

A peer comparison measures serving, not models, so every engine (plain FastAPI, LitServe,
BentoML, Ray Serve) runs exactly this code, which mirrors what ModelMart's own runtimes do
for the same workloads: skops-loaded scikit-learn (runtimes/sklearn.py), the int8 ONNX MiniLM
with batch-longest padding and masked mean pooling (runtimes/onnx_text.py), the
sentence-transformers MiniLM (runtimes/transformers.py), MobileNetV2 with ModelMart's image
decoding and preprocessing (runtimes/vision/images.py and classifier.py) and SmolLM2 on
llama.cpp. It must not import modelmart: the peers' virtualenvs do not have it.

An engine's handler is ``body -> model.parse -> (the engine's batching) -> model(batch) ->
model.render -> JSON``; chat is ``body -> model.parse -> model.stream`` (SSE bytes).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import importlib.util
import io
import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

WORKLOADS = ("iris", "minilm-onnx", "minilm-torch", "mobilenet", "chat")
ROUTES: dict[str, str] = {
    "iris": "/v1/models/iris:predict",
    "minilm-onnx": "/v1/embeddings",
    "minilm-torch": "/v1/embeddings",
    "mobilenet": "/v1/tasks/image-classification",
    "chat": "/v1/chat/completions",
}
MAX_LENGTH = 256
TOP_K = 5
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
MAX_PIXELS = 40_000_000
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def command_line(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """The options every peer app takes from the benchmark driver (the peer protocol)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workload", required=True, choices=WORKLOADS)
    parser.add_argument("--files", required=True, type=Path, help="the driver's model files")
    parser.add_argument("--port", required=True, type=int, help="binds 127.0.0.1:PORT")
    parser.add_argument("--workers", type=int, default=1, help="model copies (processes)")
    parser.add_argument("--threads", type=int, default=1, help="compute threads per copy")
    parser.add_argument("--max-batch", type=int, default=1, help="1: no batching")
    parser.add_argument("--max-delay-ms", type=float, default=0.0, help="batch collection wait")
    return parser.parse_args(argv)


class Model(Protocol):
    """A batchable model: parse one request, run a batch of them, render one result."""

    def parse(self, body: dict[str, Any]) -> Any: ...

    def __call__(self, inputs: list[Any]) -> list[Any]: ...

    def render(self, result: Any) -> dict[str, Any]: ...


def load(workload: str, files: Path, threads: int) -> Any:
    """The workload's model loaded from the driver's ``files``, using ``threads`` threads."""
    loaders = {
        "iris": IrisModel,
        "minilm-onnx": OnnxMiniLM,
        "minilm-torch": TorchMiniLM,
        "mobilenet": MobileNet,
        "chat": ChatModel,
    }
    if workload not in loaders:
        raise ValueError(f"unknown workload {workload!r}; choose one of {', '.join(WORKLOADS)}")
    _set_torch_threads(workload, threads)
    return loaders[workload](Path(files), threads)


def _set_torch_threads(workload: str, threads: int) -> None:
    """torch's intra-op pool is per process; only the torch workloads import torch at all
    (importing it for iris would add its start-up time and memory to that peer)."""
    if workload in ("minilm-torch", "mobilenet"):
        import torch

        torch.set_num_threads(threads)


def _field(body: dict[str, Any], name: str) -> Any:
    if not isinstance(body, dict) or name not in body:
        raise ValueError(f"the request body needs the field {name!r}")
    return body[name]


def _texts(body: dict[str, Any]) -> list[str]:
    """OpenAI's embeddings ``input``: one string or a non-empty list of strings."""
    value = _field(body, "input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(text, str) for text in value):
        return value
    raise ValueError("'input' must be a string or a non-empty list of strings")


def _split(flat: list[Any], sizes: list[int]) -> list[list[Any]]:
    """Undo the concatenation of several requests' items into one batch."""
    parts, start = [], 0
    for size in sizes:
        parts.append(flat[start : start + size])
        start += size
    return parts


class IrisModel:
    """A scikit-learn classifier from a skops file: label and class probabilities per row."""

    def __init__(self, files: Path, threads: int) -> None:
        import skops.io as sio

        path = str(files / "iris.skops")
        self.estimator = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        self.features = int(self.estimator.n_features_in_)

    def parse(self, body: dict[str, Any]) -> list[list[float]]:
        rows = _field(body, "instances")
        if not isinstance(rows, list) or not rows or not all(self._is_row(r) for r in rows):
            raise ValueError(
                f"'instances' must be a non-empty list of rows of {self.features} numbers"
            )
        return rows

    def _is_row(self, row: Any) -> bool:
        return (
            isinstance(row, list)
            and len(row) == self.features
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
        )

    def __call__(self, inputs: list[list[list[float]]]) -> list[Any]:
        features = np.array([row for rows in inputs for row in rows], dtype=np.float64)
        labels = np.asarray(self.estimator.predict(features))
        probabilities = np.asarray(self.estimator.predict_proba(features), dtype=np.float32)
        flat = [
            {"label": label, "probabilities": probs}
            for label, probs in zip(labels.tolist(), probabilities.tolist(), strict=True)
        ]
        return _split(flat, [len(rows) for rows in inputs])

    def render(self, result: list[dict[str, Any]]) -> dict[str, Any]:
        return {"predictions": result}


@dataclass
class Embeddings:
    """One request's vectors and its token count (usage)."""

    vectors: np.ndarray
    tokens: int


def _per_request(vectors: np.ndarray, tokens: list[int], sizes: list[int]) -> list[Embeddings]:
    """A batch's vectors and token counts, regrouped by the request they came from."""
    results, start = [], 0
    for size in sizes:
        results.append(Embeddings(vectors[start : start + size], sum(tokens[start : start + size])))
        start += size
    return results


def _render_embeddings(result: Embeddings) -> dict[str, Any]:
    data = [
        {"object": "embedding", "index": index, "embedding": vector}
        for index, vector in enumerate(result.vectors.tolist())
    ]
    usage = {"prompt_tokens": result.tokens, "total_tokens": result.tokens}
    return {"object": "list", "data": data, "model": "minilm", "usage": usage}


class OnnxMiniLM:
    """int8 ONNX MiniLM: batch-longest padding, masked mean pooling, unit length."""

    def __init__(self, files: Path, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        directory = files / "minilm-int8"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(directory / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        # tokenizer.json pads to a fixed 128; pad each batch to its longest input instead.
        recorded = self.tokenizer.padding or {}
        self.tokenizer.enable_padding(
            pad_id=recorded.get("pad_id", 0),
            pad_type_id=recorded.get("pad_type_id", 0),
            pad_token=recorded.get("pad_token", "[PAD]"),
        )
        self.tokenizer.enable_truncation(max_length=MAX_LENGTH)
        self.feeds = [arg.name for arg in self.session.get_inputs()]
        self.hidden = self.session.get_outputs()[0].name

    def parse(self, body: dict[str, Any]) -> list[str]:
        return _texts(body)

    def __call__(self, inputs: list[list[str]]) -> list[Embeddings]:
        encodings = self.tokenizer.encode_batch([text for texts in inputs for text in texts])
        columns = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        (hidden,) = self.session.run([self.hidden], {name: columns[name] for name in self.feeds})
        mask = columns["attention_mask"]
        vectors = _mean_pool(np.asarray(hidden, dtype=np.float32), mask)
        return _per_request(vectors, mask.sum(axis=1).tolist(), [len(texts) for texts in inputs])

    def render(self, result: Embeddings) -> dict[str, Any]:
        return _render_embeddings(result)


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' pooling: the mean of the token states under the mask."""
    weights = mask[:, :, np.newaxis].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    return pooled.astype(np.float32)


class TorchMiniLM:
    """The sentence-transformers MiniLM on torch, as ModelMart's transformers runtime runs it."""

    def __init__(self, files: Path, threads: int) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(files / "minilm"), device="cpu", local_files_only=True)

    def parse(self, body: dict[str, Any]) -> list[str]:
        return _texts(body)

    def __call__(self, inputs: list[list[str]]) -> list[Embeddings]:
        texts = [text for group in inputs for text in group]
        vectors = self.model.encode(
            texts,
            batch_size=len(texts),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        # The model reports no token count; like ModelMart, count whitespace-separated words.
        tokens = [len(text.split()) for text in texts]
        return _per_request(vectors, tokens, [len(group) for group in inputs])

    def render(self, result: Embeddings) -> dict[str, Any]:
        return _render_embeddings(result)


class MobileNet:
    """MobileNetV2 on ImageNet-1k: ModelMart's decoding and preprocessing, softmax top 5.

    ``parse`` decodes the image (so bad input is refused per request, before batching);
    the batch call resizes, crops, normalises and runs the network.
    """

    def __init__(self, files: Path, threads: int) -> None:
        import torch

        directory = files / "mobilenet"
        spec = importlib.util.spec_from_file_location("peer_mobilenet", directory / "mobilenet.py")
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot import {directory / 'mobilenet.py'}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        network = module.MobileNetV2()
        weights = torch.load(directory / "weights.pth", map_location="cpu", weights_only=True)
        network.load_state_dict(weights)
        self.network = network.eval()
        self.labels = json.loads((directory / "classes.json").read_text())

    def parse(self, body: dict[str, Any]) -> np.ndarray:
        text = _field(body, "input")
        if not isinstance(text, str):
            raise ValueError("'input' must be a base64-encoded image")
        return _decode_image(_decode_base64(text))

    def __call__(self, inputs: list[np.ndarray]) -> list[list[dict[str, Any]]]:
        import torch

        batch = torch.stack([_preprocess(pixels) for pixels in inputs])
        with torch.inference_mode():
            probabilities = self.network(batch).softmax(dim=-1)
        top = probabilities.topk(TOP_K, dim=-1)
        return [
            [
                {"label": self.labels[index], "class_id": index, "score": score}
                for index, score in zip(indices, scores, strict=True)
            ]
            for indices, scores in zip(top.indices.tolist(), top.values.tolist(), strict=True)
        ]

    def render(self, result: list[dict[str, Any]]) -> dict[str, Any]:
        return {"model": "mobilenet", "results": [{"labels": result}], "usage": {"images": 1}}


def _decode_base64(text: str) -> bytes:
    payload = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"'input' is not valid base64 ({exc})") from exc


def _decode_image(data: bytes) -> np.ndarray:
    """RGB pixels, upright per EXIF, exactly as ModelMart's image decoder returns them."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ValueError("the image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
                if image.size[0] * image.size[1] > MAX_PIXELS:
                    raise ValueError(f"the image has more than {MAX_PIXELS} pixels")
                return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise ValueError(f"the image could not be decoded ({exc})") from exc


def _preprocess(pixels: np.ndarray) -> Any:
    """Short side to 256 (bilinear), centre 224 crop, (x / 255 - mean) / std, CHW."""
    import torch
    from PIL import Image

    image = Image.fromarray(pixels)
    scale = 256 / min(image.size)
    width, height = (max(224, round(side * scale)) for side in image.size)
    image = image.resize((width, height), Image.Resampling.BILINEAR)
    left, top = (width - 224) // 2, (height - 224) // 2
    image = image.crop((left, top, left + 224, top + 224))
    normalised = (np.asarray(image, dtype=np.float32) / 255 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(normalised.transpose(2, 0, 1).copy())


@dataclass(frozen=True)
class ChatRequest:
    """What one chat completion needs from its body."""

    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float


class ChatModel:
    """SmolLM2 on llama.cpp, streaming OpenAI chat.completion.chunk events.

    One llama.cpp context serves one generation at a time, so a lock is held for the whole
    stream; concurrency comes from the engine's copies (workers/replicas), as in ModelMart.
    """

    def __init__(self, files: Path, threads: int) -> None:
        import llama_cpp

        # n_ctx=0: the context the model was trained with (8,192 tokens), as ModelMart's
        # catalogue entry serves it, so every engine holds a KV cache of the same size.
        self.llm = llama_cpp.Llama(
            model_path=str(files / "smollm2.gguf"), n_ctx=0, n_threads=threads, verbose=False
        )
        self.lock = threading.Lock()

    def parse(self, body: dict[str, Any]) -> ChatRequest:
        return parse_chat(body)

    def stream(self, request: ChatRequest) -> Iterator[bytes]:
        """SSE lines as llama.cpp produces each token, then ``data: [DONE]``. The lock is
        released when the stream ends or is closed (a client that hangs up)."""
        with self.lock:
            chunks = self.llm.create_chat_completion(
                messages=request.messages,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                stream=True,
            )
            for chunk in chunks:
                chunk["model"] = "smollm2"  # llama.cpp names the file; clients sent the name
                yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"


def parse_chat(body: dict[str, Any]) -> ChatRequest:
    """A chat body checked without the model, so an engine that streams from another process
    can refuse bad input with a 400 before the stream (and its 200) has started."""
    messages = _field(body, "messages")
    if not isinstance(messages, list) or not messages or not all(map(_is_message, messages)):
        raise ValueError("'messages' must be a non-empty list of {role, content} strings")
    max_tokens = body.get("max_tokens", 64)
    temperature = body.get("temperature", 0)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError("'max_tokens' must be a positive integer")
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise ValueError("'temperature' must be a number")
    clean = [{"role": m["role"], "content": m["content"]} for m in messages]
    return ChatRequest(clean, max_tokens, float(temperature))


def _is_message(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and isinstance(message.get("role"), str)
        and isinstance(message.get("content"), str)
    )
