"""Request ids, one structured JSON log line per request, and Prometheus metrics."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelmart.config import Settings
from modelmart.serving.placement import Endpoint

logger = logging.getLogger("modelmart.access")

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields passed in ``extra={"fields": {...}}`` are merged."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(settings: Settings) -> None:
    """Send every log line to stderr, as JSON unless ``json_logs`` is off."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.json_logs:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())


class Metrics:
    """The server's metrics, in a registry of its own (no process-wide globals)."""

    def __init__(self, endpoints: Callable[[], dict[str, Endpoint]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelmart_requests",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelmart_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "modelmart_batch_size",
            "Requests rows per predict call",
            ["deployment"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_latency = Histogram(
            "modelmart_batch_duration_seconds",
            "Time in the model per batch",
            ["deployment"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_EndpointCollector(endpoints))

    def observe_batch(self, deployment: str, size: int, seconds: float) -> None:
        self.batch_size.labels(deployment).observe(size)
        self.batch_latency.labels(deployment).observe(seconds)

    def exposition(self, deployments: Collection[str] | None = None) -> bytes:
        """Prometheus text of every series, or (``deployments`` given) only the series of
        those deployments: what a tenant may see of the server."""
        if deployments is None:
            return bytes(generate_latest(self.registry))
        return bytes(generate_latest(_DeploymentSeries(self.registry, deployments)))


class _DeploymentSeries(Collector):
    """The series of ``registry`` labelled with one of ``deployments``; no server-wide ones."""

    def __init__(self, registry: CollectorRegistry, deployments: Collection[str]) -> None:
        self._registry = registry
        self._deployments = frozenset(deployments)

    def collect(self) -> Iterable[Metric]:
        for family in self._registry.collect():
            samples = [s for s in family.samples if s.labels.get("deployment") in self._deployments]
            if samples:
                kept = Metric(family.name, family.documentation, family.type, family.unit)
                kept.samples = samples
                yield kept


class _EndpointCollector(Collector):
    """Queue depth and ready instances, read from the endpoints at scrape time."""

    def __init__(self, endpoints: Callable[[], dict[str, Endpoint]]) -> None:
        self._endpoints = endpoints

    def collect(self) -> Iterable[Metric]:
        labels = ["deployment"]
        depth = GaugeMetricFamily(
            "modelmart_queue_depth", "Requests waiting for a batch", labels=labels
        )
        limit = GaugeMetricFamily(
            "modelmart_queue_limit", "Requests the queue holds before refusing", labels=labels
        )
        rejected = CounterMetricFamily(
            "modelmart_rejected_requests", "Requests refused: the queue was full", labels=labels
        )
        dropped = CounterMetricFamily(
            "modelmart_dropped_requests",
            "Queued requests dropped before the model: waited too long or the client left",
            labels=labels,
        )
        ready = GaugeMetricFamily(
            "modelmart_ready_instances", "Loaded instances serving", labels=labels
        )
        for name, endpoint in self._endpoints().items():
            status = endpoint.status()
            depth.add_metric([name], status.queue_depth)
            limit.add_metric([name], status.queue_limit)
            rejected.add_metric([name], status.rejected)
            dropped.add_metric([name], status.dropped)
            ready.add_metric([name], status.ready_instances)
        yield from (depth, limit, rejected, dropped, ready)


class RequestObserver:
    """ASGI middleware: a request id on every response, an access log line and metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        # The services (and their metrics) are built at start-up, after the middleware.
        metrics: Metrics = scope["app"].state.services.metrics
        metrics.requests.labels(route, scope["method"], str(status)).inc()
        metrics.latency.labels(route).observe(seconds)
        logger.info(
            "request",
            extra={
                "fields": {
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                }
            },
        )


def _incoming_request_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"x-request-id" and 0 < len(value) <= 128:
            return str(value.decode("latin-1"))
    return None
