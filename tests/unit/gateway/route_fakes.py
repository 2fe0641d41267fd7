"""A gateway app with fake endpoints and a fake registry, for route tests without models.

Deployments are the platform's unless a test says otherwise; with accounts off (the default)
every request comes from :meth:`Principal.single_user`. :func:`app_with` takes an
``accounts`` fake (keys -> principals) to turn accounts on, and a ``billing`` fake to meter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace

import httpx
import numpy as np
from fastapi import FastAPI

from modelmart.arrays import Batch
from modelmart.billing.ledger import Ledger, UsageEntry
from modelmart.billing.retention import RetainedInput
from modelmart.config import Settings
from modelmart.energy.meters import EnergySetup
from modelmart.errors import ContextLengthExceeded, ModelNotFound, Unauthenticated, WorkerCrashed
from modelmart.gateway.errors import install_error_handlers
from modelmart.gateway.pii import PiiService
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.routes import inference, openai, tasks
from modelmart.runtimes.base import LoadRequest
from modelmart.runtimes.generation import (
    CHAT_SIGNATURE,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
)
from modelmart.schemas.pii import PiiPolicy
from modelmart.schemas.registry import ModelInfo
from modelmart.schemas.roles import Role
from modelmart.serving.batcher import ClientGone
from modelmart.serving.placement import (
    Endpoint,
    EndpointSpec,
    EndpointStatus,
    Prediction,
    ServedVersion,
)
from modelmart.serving.router import Router
from modelmart.tenancy import CATALOGUE_OWNER, DeploymentAccess, Principal
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec
from tests.unit.privacy.fakes import PatternDetector

CREATED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TEXT = TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,))


def text_signature(*outputs: tuple[str, Datatype, tuple[int, ...]]) -> Signature:
    return Signature(
        inputs=(TEXT,),
        outputs=tuple(TensorSpec(name=n, datatype=d, shape=s) for n, d, s in outputs),
    )


FAKE_ENERGY_UJ = 2_500
"""What every fake prediction and generation says it used: 0.0025 J."""


def energy(microjoules: int = FAKE_ENERGY_UJ) -> dict[str, object]:
    """The energy fields of a usage, as the routes add them (estimated, no grid intensity)."""
    return {"energy_joules": microjoules / 1_000_000, "energy_method": "cpu-time-estimate"}


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

    async def predict(self, inputs: Batch, gone: ClientGone | None = None) -> Prediction:
        self.batches.append(inputs)
        texts = next(iter(inputs.values())).tolist()
        target = self.spec.target
        return Prediction(self.run(texts), target.model, target.version, FAKE_ENERGY_UJ)

    async def apply(self, spec: EndpointSpec) -> None:
        self.spec = spec

    def status(self) -> EndpointStatus:
        return EndpointStatus(1, 0, self.spec.target.version, 0)

    async def close(self) -> None:
        return None


class FakeChat(Endpoint):
    """Answers every conversation with ``pieces``; ``fail_after`` raises mid-answer."""

    generative = True

    def __init__(self, pieces: list[str], fail_after: int | None = None) -> None:
        load = LoadRequest(Path("/nonexistent"), ArtifactFormat.GGUF)
        self.spec = EndpointSpec("chat", ServedVersion("smol", 4, RuntimeName.LLAMA_CPP, load))
        self.signature = CHAT_SIGNATURE
        self.pieces = pieces
        self.fail_after = fail_after
        self.requests: list[GenerationRequest] = []
        self.closed = 0
        self.yielded = 0

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        self.requests.append(request)
        if request.messages and request.messages[-1].content == "too long":
            raise ContextLengthExceeded("too long for 64 tokens", details={"param": "messages"})
        try:
            for index, piece in enumerate(self.pieces):
                if index == self.fail_after:
                    raise WorkerCrashed("the worker died")
                self.yielded += 1
                yield TextDelta(piece)
                await asyncio.sleep(0)  # as a real endpoint waits for its next token
            yield GenerationDone(7, len(self.pieces), "length", energy_uj=FAKE_ENERGY_UJ)
        finally:
            self.closed += 1

    async def predict(self, inputs: Batch, gone: ClientGone | None = None) -> Prediction:
        raise NotImplementedError

    async def apply(self, spec: EndpointSpec) -> None:
        self.spec = spec

    def status(self) -> EndpointStatus:
        return EndpointStatus(1, 0, 4, 0)

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


def serve(router: Router, endpoints: Mapping[str, Endpoint], owner: str = "") -> Router:
    """Add ``endpoints`` (by stored name) to ``router`` as ``owner``'s deployments of its own
    models; the platform's ("", the default) serve the catalogue's models."""
    for name, endpoint in endpoints.items():
        model = endpoint.spec.target.model
        router.add(name, endpoint, DeploymentAccess(owner, model, owner or CATALOGUE_OWNER))
    return router


class FakeAccounts:
    """API keys and the callers they stand for."""

    def __init__(self, keys: Mapping[str, Principal]) -> None:
        self.keys = dict(keys)

    async def authenticate(self, raw: str) -> Principal:
        if raw not in self.keys:
            raise Unauthenticated("the API key is not valid; check it or create a new one")
        return self.keys[raw]


def tenant(
    slug: str,
    *,
    org_id: int = 1,
    key_id: int = 1,
    models: Iterable[str] | None = None,
    role: Role = Role.DEVELOPER,
) -> Principal:
    """A customer organisation's caller; ``models`` is its key's model scope."""
    return Principal(
        org_id=org_id,
        org_slug=slug,
        key_id=key_id,
        role=role,
        is_operator=False,
        models=frozenset(models) if models is not None else None,
        published=frozenset(),
    )


class FakeRetention:
    def __init__(self) -> None:
        self.kept: list[RetainedInput] = []

    def keep(self, item: RetainedInput) -> None:
        self.kept.append(item)


class FakeBilling:
    """Admits every request (or raises ``refusal``); settles into a real ledger, after
    ``gate`` opens when a test holds it shut."""

    def __init__(self, ledger: Ledger, *, shares_data: bool = False) -> None:
        self.ledger = ledger
        self.shares_data = shares_data
        self.retention = FakeRetention()
        self.refusal: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.settling = asyncio.Event()
        self.settled: list[UsageEntry] = []

    async def admit(self, principal: Principal) -> SimpleNamespace:
        if self.refusal is not None:
            raise self.refusal
        return SimpleNamespace(shares_data=self.shares_data)

    async def settle(self, principal: Principal, entry: UsageEntry) -> None:
        self.settling.set()
        if self.gate is not None:
            await self.gate.wait()
        await self.ledger.record(entry)
        self.settled.append(entry)


def fake_pii(policies: Mapping[str, PiiPolicy] | None = None) -> PiiService:
    """PII policies by deployment name (none set by default), found by pattern."""
    detector = PatternDetector()
    chosen = dict(policies or {})
    return PiiService(lambda: detector, chosen.get)


def fake_services(
    router: Router,
    registry: object = None,
    *,
    accounts: FakeAccounts | None = None,
    billing: object = None,
    pii: PiiService | None = None,
) -> SimpleNamespace:
    """What the routes read of the services; accounts are on when ``accounts`` is given."""
    return SimpleNamespace(
        pii=pii or fake_pii(),
        settings=SimpleNamespace(
            auth_enabled=accounts is not None,
            max_request_pixels=Settings.model_fields["max_request_pixels"].default,
        ),
        router=router,
        registry=registry,
        accounts=accounts,
        billing=billing,
        energy=EnergySetup(),
    )


def app_with(
    endpoints: Mapping[str, Endpoint],
    *,
    modules: Iterable[ModuleType] = (inference, openai, tasks),
    router: Router | None = None,
    accounts: FakeAccounts | None = None,
    billing: object = None,
    pii: PiiService | None = None,
) -> FastAPI:
    """An app with ``modules``' routes; ``endpoints`` are added to ``router`` as the
    platform's deployments."""
    router = serve(router or Router(), endpoints)
    registry = FakeRegistry([e.spec.target.model for e in endpoints.values()])
    app = FastAPI(default_response_class=FastJSONResponse)
    install_error_handlers(app)
    for module in modules:
        app.include_router(module.router)
    app.state.services = fake_services(
        router, registry, accounts=accounts, billing=billing, pii=pii
    )
    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://modelmart")
