"""Request and response shapes of the deployment API."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from modelmart.schemas.pii import POLICY_FIELD_DOC


class Isolation(StrEnum):
    PROCESS = "process"  # a worker process per instance: crashes and hangs are contained
    THREAD = "thread"  # in the server process: no isolation, for trusted models and tests


DeploymentState = Literal["loading", "ready", "failed"]

_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$"
MAX_VERSION = 2**53 - 1
"""The largest version number: the largest integer every JSON reader keeps exact (and far
within what a database row holds)."""


_NOT_NULL: dict[str, Any] = {"not": {"type": "null"}}
_BOTH_TARGETS: dict[str, Any] = {
    "required": ["version", "alias"],
    "properties": {"version": _NOT_NULL, "alias": _NOT_NULL},
}
"""A body that sets both ``version`` and ``alias``, which the models below refuse."""

DEFAULT_TARGET_ONGOING = 2.0
"""Queued or running requests per instance that autoscaling aims for by default."""


MAX_QUEUED_REQUESTS = 100_000
MAX_CPUS = 1024
QUEUE_FIELD_DOC = (
    "requests this deployment's queue holds before refusing more with 503 and a Retry-After; "
    "default: the server's MODELMART_MAX_QUEUED_REQUESTS"
)
CPUS_FIELD_DOC = (
    "the CPU ids (as the operating system numbers them, from 0) its instances' processes run "
    "on, so a busy deployment cannot take the cores another one answers on; empty: any CPU. "
    "Needs isolation 'process' and Linux"
)


CpuId = Annotated[int, Field(ge=0, lt=MAX_CPUS)]


def distinct_cpus(cpus: list[int]) -> list[int]:
    """``cpus`` sorted; a repeated one is refused."""
    if len(set(cpus)) != len(cpus):
        raise ValueError("each CPU id may appear once")
    return sorted(cpus)


CpuList = Annotated[list[CpuId], AfterValidator(distinct_cpus)]


def cpu_list(cpus: Collection[int]) -> str:
    """``[0, 1, 2, 5]`` as ``0-2,5``, the way Linux writes CPU lists."""
    ordered = sorted(cpus)
    runs: list[list[int]] = []
    for cpu in ordered:
        if runs and cpu == runs[-1][-1] + 1:
            runs[-1].append(cpu)
        else:
            runs.append([cpu])
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def parse_cpu_list(text: str) -> set[int]:
    """``0-2,5`` as ``{0, 1, 2, 5}``; a malformed list raises ``ValueError``."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        low, high = int(first), int(last or first)
        if low < 0 or high < low:
            raise ValueError(f"{part!r} is not a CPU range")
        cpus.update(range(low, high + 1))
    return cpus


def _check_bounds(low: int | None, high: int | None) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"min_instances ({low}) must not exceed max_instances ({high})")


class _Tuning(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instances: int = Field(default=1, ge=1, le=64)
    max_batch_size: int = Field(default=32, ge=1, le=4096)
    max_delay_ms: float = Field(default=5.0, ge=0, le=10_000)
    timeout_s: float | None = Field(default=None, gt=0, le=3600)
    isolation: Isolation = Isolation.PROCESS
    min_instances: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="autoscaling's floor; 0 scales to zero after the server's idle time",
    )
    max_instances: int | None = Field(default=None, ge=1, le=64, description="autoscaling's cap")
    target_ongoing_requests: float | None = Field(
        default=None,
        gt=0,
        le=4096,
        description="queued or running requests per instance autoscaling aims for "
        f"(default {DEFAULT_TARGET_ONGOING:g})",
    )

    @model_validator(mode="after")
    def _bounds_in_order(self) -> _Tuning:
        _check_bounds(self.min_instances, self.max_instances)
        return self

    pii_policy: str | None = Field(default=None, json_schema_extra=POLICY_FIELD_DOC)
    max_queued_requests: int | None = Field(
        default=None, ge=1, le=MAX_QUEUED_REQUESTS, description=QUEUE_FIELD_DOC
    )
    cpus: CpuList | None = Field(
        default=None,
        max_length=MAX_CPUS,
        json_schema_extra={"uniqueItems": True},
        description=CPUS_FIELD_DOC,
    )


class DeploymentRequest(_Tuning):
    """Serve ``model`` at a pinned ``version`` or following an ``alias`` (never both); with
    neither, the latest version is pinned."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"not": _BOTH_TARGETS})

    model: str = Field(
        min_length=1,
        max_length=200,
        description="a model you may use: its name, or 'org:name' for another organisation's",
    )
    name: str | None = Field(default=None, pattern=_NAME_PATTERN)
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    alias: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_target(self) -> DeploymentRequest:
        if self.version is not None and self.alias is not None:
            raise ValueError("give either version or alias, not both")
        return self


class DeploymentUpdate(BaseModel):
    """Fields to change; omitted ones keep their value. Setting ``version`` drops the alias
    and the other way round."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"not": _BOTH_TARGETS})

    instances: int | None = Field(default=None, ge=1, le=64)
    max_batch_size: int | None = Field(default=None, ge=1, le=4096)
    max_delay_ms: float | None = Field(default=None, ge=0, le=10_000)
    timeout_s: float | None = Field(default=None, gt=0, le=3600)
    isolation: Isolation | None = None
    pii_policy: str | None = Field(default=None, json_schema_extra=POLICY_FIELD_DOC)
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    alias: str | None = Field(default=None, min_length=1, max_length=64)
    min_instances: int | None = Field(default=None, ge=0, le=64)
    max_instances: int | None = Field(default=None, ge=1, le=64)
    target_ongoing_requests: float | None = Field(default=None, gt=0, le=4096)
    max_queued_requests: int | None = Field(
        default=None,
        ge=1,
        le=MAX_QUEUED_REQUESTS,
        description=f"{QUEUE_FIELD_DOC}; null goes back to that default",
    )
    cpus: CpuList | None = Field(
        default=None,
        max_length=MAX_CPUS,
        json_schema_extra={"uniqueItems": True},
        description=f"{CPUS_FIELD_DOC}; [] lets it run anywhere again",
    )

    @model_validator(mode="after")
    def _one_target(self) -> DeploymentUpdate:
        if self.version is not None and self.alias is not None:
            raise ValueError("give either version or alias, not both")
        _check_bounds(self.min_instances, self.max_instances)
        return self


class DeploymentView(BaseModel):
    name: str
    model: str
    version: int | None
    alias: str | None
    served_version: int | None
    instances: int
    ready_instances: int
    max_batch_size: int
    max_delay_ms: float
    timeout_s: float
    isolation: Isolation
    state: DeploymentState
    error: dict[str, object] | None
    queue_depth: int
    # Autoscaling: on when both bounds are set; desired_instances is what this server's
    # autoscaler asks for now (``instances`` when it is off), ready_instances what serves.
    min_instances: int | None = None
    max_instances: int | None = None
    target_ongoing_requests: float = DEFAULT_TARGET_ONGOING
    desired_instances: int = 0
    pii_policy: str | None = None
    # The queue's limit in force (its own, else the server's) and the CPUs it is pinned to.
    max_queued_requests: int = 0
    cpus: list[int] = Field(default_factory=list)
