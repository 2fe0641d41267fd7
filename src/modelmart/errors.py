"""The one error hierarchy. Every error carries its HTTP status and a stable code.

::

    ModelMartError                       500 internal_error
    ├── InvalidRequest                   400 invalid_request
    │   ├── ValidationFailed             422 validation_failed
    │   ├── IdempotencyKeyReused         422 idempotency_key_reused
    │   ├── MethodNotAllowed             405 method_not_allowed
    │   ├── SchemaMismatch               422 schema_mismatch
    │   ├── ContextLengthExceeded        400 context_length_exceeded
    │   ├── UnsupportedFormat            415 unsupported_format
    │   │   └── UnsafeFormat             415 unsafe_format
    │   ├── InvalidDataset               422 invalid_dataset
    │   ├── InvalidAudio                 400 invalid_audio
    │   │   └── AudioTooLong             400 audio_too_long
    │   ├── InvalidImage                 400 invalid_image
    │   │   └── ImageTooLarge            413 image_too_large
    │   └── CpusUnavailable              422 cpus_unavailable
    ├── InvalidArtifact                  422 invalid_artifact
    ├── NotExplainable                   422 not_explainable
    ├── NotFound                         404 not_found
    │   ├── ModelNotFound                404 model_not_found
    │   ├── VersionNotFound              404 version_not_found
    │   ├── DeploymentNotFound           404 deployment_not_found
    │   ├── DatasetNotFound              404 dataset_not_found
    │   ├── JobNotFound                  404 job_not_found
    │   └── ReportNotFound               404 report_not_found
    ├── AlreadyExists                    409 already_exists
    ├── PayloadTooLarge                  413 payload_too_large
    ├── NotReady                         503 not_ready
    │   └── ServerUnreachable            503 server_unreachable (raised by the SDK only)
    ├── RetryLater                       503 retry_later (Retry-After)
    │   ├── RateLimited                  429 rate_limited
    │   ├── Overloaded                   503 overloaded
    │   └── InstanceLost                 503 instance_lost
    ├── ClientDisconnected               499 client_closed_request
    ├── InferenceError                   500 model_error
    │   ├── BadModelOutput               500 bad_model_output
    │   ├── WorkerCrashed                502 worker_crashed
    │   └── InferenceTimeout             504 inference_timeout
    ├── ArtifactCorrupted                500 artifact_corrupted
    └── TrainingCancelled                409 training_cancelled

The gateway turns any of them into ``{"error": {"code", "message", "details"}}``; the SDK
reads that body back and raises the same class.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ModelMartError(Exception):
    """Base of every error ModelMart raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body shared by every route."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries (a challenge, when to retry)."""
        return {}


class InvalidRequest(ModelMartError):
    status = 400
    code = "invalid_request"


class ValidationFailed(InvalidRequest):
    """The body or parameters do not match the API's own shape."""

    status = 422
    code = "validation_failed"


class IdempotencyKeyReused(InvalidRequest):
    """An ``Idempotency-Key`` already used for a different request (another body, route,
    method or API key): a retry must repeat its request exactly."""

    status = 422
    code = "idempotency_key_reused"


class MethodNotAllowed(InvalidRequest):
    status = 405
    code = "method_not_allowed"


class SchemaMismatch(InvalidRequest):
    """The inputs do not match the model's signature (or a signature the artifact's)."""

    status = 422
    code = "schema_mismatch"


class ContextLengthExceeded(InvalidRequest):
    """A prompt (with the tokens asked for) does not fit the model's context window."""

    code = "context_length_exceeded"


class UnsupportedFormat(InvalidRequest):
    status = 415
    code = "unsupported_format"


class UnsafeFormat(UnsupportedFormat):
    code = "unsafe_format"


class InvalidDataset(InvalidRequest):
    """An uploaded dataset breaks a rule; the message names the row, column or file."""

    status = 422
    code = "invalid_dataset"


class InvalidAudio(InvalidRequest):
    """An audio input is empty or in a format that cannot be decoded."""

    code = "invalid_audio"


class AudioTooLong(InvalidAudio):
    """An audio input lasts longer than the model's ``max_audio_seconds``."""

    code = "audio_too_long"


class InvalidImage(InvalidRequest):
    """An image input is empty, corrupt or in a format that cannot be decoded."""

    code = "invalid_image"


class ImageTooLarge(InvalidImage):
    """An image input has more pixels than the server decodes."""

    status = 413
    code = "image_too_large"


class InvalidPiiPolicy(InvalidRequest):
    """A PII policy that does not exist; the message lists those that do."""

    status = 422
    code = "invalid_pii_policy"


