"""Where model instances run and how requests reach them — one interface, several backends.

The gateway and the deployment manager only see :class:`Placement` and :class:`Endpoint`. The
embedded default (:mod:`modelmart.serving.local`) runs instances on this machine; a cluster
backend implements the same two classes without touching the gateway or the runtimes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from modelmart.arrays import Batch
from modelmart.errors import InvalidRequest
from modelmart.runtimes.base import LoadRequest
from modelmart.runtimes.generation import EngineStats, GenerationEvent, GenerationRequest
from modelmart.schemas.deployments import Isolation
from modelmart.serving.batcher import ClientGone
from modelmart.types import RuntimeName, Signature


@dataclass(frozen=True)
class ServedVersion:
    """The model version an endpoint serves, with what its runtime needs to load it."""

    model: str
    version: int
    runtime: RuntimeName
    load: LoadRequest


@dataclass(frozen=True)
class EndpointSpec:
    """Everything that decides how one deployment is served; applied whole on every change."""

    name: str
    target: ServedVersion
    instances: int = 1
    max_batch_size: int = 32
    max_delay_ms: float = 5.0
    timeout_s: float = 30.0
    isolation: Isolation = Isolation.PROCESS
    start_timeout_s: float = 300.0
    max_queued: int | None = None  # the queue's own limit; None: the placement's default
    cpus: tuple[int, ...] = ()  # the CPUs its instances' processes are pinned to; (): any


@dataclass(frozen=True)
class Prediction:
    """A request's outputs, the version that made them and its share of the energy the
    batch used, in microjoules."""

    outputs: Batch
    model: str
    version: int
    energy_uj: int = 0


@dataclass(frozen=True)
class EndpointStatus:
    ready_instances: int
    starting_instances: int
    version: int
    queue_depth: int
    queue_limit: int = 0  # requests the batch queue holds before refusing; 0: unbounded
    rejected: int = 0  # refused because the queue was full (since start)
    dropped: int = 0  # dropped while queued: waited too long or the client left (since start)
    running: int = 0  # requests an instance is running now (for autoscaling's load)
    energy_uj: int = 0  # energy its models used (since start), in microjoules


BatchObserver = Callable[[str, int, float], None]
"""Called after every batch with (endpoint name, batch size, seconds in ``predict``)."""


class Endpoint(ABC):
    """A served deployment. ``generative`` endpoints also stream text with ``generate``."""

    spec: EndpointSpec
    signature: Signature
    generative: bool = False

    @abstractmethod
    async def predict(self, inputs: Batch, gone: ClientGone | None = None) -> Prediction:
        """Run ``inputs`` (validated against ``signature``) through the model. ``gone`` says
        whether the caller left: a request still queued when it did is dropped unanswered."""

    def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        """Stream the model's answer to ``request``: text deltas, then one
        :class:`~modelmart.runtimes.generation.GenerationDone`. Leaving the iteration early
        stops the generation. Endpoints that are not ``generative`` refuse."""
        raise not_generative(self.spec.name)

    def admit(self) -> None:
        """Raise :class:`~modelmart.errors.Overloaded` when a request would be refused now
        (its queue is full), so a route can refuse before reading and parsing the body. Only a
        shortcut: ``predict`` checks again. By default every request may try."""
        return  # an endpoint without a bounded queue refuses nothing up front

    @abstractmethod
    async def apply(self, spec: EndpointSpec) -> None:
        """Move to ``spec`` while serving: scale, retune batching or swap the version. New
        instances load before old ones retire; in-flight and queued requests are kept."""

    @abstractmethod
    def status(self) -> EndpointStatus: ...

    def generation_stats(self) -> EngineStats:
        """Sequences running and waiting and KV-cache use of a generative endpoint."""
        return EngineStats()

    def on_cold_demand(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` when a request arrives while the endpoint has scaled to zero, so the
        autoscaler starts an instance at once. By default never: the autoscaler then sees the
        queued request at its next tick."""
        del wake  # an endpoint that cannot scale to zero never calls it

    @abstractmethod
    async def close(self) -> None:
        """Finish what is in flight, then stop every instance."""


def not_generative(name: str) -> InvalidRequest:
    return InvalidRequest(
        f"deployment {name!r} serves a model that does not generate text; chat completions "
        "need a chat model, such as the catalogue's smollm2-135m-instruct",
        details={"param": "model"},
    )


class Placement(ABC):
    """Starts endpoints."""

    @abstractmethod
    async def start(self, spec: EndpointSpec) -> Endpoint:
        """Load every instance of ``spec``; raise the load error if the model cannot load."""

    def detach(self) -> None:
        """The server is shutting down; a placement whose instances other servers share
        leaves them running (called before its endpoints are closed)."""
        return  # by default instances end with the server that started them
