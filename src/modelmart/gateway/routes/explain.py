"""``POST /v1/models/{name}:explain`` — the predictions, with each instance's attributions.

Same body as ``:predict``, same permission, tenancy lookup, admission and metering; billed in
its own unit, ``explanations`` (one per instance), beside ``items``. A model no method can
explain answers ``422 not_explainable`` with the reason, before anything runs.

Where it runs: the probes (perturbed inputs) go through the deployment's ordinary ``predict``,
in the instance's worker, queued and timed like any request; the attribution arithmetic runs
in the gateway's worker threads. The event loop only awaits, so other requests keep flowing,
and the worker protocol stays the same for every runtime and placement.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from modelmart.arrays import Batch
from modelmart.errors import InvalidRequest
from modelmart.explain.explainers import ExplainLimits, build_explainer
from modelmart.explain.results import Explainer
from modelmart.explain.runner import explain_batch
from modelmart.gateway.codecs import v1
from modelmart.gateway.energy import energy_usage
from modelmart.gateway.images import tensor_inputs
from modelmart.gateway.metering import Caller, MeteredRoute
from modelmart.gateway.pii import guard_for, guarded_inputs, report_fields
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.routes.inference import _BODY_DOC, parse_json, require_json
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.usage import batch_rows, report_usage
from modelmart.serving.placement import Endpoint, Prediction
from modelmart.serving.validation import conform_batch

router = APIRouter(tags=["inference"], route_class=MeteredRoute)
ServicesDep = Annotated[Services, Depends(get_services)]

EXPLAINERS_KEPT = 16
"""Explainers kept built, by served version (a tree model's is a loaded estimator)."""


class ExplainerCache:
    """Explainers by (model, version, signature), built off the event loop on first use."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._built: OrderedDict[tuple[str, int, str], Explainer] = OrderedDict()

    async def get(self, endpoint: Endpoint) -> Explainer:
        target, signature = endpoint.spec.target, endpoint.signature
        key = (target.model, target.version, signature.model_dump_json())
        found = self._built.get(key)
        if found is None:
            found = await asyncio.to_thread(self._build, endpoint)
            self._built[key] = found
            while len(self._built) > EXPLAINERS_KEPT:
                self._built.popitem(last=False)
        self._built.move_to_end(key)
        return found

    def _build(self, endpoint: Endpoint) -> Explainer:
        registry, settings = self._services.registry, self._services.settings
        target, signature = endpoint.spec.target, endpoint.signature
        version = registry.get_version(target.model, target.version)

        def artifact() -> Path:
            return registry.load_request(version).path

        def decode_rows(rows: list[Any]) -> Batch:
            return conform_batch(signature, v1.decode_request({"instances": rows}, signature))

        limits = ExplainLimits(
            settings.explain_max_instances,
            settings.explain_max_evaluations,
            settings.explain_probe_batch_rows,
        )
        return build_explainer(version, signature, limits, artifact, decode_rows)


def explainers(request: Request, services: Services) -> ExplainerCache:
    """The app's explainer cache, made on first use (it lives as long as the app)."""
    cache = getattr(request.app.state, "explainers", None)
    if not isinstance(cache, ExplainerCache):
        cache = ExplainerCache(services)
        request.app.state.explainers = cache
    return cache


@router.post("/v1/models/{name}:explain", openapi_extra=_BODY_DOC)
async def explain(
    name: str, request: Request, principal: Caller, services: ServicesDep
) -> Response:
    """Predict the instances with the deployment called ``name`` and explain each one."""
    require_json(request)
    endpoint = services.router.endpoint(principal, name)
    endpoint.admit()  # a full queue refuses before the body is read and parsed
    batch = v1.decode_request(parse_json(await request.body()), endpoint.signature)
    rows = batch_rows(batch)
    limit = services.settings.explain_max_instances
    if rows > limit:
        raise InvalidRequest(
            f"{rows} instances were sent to explain; send at most {limit} per request",
            details={"instances": rows, "limit": limit},
        )
    explainer = await explainers(request, services).get(endpoint)
    served: list[Prediction] = []

    async def predict(inputs: Batch) -> Batch:
        prediction = await endpoint.predict(inputs, request.is_disconnected)
        served.append(prediction)
        return prediction.outputs

    # The caller's PII policy applies as on :predict: the explained texts are those the model
    # may see (under redact-input, with the entities replaced).
    guard = guard_for(request, services.pii, principal, endpoint)
    guarded = await guarded_inputs(guard, endpoint.signature, batch)
    conformed = await tensor_inputs(request, endpoint.signature, guarded)
    explained = await explain_batch(
        explainer, conformed, predict, services.settings.explain_probe_batch_rows
    )
    first = served[0]
    # Every probe batch the explanation ran is its energy, not only the first prediction's.
    energy_uj = sum(probe.energy_uj for probe in served)
    prediction = Prediction(explained.outputs, first.model, first.version, energy_uj)
    usage = {"items": rows, "explanations": rows, **energy_usage(request, energy_uj)}
    report_usage(request, first.model, first.version, usage)
    return FastJSONResponse(
        {
            **v1.encode_response(prediction),
            "explanations": [item.to_json() for item in explained.explanations],
            "method": explainer.method.to_json(),
            "usage": usage,
            **report_fields(guard),
        }
    )
