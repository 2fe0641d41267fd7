"""Text in, named outputs out: reading texts from a request, finding a deployment that can
take them, and metering them. Shared by the OpenAI-compatible routes and the task routes.

A deployment can do a text task when its signature has exactly one input, a 1-D ``BYTES``
tensor, and returns the outputs the task reads (``embedding`` for embeddings, ``label``,
``compound`` and ``scores`` for sentiment, ...).

Every route finds its deployment with :func:`model_endpoint`, which applies the tenancy rule
(:meth:`~modelmart.serving.router.Router.endpoint`): a deployment the caller may not use is
missing to it, and what a 400 suggests instead lists only deployments it may use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelmart.arrays import Array, Batch
from modelmart.errors import DeploymentNotFound, InvalidRequest
from modelmart.serving.placement import Endpoint
from modelmart.serving.router import Router
from modelmart.serving.validation import conform_batch
from modelmart.tenancy import Principal
from modelmart.types import Datatype, Signature, TensorSpec

MAX_ITEMS = 2048
"""Texts per request, as OpenAI allows; more should be split into several requests."""

_SEND = "send a string or a list of strings"

_PYTHON_WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NON_BLANK = f"[^{_PYTHON_WHITESPACE}]"
"""A regular expression that finds a character ``str.strip()`` keeps: a text is blank
without one (JSON Schema's ``\\S`` knows other whitespace than Python)."""

TEXTS_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": NON_BLANK},
        {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_ITEMS,
            "items": {"type": "string", "pattern": NON_BLANK},
        },
    ]
}
"""What :func:`read_texts` takes, as a field's JSON schema (``json_schema_extra``): the field
itself accepts any list, so that :func:`read_texts` can say what is wrong more clearly."""


def read_texts(value: str | list[Any], param: str = "input") -> list[str]:
    """The texts of a ``str | list[str]`` field, one per item; none may be blank.

    Errors carry ``details["param"]``, the field they are about.
    """
    items = [value] if isinstance(value, str) else value
    where = {"param": param}
    if not items:
        raise InvalidRequest(f"{param!r} is an empty list; {_SEND}", details=where)
    if len(items) > MAX_ITEMS:
        raise InvalidRequest(
            f"{param!r} has {len(items)} items; at most {MAX_ITEMS} fit in one request, "
            "split the rest into further requests",
            details=where,
        )
    if any(_is_tokens(item) for item in items):
        raise InvalidRequest(
            f"{param!r} holds token arrays; this server takes text only: {_SEND}", details=where
        )
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidRequest(
                f"{param!r} item {index} is {type(item).__name__}; {_SEND}", details=where
            )
        if not item.strip():
            what = param if isinstance(value, str) else f"{param} item {index}"
            raise InvalidRequest(f"{what!r} is blank; every text needs some content", details=where)
    return items


def _is_tokens(item: Any) -> bool:
    if isinstance(item, list):
        return all(isinstance(token, int) for token in item)
    return isinstance(item, int) and not isinstance(item, bool)


def text_input(signature: Signature) -> TensorSpec | None:
    """The model's input when it takes one text per instance, else ``None``."""
    if len(signature.inputs) != 1:
        return None
    spec = signature.inputs[0]
    return spec if spec.datatype is Datatype.BYTES and len(spec.shape) == 1 else None


def text_usage(texts: list[str], outputs: Batch) -> dict[str, int]:
    """Items and characters sent, and tokens when the model reports them (output ``tokens``)."""
    usage = {"items": len(texts), "characters": sum(len(text) for text in texts)}
    if "tokens" in outputs:
        usage["tokens"] = int(np.sum(outputs["tokens"]))
    return usage


def as_text(value: Any) -> str:
    """One element of a ``BYTES`` output as ``str`` (workers may hand back ``bytes``)."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def describe(specs: tuple[TensorSpec, ...]) -> str:
    """Tensors as a message shows them: ``text (BYTES [-1]), ...``."""
    return ", ".join(f"{spec.name} ({spec.datatype} {list(spec.shape)})" for spec in specs)


def model_endpoint(router: Router, principal: Principal, name: str) -> Endpoint:
    """The deployment a request's ``model`` field names, as ``principal`` may use it; the
    router's one 404 otherwise, naming the field at fault."""
    try:
        return router.endpoint(principal, name)
    except DeploymentNotFound as missing:
        raise DeploymentNotFound(
            missing.message, details={**missing.details, "param": "model"}
        ) from None


def fitting(router: Router, principal: Principal, fits: Callable[[Signature], bool]) -> list[str]:
    """The deployments ``principal`` may use whose signature ``fits`` a task, by name."""
    return sorted(name for name, e in router.visible(principal).items() if fits(e.signature))


@dataclass(frozen=True)
class TextModelKind:
    """The deployments that can do one text task: one text input, at least ``outputs``.

    ``task`` names the task in messages; ``examples`` are catalogue models of this kind,
    suggested when a request names a model that does not fit.
    """

    task: str
    outputs: tuple[str, ...]
    examples: tuple[str, ...]

    def fits(self, signature: Signature) -> bool:
        returned = {spec.name for spec in signature.outputs}
        return text_input(signature) is not None and returned.issuperset(self.outputs)

    def endpoint(self, router: Router, principal: Principal, name: str) -> Endpoint:
        """The deployment ``name`` as ``principal`` may use it: 404 when there is none, 400
        when it cannot do this task."""
        endpoint = model_endpoint(router, principal, name)
        if not self.fits(endpoint.signature):
            raise self._cannot_do(name, endpoint.signature, fitting(router, principal, self.fits))
        return endpoint

    def batch(self, signature: Signature, texts: list[str]) -> Batch:
        """The model's one input holding ``texts``; call only when :meth:`fits`."""
        spec = text_input(signature)
        assert spec is not None, "batch() needs a signature that fits"
        column: Array = np.array(texts, dtype=object)
        return conform_batch(signature, {spec.name: column})

    def _cannot_do(self, name: str, signature: Signature, fit: list[str]) -> InvalidRequest:
        return InvalidRequest(
            f"model {name!r} cannot do {self.task}: it takes {describe(signature.inputs)} "
            f"and returns {describe(signature.outputs)}. For {self.task}, deploy a model with "
            f"one text input (BYTES [-1]) returning {list(self.outputs)}, such as "
            f"{' or '.join(self.examples)}; deployed models that fit: {fit or 'none'}",
            details={"param": "model", "fitting": fit},
        )
