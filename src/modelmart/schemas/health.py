"""What ``/healthz`` and ``/readyz`` answer.

Fields a newer server adds are ignored, not rejected: an older SDK must keep working against
it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Health(_Answer):
    """The answer of ``/healthz``: the server process is up."""

    status: str


class Readiness(_Answer):
    """The answer of ``/readyz``. ``ready`` is false while any deployment is still loading;
    ``deployments`` maps each deployment name to its state."""

    ready: bool
    status: str
    deployments: dict[str, str] = Field(default_factory=dict)
