"""Train, then deploy, one model through the SDK; the explanation tests share them."""

from __future__ import annotations

from typing import Any

from modelmart.client import Client
from modelmart.schemas.jobs import JobState
from tests.integration.servers import LiveServer


def train_and_deploy(server: LiveServer, dataset: str, model: str, **options: Any) -> int:
    """The version trained on ``dataset`` as ``model``, deployed under the model's name."""
    with Client(server.url, timeout=300) as mm:
        job = mm.wait_for_job(mm.train(dataset, "classification", model=model, **options).id)
        assert job.state is JobState.SUCCEEDED, job.failure_reason
        assert job.model_version is not None
        mm.deploy(model, version=job.model_version)
        return job.model_version
