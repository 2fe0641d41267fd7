"""``POST /v1/models/{name}:explain`` with fake deployments and a fake registry: what it
answers, what it bills, what it refuses before running anything, and how it sends probes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from modelmart.arrays import Batch
from modelmart.billing.ledger import UsageEntry
from modelmart.energy.meters import EnergySetup
from modelmart.explain.results import Explainer, InstanceExplanation, MethodInfo
from modelmart.gateway.errors import install_error_handlers
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.routes import explain, inference
from modelmart.runtimes.base import LoadRequest
from modelmart.schemas.pii import PiiPolicy
from modelmart.schemas.registry import VersionInfo
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
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, Task, TensorSpec
from tests.unit.explain.fakes import LinearRegressor, WordClassifier
from tests.unit.gateway.route_fakes import FakeAccounts, energy, fake_pii, tenant

TABLE = Signature(
    inputs=(TensorSpec(name="input", datatype=Datatype.FP32, shape=(-1, 3)),),
    outputs=(TensorSpec(name="prediction", datatype=Datatype.FP32, shape=(-1,)),),
)
TEXT = Signature(
    inputs=(TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),),
    outputs=(TensorSpec(name="probabilities", datatype=Datatype.FP32, shape=(-1, 2)),),
)
TOP_ONE = Signature(
    inputs=TEXT.inputs,
    outputs=(TensorSpec(name="probability", datatype=Datatype.FP32, shape=(-1,)),),
)
BACKGROUND = {"rows": [[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]], "weights": [0.5, 0.5]}


PROBE_ENERGY_UJ = 1_000
"""What every batch the fake runs reports using."""


class ModelEndpoint(Endpoint):
    """Answers with ``model(batch)``; remembers the size of every batch it ran."""

    def __init__(self, name: str, signature: Signature, model: Callable[[Batch], Batch]) -> None:
        load = LoadRequest(Path("/nonexistent"), ArtifactFormat.ONNX)
        self.spec = EndpointSpec(name=name, target=ServedVersion(name, 1, RuntimeName.ONNX, load))
        self.signature = signature
        self.model = model
        self.sizes: list[int] = []

    async def predict(self, inputs: Batch, gone: ClientGone | None = None) -> Prediction:
        self.sizes.append(len(next(iter(inputs.values()))))
        return Prediction(self.model(inputs), self.spec.target.model, 1, PROBE_ENERGY_UJ)

    async def apply(self, spec: EndpointSpec) -> None:
        self.spec = spec

    def status(self) -> EndpointStatus:
        return EndpointStatus(1, 0, 1, 0)

    async def close(self) -> None:
        return None


def version(name: str, signature: Signature, task: Task, parameters: dict[str, Any]) -> VersionInfo:
    return VersionInfo(
        model=name,
        version=1,
        format=ArtifactFormat.ONNX,
        runtime=RuntimeName.ONNX,
        task=task,
        signature=signature,
        parameters=parameters,
        metrics={},
        lineage={},
        artifact_digest="0" * 64,
        artifact_size=1,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


class FakeRegistry:
    def __init__(self, versions: dict[str, VersionInfo]) -> None:
        self.versions = versions

    def get_version(self, model: str, ref: int) -> VersionInfo:
        return self.versions[model]


@pytest.fixture
def endpoints() -> dict[str, ModelEndpoint]:
    def text(batch: Batch) -> Batch:
        return WordClassifier()({"text": batch["text"]})

    return {
        "linear": ModelEndpoint("linear", TABLE, LinearRegressor(np.array([1.0, -2.0, 0.5]))),
        "reviews": ModelEndpoint("reviews", TEXT, text),
        "langid": ModelEndpoint(
            "langid", TOP_ONE, lambda b: {"probability": np.ones(len(b["text"]))}
        ),
    }


@pytest.fixture
def app(endpoints: dict[str, ModelEndpoint]) -> FastAPI:
    router = Router()
    for name, endpoint in endpoints.items():
        router.add(name, endpoint, DeploymentAccess("", name, CATALOGUE_OWNER))
    registry = FakeRegistry(
        {
            "linear": version(
                "linear",
                TABLE,
                Task.REGRESSION,
                {"features": ["a", "b", "c"], "explanation": {"background": BACKGROUND}},
            ),
            "reviews": version(
                "reviews", TEXT, Task.TEXT_CLASSIFICATION, {"labels": ["neg", "pos"]}
            ),
            "langid": version("langid", TOP_ONE, Task.TEXT_CLASSIFICATION, {}),
        }
    )
    settings = SimpleNamespace(
        auth_enabled=False,
        explain_max_instances=2,
        explain_max_evaluations=64,
        explain_probe_batch_rows=5,
    )
    built = FastAPI(default_response_class=FastJSONResponse)
    install_error_handlers(built)
    built.include_router(explain.router)
    built.include_router(inference.router)
    built.state.services = SimpleNamespace(
        settings=settings, router=router, registry=registry, energy=EnergySetup(), pii=fake_pii()
    )
    return built


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://modelmart") as client:
        yield client


async def test_a_tabular_explanation_adds_up_and_is_billed_per_instance(
    http: httpx.AsyncClient, endpoints: dict[str, ModelEndpoint]
) -> None:
    answer = await http.post("/v1/models/linear:explain", json={"instances": [[1.0, 1.0, 1.0]]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == [pytest.approx(-0.5)]
    assert body["method"]["name"] == "kernel-shap"
    # Billed per instance; the energy is every batch's, the prediction's and the probes'.
    assert body["usage"] == {"items": 1, "explanations": 1, **energy(5 * PROBE_ENERGY_UJ)}
    (item,) = body["explanations"]
    assert item["features"] == ["a", "b", "c"]
    # Exact against the background mean (1, 1, 1): the instance is at it, so nothing moves.
    assert item["attributions"] == pytest.approx([0.0, 0.0, 0.0])
    # The prediction, then (6 coalitions + empty + full) x 2 rows = 16 probes, 5 at a time.
    assert endpoints["linear"].sizes == [1, 5, 5, 5, 1]


async def test_a_text_explanation_names_the_tokens(http: httpx.AsyncClient) -> None:
    answer = await http.post("/v1/models/reviews:explain", json={"instances": ["so good today"]})
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["explanations"]
    assert item["target"] == "pos"
    assert item["top_tokens"] == ["good"]


async def test_a_redact_input_policy_explains_the_redacted_text(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    """The explained tokens are those the model saw: never the e-mail address it was kept
    from; the PII report comes beside the explanation, as on :predict."""
    app.state.services.pii = fake_pii({"reviews": PiiPolicy.REDACT_INPUT})
    body = {"instances": ["so good, mail jane.doe@example.com"]}
    answer = await http.post("/v1/models/reviews:explain", json=body)
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["explanations"]
    assert not any("jane.doe" in token for token in item["tokens"])
    assert answer.json()["pii"]["policy"] == "redact-input"


async def test_an_unexplainable_model_is_refused_before_it_runs(
    http: httpx.AsyncClient, endpoints: dict[str, ModelEndpoint]
) -> None:
    answer = await http.post("/v1/models/langid:explain", json={"instances": ["bonjour"]})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "not_explainable"
    assert "class scores" in error["message"]
    assert endpoints["langid"].sizes == []


async def test_too_many_instances_and_unknown_deployments_are_refused(
    http: httpx.AsyncClient, endpoints: dict[str, ModelEndpoint]
) -> None:
    many = await http.post("/v1/models/linear:explain", json={"instances": [[0, 0, 0]] * 3})
    assert many.status_code == 400
    assert many.json()["error"]["details"] == {"instances": 3, "limit": 2}
    missing = await http.post("/v1/models/nope:explain", json={"instances": [[0, 0, 0]]})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "deployment_not_found"
    assert endpoints["linear"].sizes == []


class BlockingExplainer:
    """Holds its worker thread inside ``explain`` until released."""

    method = MethodInfo("blocking")

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def probes(self, instance: Batch, outputs: Batch) -> Batch | None:
        return None

    def explain(self, instance: Batch, outputs: Batch, probes: Batch | None) -> InstanceExplanation:
        self.entered.set()
        self.release.wait(timeout=10)
        return InstanceExplanation("prediction", np.zeros(3), 0.0, 0.0)


class FixedExplainers(explain.ExplainerCache):
    def __init__(self, explainer: Explainer) -> None:
        self.explainer = explainer

    async def get(self, endpoint: Endpoint) -> Explainer:
        return self.explainer


async def test_other_requests_are_served_while_an_explanation_computes(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    blocking = BlockingExplainer()
    app.state.explainers = FixedExplainers(blocking)
    body = {"instances": [[1.0, 2.0, 3.0]]}
    explaining = asyncio.create_task(http.post("/v1/models/linear:explain", json=body))
    try:
        assert await asyncio.to_thread(blocking.entered.wait, 5)
        predicted = await asyncio.wait_for(http.post("/v1/models/linear:predict", json=body), 5)
        assert predicted.status_code == 200
        assert not explaining.done()
    finally:
        blocking.release.set()
    answer = await asyncio.wait_for(explaining, 5)
    assert answer.status_code == 200
    assert answer.json()["method"] == {"name": "blocking", "parameters": {}}


class RecordingBilling:
    """Admits every request and keeps what would be settled into the ledger."""

    def __init__(self) -> None:
        self.settled: list[UsageEntry] = []

    async def admit(self, principal: Principal) -> SimpleNamespace:
        return SimpleNamespace(shares_data=False)

    async def settle(self, principal: Principal, entry: UsageEntry) -> None:
        self.settled.append(entry)


async def test_with_accounts_on_the_ledger_gets_an_explanations_unit(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    billing = RecordingBilling()
    services = app.state.services
    services.settings.auth_enabled = True
    services.accounts = FakeAccounts({"acme-key": tenant("acme", org_id=7, key_id=70)})
    services.billing = billing
    headers = {"Authorization": "Bearer acme-key"}
    body = {"instances": [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]}
    answer = await http.post("/v1/models/linear:explain", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    (entry,) = billing.settled
    assert (entry.org_id, entry.model, entry.version) == (7, "linear", 1)
    assert entry.units == {"requests": 1.0, "items": 2.0, "explanations": 2.0}
    text = {"instances": ["a"]}
    refused = await http.post("/v1/models/langid:explain", json=text, headers=headers)
    assert refused.status_code == 422
    assert len(billing.settled) == 1  # a refusal is not billed
