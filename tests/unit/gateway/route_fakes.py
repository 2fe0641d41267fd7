"""A gateway app with fake endpoints and a fake registry, for route tests without models."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
from fastapi import FastAPI

from modelmart.arrays import Batch
from modelmart.errors import ModelNotFound
from modelmart.gateway.errors import install_error_handlers
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.routes import inference, openai, tasks
from modelmart.gateway.services import Services
from modelmart.runtimes.base import LoadRequest
from modelmart.schemas.registry import ModelInfo
from modelmart.serving.placement import (
    Endpoint,
    EndpointSpec,
    EndpointStatus,
    Prediction,
    ServedVersion,
)
from modelmart.serving.router import Router
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

CREATED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TEXT = TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,))


def text_signature(*outputs: tuple[str, Datatype, tuple[int, ...]]) -> Signature:
    return Signature(
        inputs=(TEXT,),
        outputs=tuple(TensorSpec(name=n, datatype=d, shape=s) for n, d, s in outputs),
    )


class FakeEndpoint(Endpoint):
    """Answers with ``run(texts)``; remembers every batch it was given."""

    def __init__(
        self,
        name: str,
        signature: Signature,
        run: Callable[[list[str]], Batch],
        model: str | None = None,
    ) -> None:
        load = LoadRequest(Path("/nonexistent"), ArtifactFormat.ONNX)
        target = ServedVersion(model or name, 3, RuntimeName.ONNX, load)
        self.spec = EndpointSpec(name=name, target=target)
        self.signature = signature
        self.run = run
        self.batches: list[Batch] = []

    async def predict(self, inputs: Batch) -> Prediction:
        self.batches.append(inputs)
        texts = next(iter(inputs.values())).tolist()
        return Prediction(self.run(texts), self.spec.target.model, self.spec.target.version)

    async def apply(self, spec: EndpointSpec) -> None:
        self.spec = spec

    def status(self) -> EndpointStatus:
        return EndpointStatus(1, 0, self.spec.target.version, 0)

    async def close(self) -> None:
        return None


def embed(texts: list[str]) -> Batch:
    """Vectors [len, 0.5, -1] per text, in float32, and two tokens per text."""
    vectors = np.array([[len(t), 0.5, -1.0] for t in texts], dtype=np.float32)
    return {"embedding": vectors, "tokens": np.full(len(texts), 2, dtype=np.int64)}


def sentiment(texts: list[str]) -> Batch:
    positive = np.array(["good" in t for t in texts])
    return {
        "label": np.array(["positive" if p else "neutral" for p in positive], dtype=object),
        "compound": np.where(positive, 0.4404, 0.0).astype(np.float32),
        "scores": np.array([[0.0, 0.5, 0.5] if p else [0.0, 1.0, 0.0] for p in positive], "f4"),
    }


def language(texts: list[str]) -> Batch:
    codes = [b"fr" if "est" in t else b"en" for t in texts]  # workers may return bytes
    return {
        "language": np.array(codes, dtype=object),
        "probability": np.full(len(texts), 0.875, dtype=np.float32),
    }


EMBEDDER = text_signature(("embedding", Datatype.FP32, (-1, 3)), ("tokens", Datatype.INT64, (-1,)))
SENTIMENT = text_signature(
    ("label", Datatype.BYTES, (-1,)),
    ("compound", Datatype.FP32, (-1,)),
    ("scores", Datatype.FP32, (-1, 3)),
)
LANGUAGE = text_signature(
    ("language", Datatype.BYTES, (-1,)), ("probability", Datatype.FP32, (-1,))
)
TABULAR = Signature(
    inputs=(TensorSpec(name="input", datatype=Datatype.FP64, shape=(-1, 4)),),
    outputs=(TensorSpec(name="label", datatype=Datatype.INT64, shape=(-1,)),),
)


class FakeRegistry:
    def __init__(self, names: list[str]) -> None:
        self.models = {
            name: ModelInfo(
                name=name,
                task="custom",
                description="",
                owner="",
                created_at=CREATED,
                latest_version=3,
                aliases={},
            )
            for name in names
        }

    def list_models(self) -> list[ModelInfo]:
        return list(self.models.values())

    def get_model(self, name: str) -> ModelInfo:
        if name not in self.models:
            raise ModelNotFound(f"no model {name!r}")
        return self.models[name]


def fake_endpoints() -> dict[str, FakeEndpoint]:
    def tabular(texts: list[str]) -> Batch:
        return {"label": np.zeros(len(texts), dtype=np.int64)}

    return {
        "embedder": FakeEndpoint("embedder", EMBEDDER, embed),
        "vader-sentiment": FakeEndpoint("vader-sentiment", SENTIMENT, sentiment),
        "langid": FakeEndpoint("langid", LANGUAGE, language),
        "iris": FakeEndpoint("iris", TABULAR, tabular),
    }


def app_with(endpoints: dict[str, FakeEndpoint]) -> FastAPI:
    router = Router()
    for name, endpoint in endpoints.items():
        router.add(name, endpoint)
    registry = FakeRegistry([e.spec.target.model for e in endpoints.values()])
    app = FastAPI(default_response_class=FastJSONResponse)
    install_error_handlers(app)
    for module in (inference, openai, tasks):
        app.include_router(module.router)
    app.state.services = Services(
        settings=cast(Any, None),
        registry=cast(Any, registry),
        deployments=cast(Any, None),
        router=router,
        metrics=cast(Any, None),
        accounts=cast(Any, None),
        billing=cast(Any, None),
        audit=cast(Any, None),
    )
    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://modelmart")
