"""Flows for serving: deployments, predictions and the server's health."""

from __future__ import annotations

from typing import Any, TypedDict

import httpx
import orjson

from modelmart.client.core import (
    Call,
    Flow,
    as_model,
    expect_no_content,
    load_json,
    parse,
    parse_list,
    raise_for_error,
    segment,
    unexpected_answer,
    validated,
)
from modelmart.errors import ValidationFailed
from modelmart.schemas.deployments import (
    DeploymentRequest,
    DeploymentUpdate,
    DeploymentView,
    Isolation,
)
from modelmart.schemas.explanations import Explanation
from modelmart.schemas.health import Health, Readiness

DEPLOYMENTS = "/v1/deployments"


class DeployOptions(TypedDict, total=False):
    """How to serve a model; see :class:`~modelmart.schemas.deployments.DeploymentRequest` for
    the defaults (one process-isolated instance, batches of up to 32 gathered for 5 ms)."""

    version: int | None
    alias: str | None
    name: str | None
    instances: int
    max_batch_size: int
    max_delay_ms: float
    timeout_s: float | None
    isolation: Isolation | str
    min_instances: int | None
    max_instances: int | None
    target_ongoing_requests: float | None
    pii_policy: str
    max_queued_requests: int | None
    cpus: list[int] | None


class DeploymentChanges(TypedDict, total=False):
    """What :meth:`update_deployment` may change; setting ``version`` drops the alias and the
    other way round."""

    instances: int
    max_batch_size: int
    max_delay_ms: float
    timeout_s: float
    isolation: Isolation | str
    version: int
    alias: str
    min_instances: int
    max_instances: int
    target_ongoing_requests: float
    pii_policy: str
    max_queued_requests: int | None  # None: the server's limit again
    cpus: list[int]  # []: any CPU again


def deploy(model: str, wait: bool, options: DeployOptions) -> Flow[DeploymentView]:
    """Serve ``model``. With ``wait`` the server answers once every instance has loaded (or
    with the load error), so the read timeout is lifted; otherwise at once, ``loading``."""
    request = validated(DeploymentRequest, "deployment request", model=model, **options)
    response = yield Call(
        "POST",
        DEPLOYMENTS,
        params={"wait": "true" if wait else "false"},
        json=request.model_dump(mode="json", exclude_none=True),
        waits_on_server=wait,
    )
    return parse(response, DeploymentView)


def list_deployments() -> Flow[list[DeploymentView]]:
    response = yield Call("GET", DEPLOYMENTS)
    return parse_list(response, "deployments", DeploymentView)


def get_deployment(name: str) -> Flow[DeploymentView]:
    response = yield Call("GET", f"{DEPLOYMENTS}/{segment(name)}")
    return parse(response, DeploymentView)


def update_deployment(name: str, changes: DeploymentChanges) -> Flow[DeploymentView]:
    """Apply ``changes`` while serving; the server answers once new instances have loaded."""
    update = validated(DeploymentUpdate, "deployment update", **changes)
    response = yield Call(
        "PATCH",
        f"{DEPLOYMENTS}/{segment(name)}",
        json=update.model_dump(mode="json", exclude_unset=True),
        waits_on_server=True,
    )
    return parse(response, DeploymentView)


def undeploy(name: str) -> Flow[None]:
    response = yield Call("DELETE", f"{DEPLOYMENTS}/{segment(name)}")
    expect_no_content(response)


def predict(name: str, instances: Any = None, inputs: Any = None) -> Flow[list[Any]]:
    """The predictions of deployment ``name``: one per instance (row form), or per row of the
    ``inputs`` columns (``{input_name: values}``). NumPy arrays may be passed as they are."""
    body = _examples(instances, inputs)
    response = yield Call("POST", f"/v1/models/{segment(name)}:predict", json=body)
    answer = load_json(response)
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list):
        raise unexpected_answer(response, "has no 'predictions' list")
    return predictions


def explain(name: str, instances: Any = None, inputs: Any = None) -> Flow[Explanation]:
    """The predictions of deployment ``name`` with each instance's attributions."""
    body = _examples(instances, inputs)
    response = yield Call("POST", f"/v1/models/{segment(name)}:explain", json=body)
    return parse(response, Explanation)


def _examples(instances: Any, inputs: Any) -> dict[str, Any]:
    if (instances is None) == (inputs is None):
        raise ValidationFailed(
            "give the examples either as instances (one entry per example) or as inputs "
            "({input name: values}), not both and not neither"
        )
    return {"instances": instances} if inputs is None else {"inputs": inputs}


def health() -> Flow[Health]:
    response = yield Call("GET", "/healthz")
    return parse(response, Health)


def ready() -> Flow[Readiness]:
    """Whether every deployment has finished loading. The server answers 503 with the usual
    body while any is still loading, so that status is an answer here, not an error."""
    response = yield Call("GET", "/readyz")
    body = _json_object(response.content)
    loading = response.status_code == httpx.codes.SERVICE_UNAVAILABLE and (
        body is not None and "deployments" in body
    )
    if not loading:
        raise_for_error(response)
    if body is None:
        raise unexpected_answer(response, "is not a JSON object")
    return as_model(response, Readiness, {**body, "ready": not loading})


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None