class CpusUnavailable(InvalidRequest):
    """A deployment's ``cpus`` name CPUs its processes cannot run on here (absent, outside the
    server's cgroup, or an operating system without CPU affinity)."""

    status = 422
    code = "cpus_unavailable"


class InvalidArtifact(ModelMartError):
    status = 422
    code = "invalid_artifact"


class NotExplainable(ModelMartError):
    """The model cannot be explained (its kind has no explanation method, or it was uploaded
    without what its method needs); the message says why and what would make it explainable."""

    status = 422
    code = "not_explainable"


class NotFound(ModelMartError):
    status = 404
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class VersionNotFound(NotFound):
    code = "version_not_found"


class DeploymentNotFound(NotFound):
    code = "deployment_not_found"


class DatasetNotFound(NotFound):
    code = "dataset_not_found"


class JobNotFound(NotFound):
    code = "job_not_found"


class ReportNotFound(NotFound):
    """The model version was not trained by ModelMart, so it has no evaluation report."""

    code = "report_not_found"


class AlreadyExists(ModelMartError):
    status = 409
    code = "already_exists"


class PayloadTooLarge(ModelMartError):
    status = 413
    code = "payload_too_large"


class Unauthenticated(ModelMartError):
    """No API key, or one that is unknown, malformed, expired or revoked."""

    status = 401
    code = "unauthenticated"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(ModelMartError):
    """The key is valid but its role or scope does not cover this operation."""

    status = 403
    code = "forbidden"


class QuotaExceeded(ModelMartError):
    """A monthly quota or spend budget is used up; the message says which, and when it resets."""

    status = 402
    code = "quota_exceeded"


class RetryLater(ModelMartError):
    """The request may be sent again: ``Retry-After`` says when. It was not started, unless a
    subclass says otherwise (:class:`InstanceLost`).

    Subclasses name why and set ``default_retry_after_s``, the wait when the caller knows
    none better."""

    status = 503
    code = "retry_later"
    default_retry_after_s = 1

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        # The SDK rebuilds the error from the body, where the wait is one of the details.
        wait = retry_after_s if retry_after_s is not None else (details or {}).get("retry_after_s")
        fallback = self.default_retry_after_s
        self.retry_after_s = int(wait) if isinstance(wait, int | float | str) else fallback
        shown = {"retry_after_s": retry_after_s} if retry_after_s is not None else {}
        super().__init__(message, details={**(details or {}), **shown})

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class RateLimited(RetryLater):
    """Too many requests or units per minute; ``Retry-After`` says when to try again."""

    status = 429
    code = "rate_limited"
    default_retry_after_s = 60


class NotReady(ModelMartError):
    status = 503
    code = "not_ready"


class Overloaded(RetryLater):
    """A deployment's queue is full (admission control): the request was not started.
    ``Retry-After`` says when to try again; nothing was billed."""

    status = 503
    code = "overloaded"


class InstanceLost(RetryLater):
    """The model instance running the request went away (its cluster node died, or it was
    stopped by another server): unlike the other waits, the request may or may not have run;
    nothing was billed, and the instance is being restarted elsewhere. ``Retry-After`` says
    when to try again."""

    status = 503
    code = "instance_lost"


class ClientDisconnected(ModelMartError):
    """The client closed its connection while its request waited in a deployment's queue:
    the request was dropped before reaching the model (nothing was billed). Nobody reads
    this answer; it names what happened in the access log."""

    status = 499
    code = "client_closed_request"


class ServerUnreachable(NotReady):
    """The SDK got no HTTP answer at all: the server is down or the URL is wrong."""

    code = "server_unreachable"


class InferenceError(ModelMartError):
    status = 500
    code = "model_error"


class BadModelOutput(InferenceError):
    code = "bad_model_output"


class WorkerCrashed(InferenceError):
    status = 502
    code = "worker_crashed"


class InferenceTimeout(InferenceError):
    status = 504
    code = "inference_timeout"


class ArtifactCorrupted(ModelMartError):
    status = 500
    code = "artifact_corrupted"


class TrainingCancelled(ModelMartError):
    """A training job stopped because it was cancelled; nothing was registered."""

    status = 409
    code = "training_cancelled"


def all_error_classes() -> list[type[ModelMartError]]:
    """Every class in the tree, base first; the SDK maps codes back with it. Subclasses made
    elsewhere are left out: Ray, for one, wraps a raised error in a class of its own derived
    from the error's, with the same code."""
    found: list[type[ModelMartError]] = []
    pending: list[type[ModelMartError]] = [ModelMartError]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(sub for sub in cls.__subclasses__() if sub.__module__ == __name__)
    return found


def error_class_for(code: str) -> type[ModelMartError]:
    """The class whose stable code is ``code``; the base class for unknown codes."""
    for cls in all_error_classes():
        if cls.code == code:
            return cls
    return ModelMartError
